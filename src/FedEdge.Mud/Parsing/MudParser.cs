using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FedEdge.Mud;

/// <summary>
/// Parses and validates RFC 8520 MUD files (with the RFC 8519 ACL model, <c>ietf-acldns</c> and the MUD
/// match extensions). Never throws on bad input: every defect is a <see cref="MudDiagnostic"/>.
/// </summary>
public static partial class MudParser
{
    internal const string RuleMud = "RFC 8520 s2.1 (ietf-mud YANG)";
    internal const string RuleAcl = "RFC 8519 s4.1 (ietf-access-control-list YANG)";
    internal const string RuleJson = "RFC 7951 (JSON encoding of YANG data)";
    internal const string RuleExtensions = "RFC 8520 s3.9 (extensions)";
    internal const string RuleMatches = "RFC 8520 s8 (MUD match extensions)";
    internal const string RuleAclDns = "RFC 8520 s8.1 (ietf-acldns)";
    internal const string RuleYangString = "RFC 7950 s9.4 (YANG string: XML characters only)";
    internal const string RuleUri = "RFC 3986 s3 (URI syntax; inet:uri)";

    /// <summary>Parses and validates UTF-8 bytes.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Overloads differ in the input type (UTF-8 bytes or string), so no call is ambiguous.")]
    public static MudParseResult Parse(ReadOnlySpan<byte> utf8, MudParserOptions? options = null)
    {
        options ??= MudParserOptions.Strict;
        options.Validate();
        var ctx = new Context(options);
        MudFile? file = ParseCore(utf8, ctx);
        return new MudParseResult { File = file, Diagnostics = ctx.Diagnostics, Mode = options.Mode };
    }

    /// <summary>Parses and validates a string.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Overloads differ in the input type (UTF-8 bytes or string), so no call is ambiguous.")]
    public static MudParseResult Parse(string json, MudParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Parse(System.Text.Encoding.UTF8.GetBytes(json), options);
    }

    /// <summary>Parses and validates, throwing <see cref="MudValidationException"/> when the file is not valid.</summary>
    public static MudFile ParseValid(ReadOnlySpan<byte> utf8, MudParserOptions? options = null)
    {
        MudParseResult result = Parse(utf8, options);
        if (!result.IsValid || result.File is null)
        {
            throw new MudValidationException(result.Errors.ToList());
        }

        return result.File;
    }

    private static MudFile? ParseCore(ReadOnlySpan<byte> utf8, Context ctx)
    {
        if (utf8.Length > ctx.Options.MaxBytes)
        {
            ctx.Error(MudDiagnosticCodes.TooLarge, "$", $"Input is {utf8.Length} bytes; the limit is {ctx.Options.MaxBytes}.", "FedEdge input limit");
            return null;
        }

        if (utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF)
        {
            utf8 = utf8[3..];
        }

        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            ctx.Error(MudDiagnosticCodes.InvalidJson, "$", "The input is not valid UTF-8.", "RFC 8259 s8.1 (JSON text is UTF-8)");
            return null;
        }

        if (!CheckSyntax(utf8, ctx))
        {
            return null;
        }

        using JsonDocument doc = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = ctx.Options.MaxDepth + 2 });
        try
        {
            return ParseRoot(doc.RootElement, ctx);
        }
        catch (AceLimitException)
        {
            return null;
        }
    }

    private static bool CheckSyntax(ReadOnlySpan<byte> utf8, Context ctx)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = ctx.Options.MaxDepth + 2, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            var frames = new Stack<(HashSet<string>? Members, string Path)>();
            string current = "$";
            bool ok = true;
            while (reader.Read())
            {
                if (reader.CurrentDepth > ctx.Options.MaxDepth)
                {
                    ctx.Error(MudDiagnosticCodes.TooDeep, "$", $"JSON nests deeper than {ctx.Options.MaxDepth} levels.", "FedEdge input limit");
                    return false;
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        frames.Push((new HashSet<string>(StringComparer.Ordinal), current));
                        break;
                    case JsonTokenType.StartArray:
                        frames.Push((null, current + "[*]"));
                        current += "[*]";
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        current = frames.Pop().Path;
                        current = frames.Count > 0 && frames.Peek().Members is null ? frames.Peek().Path : current;
                        break;
                    case JsonTokenType.PropertyName:
                        string name = reader.GetString()!;
                        (HashSet<string>? members, string objectPath) = frames.Peek();
                        current = $"{objectPath}['{Printable(name)}']";
                        if (!members!.Add(name))
                        {
                            ctx.Error(MudDiagnosticCodes.DuplicateMember, current, $"Member '{Printable(name)}' appears more than once in one object; its value is ambiguous.", "RFC 7951 s4 / RFC 7950 s7.6 (a leaf or container occurs once)");
                            ok = false;
                        }

                        if (HasControl(name, allowWhitespace: false))
                        {
                            ctx.Error(MudDiagnosticCodes.ControlCharacter, current, "A member name contains a control character.", RuleYangString);
                            ok = false;
                        }

                        break;
                    case JsonTokenType.String:
                        if (HasControl(reader.GetString()!, allowWhitespace: true))
                        {
                            ctx.Error(MudDiagnosticCodes.ControlCharacter, current, "A string contains a control character other than tab, line feed or carriage return.", RuleYangString);
                            ok = false;
                        }

                        break;
                }
            }

            return ok;
        }
        catch (JsonException ex)
        {
            bool depth = ex.Message.Contains("depth", StringComparison.OrdinalIgnoreCase);
            ctx.Error(
                depth ? MudDiagnosticCodes.TooDeep : MudDiagnosticCodes.InvalidJson,
                "$",
                depth ? $"JSON nests deeper than {ctx.Options.MaxDepth} levels." : $"Not valid JSON (line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}): {ex.Message}",
                depth ? "FedEdge input limit" : "RFC 8259 / RFC 7951");
            return false;
        }
    }

    private static MudFile? ParseRoot(JsonElement root, Context ctx)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.RootNotObject, "$", $"The top-level value is {root.ValueKind}, not an object.", RuleJson);
            return null;
        }

        JsonElement? mud = null;
        JsonElement? acls = null;
        string mudPath = "$['ietf-mud:mud']";
        string aclsPath = "$['ietf-access-control-list:acls']";
        var otherRoots = new List<JsonProperty>();
        foreach (JsonProperty p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "ietf-mud:mud":
                    mud = p.Value;
                    break;
                case "ietf-access-control-list:acls":
                    acls = p.Value;
                    break;
                case "ietf-access-control-list:access-lists":
                    ctx.Shape(MudDiagnosticCodes.LegacyAclContainer, "$['ietf-access-control-list:access-lists']", "ACL root is the pre-RFC 8519 'ietf-access-control-list:access-lists'; RFC 8519 names it 'ietf-access-control-list:acls'.", RuleAcl);
                    if (acls is null)
                    {
                        acls = p.Value;
                        aclsPath = "$['ietf-access-control-list:access-lists']";
                    }

                    break;
                case "ietf-mud:support-information":
                case "ietf-mud:meta-info":
                    ctx.Shape(MudDiagnosticCodes.LegacyMudContainer, $"$['{p.Name}']", $"Draft-era MUD root '{p.Name}'; RFC 8520 requires 'ietf-mud:mud'.", RuleMud);
                    if (mud is null)
                    {
                        mud = p.Value;
                        mudPath = $"$['{p.Name}']";
                    }

                    break;
                default:
                    otherRoots.Add(p);
                    break;
            }
        }

        if (mud is null)
        {
            ctx.Error(MudDiagnosticCodes.MudContainerMissing, "$", "No 'ietf-mud:mud' container.", RuleMud);
        }
        else if (mudPath != "$['ietf-mud:mud']")
        {
            ctx.Shape(MudDiagnosticCodes.MudContainerMissing, "$", "No 'ietf-mud:mud' container (only a draft-era root).", RuleMud);
        }

        if (acls is null)
        {
            ctx.Error(MudDiagnosticCodes.AclContainerMissing, "$", "No 'ietf-access-control-list:acls' container.", RuleAcl);
        }

        if (mud is null && acls is null)
        {
            return null;
        }

        var builder = new Builder();
        if (mud is { } m)
        {
            ParseMud(m, mudPath, builder, ctx);
        }

        foreach (JsonProperty p in otherRoots)
        {
            CheckExtensionMember(p.Name, $"$['{p.Name}']", builder.Extensions, ctx);
        }

        if (acls is { } a)
        {
            ParseAcls(a, aclsPath, builder, ctx);
        }

        MudFile file = builder.Build();
        CrossCheck(file, builder, ctx);
        return file;
    }

    private static void CheckExtensionMember(string name, string path, List<string> extensions, Context ctx)
    {
        int colon = name.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0)
        {
            string prefix = name[..colon];
            string local = name[(colon + 1)..];
            if (extensions.Contains(prefix) || extensions.Contains(local) || extensions.Contains(name))
            {
                return;
            }

            ctx.Error(MudDiagnosticCodes.UndeclaredExtension, path, $"Extension node '{name}' is not declared in 'extensions'.", RuleExtensions);
            return;
        }

        ctx.Shape(MudDiagnosticCodes.UnknownMember, path, $"Unknown member '{name}'.", RuleMud);
    }

    private static readonly HashSet<string> MudLeaves = new(StringComparer.Ordinal)
    {
        "mud-version", "mud-url", "last-update", "mud-signature", "cache-validity", "is-supported", "systeminfo",
        "mfg-name", "model-name", "firmware-rev", "software-rev", "documentation", "extensions",
        "from-device-policy", "to-device-policy",
    };

    private static void ParseMud(JsonElement mud, string path, Builder b, Context ctx)
    {
        if (mud.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "The mud container is not an object.", RuleMud);
            return;
        }

        if (mud.TryGetProperty("extensions", out JsonElement ext))
        {
            if (ext.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement e in ext.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.String)
                    {
                        if (b.Extensions.Contains(e.GetString()!))
                        {
                            ctx.Error(MudDiagnosticCodes.DuplicateName, $"{path}['extensions'][{i}]", $"Extension '{Printable(e.GetString()!)}' is listed twice (leaf-list entries are unique).", "RFC 7950 s7.7 (leaf-list of configuration data: unique values)");
                        }

                        b.Extensions.Add(e.GetString()!);
                    }
                    else
                    {
                        ctx.Error(MudDiagnosticCodes.WrongType, $"{path}['extensions'][{i}]", "An extension name must be a string.", RuleExtensions);
                    }

                    i++;
                }
            }
            else
            {
                ctx.Error(MudDiagnosticCodes.WrongType, $"{path}['extensions']", "'extensions' must be an array of strings.", RuleExtensions);
            }
        }

        bool legacyRoot = !path.EndsWith("['ietf-mud:mud']", StringComparison.Ordinal);
        foreach (JsonProperty p in mud.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            if (MudLeaves.Contains(p.Name))
            {
                ParseMudLeaf(p, pp, b, ctx);
            }
            else if (string.Equals(p.Name, MudFederationExtension.MemberName, StringComparison.Ordinal) && b.Extensions.Contains(MudFederationExtension.ExtensionName))
            {
                b.Federation = ParseFederation(p.Value, pp, ctx);
            }
            else
            {
                CheckExtensionMember(p.Name, pp, b.Extensions, ctx);
            }
        }

        if (!legacyRoot)
        {
            foreach (string required in (string[])["mud-version", "mud-url", "last-update", "is-supported"])
            {
                if (!mud.TryGetProperty(required, out _))
                {
                    ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['{required}']", $"Mandatory leaf '{required}' is missing.", RuleMud);
                }
            }
        }
        else
        {
            ctx.Warn(MudDiagnosticCodes.MissingLeaf, path, "Draft-era root: mandatory leaves (mud-version, mud-url, is-supported) are absent; the file cannot be used for enforcement.", RuleMud);
            ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['mud-url']", "Mandatory leaf 'mud-url' is missing.", RuleMud);
        }

        if (!mud.TryGetProperty("cache-validity", out _))
        {
            ctx.Info(MudDiagnosticCodes.DefaultCacheValidity, $"{path}['cache-validity']", "cache-validity absent: the default of 48 hours applies.", RuleMud);
        }
    }

    private static void ParseMudLeaf(JsonProperty p, string pp, Builder b, Context ctx)
    {
        JsonElement v = p.Value;
        switch (p.Name)
        {
            case "mud-version":
                if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int version))
                {
                    b.MudVersion = version;
                    if (version != 1)
                    {
                        ctx.Error(MudDiagnosticCodes.BadMudVersion, pp, $"mud-version is {version}; RFC 8520 defines version 1.", RuleMud);
                    }
                }
                else
                {
                    ctx.Error(MudDiagnosticCodes.WrongType, pp, "mud-version must be the number 1.", RuleMud);
                }

                break;
            case "mud-url":
                if (v.ValueKind != JsonValueKind.String)
                {
                    ctx.Error(MudDiagnosticCodes.WrongType, pp, "mud-url must be a string.", RuleMud);
                    break;
                }

                b.MudUrl = v.GetString()!;
                if (!IsHttpsUrl(b.MudUrl, out string why))
                {
                    ctx.Error(MudDiagnosticCodes.BadMudUrl, pp, $"mud-url '{Printable(b.MudUrl)}' {why}.", "RFC 8520 s2.1 (mud-url: https scheme MUST)");
                }

                break;
            case "last-update":
                if (v.ValueKind == JsonValueKind.String && TryParseDateAndTime(v.GetString()!, out DateTimeOffset when))
                {
                    b.LastUpdate = when;
                }
                else
                {
                    ctx.Error(MudDiagnosticCodes.BadDateTime, pp, $"last-update {v.GetRawText()} is not a YANG date-and-time with a time-zone offset.", "RFC 6991 (yang:date-and-time)");
                }

                break;
            case "cache-validity":
                if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int hours) && hours is >= 1 and <= 168)
                {
                    b.CacheValidity = hours;
                }
                else
                {
                    ctx.Error(MudDiagnosticCodes.BadCacheValidity, pp, $"cache-validity {v.GetRawText()} is outside 1..168 hours.", "RFC 8520 s2.1 (cache-validity uint8 range 1..168)");
                }

                break;
            case "is-supported":
                if (v.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    b.IsSupported = v.GetBoolean();
                }
                else
                {
                    ctx.Error(MudDiagnosticCodes.WrongType, pp, "is-supported must be a boolean.", RuleMud);
                }

                break;
            case "systeminfo":
                b.SystemInfo = ReadString(v, pp, ctx);
                if (b.SystemInfo is { Length: > 60 })
                {
                    ctx.Warn(MudDiagnosticCodes.LongSystemInfo, pp, $"systeminfo is {b.SystemInfo.Length} characters; it SHOULD fit in 60.", "RFC 8520 s2.1 (systeminfo)");
                }

                break;
            case "mfg-name":
                b.MfgName = ReadString(v, pp, ctx);
                break;
            case "model-name":
                b.ModelName = ReadString(v, pp, ctx);
                break;
            case "firmware-rev":
            case "software-rev":
                ReadString(v, pp, ctx);
                break;
            case "documentation":
                b.Documentation = ReadString(v, pp, ctx);
                if (b.Documentation is not null && !IsUri(b.Documentation))
                {
                    ctx.Error(MudDiagnosticCodes.BadDocumentationUrl, pp, $"documentation '{b.Documentation}' is not an absolute RFC 3986 URI.", "RFC 8520 s2.1 (documentation inet:uri), RFC 3986");
                }

                break;
            case "mud-signature":
                b.MudSignature = ReadString(v, pp, ctx);
                if (b.MudSignature is not null && !IsUri(b.MudSignature))
                {
                    ctx.Error(MudDiagnosticCodes.BadSignatureUrl, pp, $"mud-signature '{b.MudSignature}' is not an absolute RFC 3986 URI.", "RFC 8520 s2.1 (mud-signature inet:uri), RFC 3986");
                }

                break;
            case "extensions":
                break;
            case "from-device-policy":
                ParsePolicy(v, pp, b.From, ctx);
                break;
            case "to-device-policy":
                ParsePolicy(v, pp, b.To, ctx);
                break;
        }
    }

    private static string? ReadString(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind == JsonValueKind.String)
        {
            return v.GetString();
        }

        ctx.Error(MudDiagnosticCodes.WrongType, path, $"Expected a string, found {v.ValueKind}.", RuleJson);
        return null;
    }

    private static void ParsePolicy(JsonElement v, string path, List<string> names, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "A policy must be { \"access-lists\": { \"access-list\": [ { \"name\": ... } ] } }.", RuleMud);
            return;
        }

        CheckMembers(v, path, ["access-lists"], ctx);
        if (!v.TryGetProperty("access-lists", out JsonElement lists))
        {
            return;
        }

        if (lists.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, $"{path}['access-lists']", "'access-lists' must be an object.", RuleMud);
            return;
        }

        CheckMembers(lists, $"{path}['access-lists']", ["access-list"], ctx);
        if (!lists.TryGetProperty("access-list", out JsonElement list))
        {
            return;
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, $"{path}['access-lists']", "'access-list' must be an array.", RuleMud);
            return;
        }

        int i = 0;
        foreach (JsonElement entry in list.EnumerateArray())
        {
            string ep = $"{path}['access-lists']['access-list'][{i++}]";
            if (entry.ValueKind != JsonValueKind.Object)
            {
                ctx.Error(MudDiagnosticCodes.WrongType, ep, "An access-list entry must be an object.", RuleMud);
                continue;
            }

            string? found = null;
            if (entry.TryGetProperty("name", out JsonElement name) && name.ValueKind == JsonValueKind.String)
            {
                found = name.GetString()!;
            }
            else if (entry.TryGetProperty("acl-name", out JsonElement legacy) && legacy.ValueKind == JsonValueKind.String)
            {
                ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{ep}['acl-name']", "Policy uses the draft-era 'acl-name'; RFC 8520 uses 'name'.", RuleMud);
                found = legacy.GetString()!;
            }
            else
            {
                ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{ep}['name']", "An access-list entry needs a 'name'.", RuleMud);
            }

            if (found is not null && CheckName(found, $"{ep}['name']", ctx))
            {
                if (names.Contains(found))
                {
                    ctx.Error(MudDiagnosticCodes.DuplicateName, $"{ep}['name']", $"ACL '{found}' is listed twice in one policy (list key 'name' must be unique).", "RFC 7950 s7.8.2 (list keys are unique)");
                }
                else
                {
                    names.Add(found);
                }
            }

            foreach (JsonProperty p in entry.EnumerateObject())
            {
                if (p.Name == "acl-type")
                {
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{ep}['acl-type']", "Policy uses the draft-era 'acl-type'.", RuleMud);
                }
                else if (p.Name is not ("name" or "acl-name"))
                {
                    ctx.Shape(MudDiagnosticCodes.UnknownMember, $"{ep}['{Printable(p.Name)}']", $"Unknown member '{Printable(p.Name)}' in an access-list entry.", RuleMud);
                }
            }
        }
    }

    /// <summary>Reports every member of <paramref name="obj"/> outside <paramref name="known"/> (an error in strict mode).</summary>
    private static void CheckMembers(JsonElement obj, string path, string[] known, Context ctx)
    {
        foreach (JsonProperty p in obj.EnumerateObject())
        {
            if (Array.IndexOf(known, p.Name) < 0)
            {
                ctx.Shape(MudDiagnosticCodes.UnknownMember, $"{path}['{Printable(p.Name)}']", $"Unknown member '{Printable(p.Name)}'.", RuleAcl);
            }
        }
    }

    /// <summary>An ACL or ACE name: RFC 8519 <c>string {length 1..64}</c>, and no control characters (they would reach firewall comments).</summary>
    private static bool CheckName(string name, string path, Context ctx)
    {
        if (name.Length is 0 or > 64 || HasControl(name, allowWhitespace: false))
        {
            ctx.Error(MudDiagnosticCodes.BadValue, path, $"Name '{Printable(name)}' must be 1 to 64 characters without control characters.", "RFC 8519 s4.1 (acl/ace name: string length 1..64)");
            return false;
        }

        return true;
    }

    private static MudFederationExtension? ParseFederation(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("task", out JsonElement tasks) || tasks.ValueKind != JsonValueKind.Array)
        {
            ctx.Error(MudDiagnosticCodes.BadFederationExtension, path, "Expected { \"task\": [ { \"name\": \"...\", \"model\": [\"...\"] } ] }.", "FedEdge MUD extension");
            return null;
        }

        var map = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        int i = 0;
        foreach (JsonElement t in tasks.EnumerateArray())
        {
            string tp = $"{path}['task'][{i++}]";
            if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("name", out JsonElement n) || n.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(n.GetString()))
            {
                ctx.Error(MudDiagnosticCodes.BadFederationExtension, tp, "A task needs a non-empty string 'name'.", "FedEdge MUD extension");
                continue;
            }

            var models = new List<string>();
            if (t.TryGetProperty("model", out JsonElement ms))
            {
                if (ms.ValueKind != JsonValueKind.Array || ms.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                {
                    ctx.Error(MudDiagnosticCodes.BadFederationExtension, $"{tp}['model']", "'model' must be an array of strings.", "FedEdge MUD extension");
                    continue;
                }

                models.AddRange(ms.EnumerateArray().Select(x => x.GetString()!));
            }

            if (map.ContainsKey(n.GetString()!))
            {
                ctx.Error(MudDiagnosticCodes.DuplicateName, $"{tp}['name']", $"Task '{Printable(n.GetString()!)}' is listed twice (list key 'name' must be unique).", "RFC 7950 s7.8.2 (list keys are unique)");
                continue;
            }

            map[n.GetString()!] = models;
        }

        return new MudFederationExtension { Tasks = map };
    }

    internal static bool IsHttpsUrl(string text, out string why)
    {
        if (!IsUri(text) || !Uri.TryCreate(text, UriKind.Absolute, out Uri? uri))
        {
            why = "is not an absolute RFC 3986 URL";
            return false;
        }

        if (!string.Equals(uri.Scheme, Uri.UriSchemeHttps, StringComparison.Ordinal))
        {
            why = $"uses scheme '{uri.Scheme}', not https";
            return false;
        }

        string host = uri.IdnHost;
        if (!IsHostName(host) && uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            why = $"has host '{uri.Host}', which is not a valid DNS host name";
            return false;
        }

        why = string.Empty;
        return true;
    }

    internal static bool IsHostName(string host)
    {
        if (host.Length is 0 or > 253)
        {
            return false;
        }

        foreach (string label in host.TrimEnd('.').Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (char c in label)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// An absolute URI by the RFC 3986 grammar: scheme ":" then only unreserved, reserved and percent-encoded
    /// characters (no spaces, quotes, backslashes, control or non-ASCII characters), and one the URI parser accepts.
    /// </summary>
    internal static bool IsUri(string text)
        => text.Length is > 0 and <= 2048
           && UriRegex().IsMatch(text)
           && Uri.TryCreate(text, UriKind.Absolute, out _);

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*$", RegexOptions.CultureInvariant, 200)]
    private static partial Regex UriRegex();

    /// <summary>True when <paramref name="text"/> holds a control character (C0, DEL, C1) or a Unicode line or paragraph separator.</summary>
    internal static bool HasControl(string text, bool allowWhitespace)
    {
        foreach (char c in text)
        {
            if ((char.IsControl(c) && !(allowWhitespace && c is '\t' or '\n' or '\r')) || c is '\u2028' or '\u2029')
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Text safe to quote in a diagnostic: control characters shown as \uXXXX, at most 80 characters.</summary>
    internal static string Printable(string text)
    {
        var sb = new System.Text.StringBuilder();
        foreach (char c in text.Length > 80 ? text[..80] : text)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return text.Length > 80 ? sb.Append("...").ToString() : sb.ToString();
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|z|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant, 200)]
    private static partial Regex DateAndTimeRegex();

    internal static bool TryParseDateAndTime(string text, out DateTimeOffset value)
    {
        value = default;
        return text.Length <= 64
               && DateAndTimeRegex().IsMatch(text)
               && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out value);
    }

    private sealed class Builder
    {
        public int MudVersion;
        public string MudUrl = string.Empty;
        public DateTimeOffset? LastUpdate;
        public string? MudSignature;
        public int CacheValidity = 48;
        public bool IsSupported = true;
        public string? SystemInfo;
        public string? MfgName;
        public string? ModelName;
        public string? Documentation;
        public MudFederationExtension? Federation;
        public readonly List<string> Extensions = [];
        public readonly List<string> From = [];
        public readonly List<string> To = [];
        public readonly List<MudAcl> Acls = [];
        public readonly Dictionary<string, MudDirection> LegacyDirections = new(StringComparer.Ordinal);
        public int AceCount;

        public MudFile Build() => new()
        {
            MudVersion = MudVersion,
            MudUrl = MudUrl,
            LastUpdate = LastUpdate,
            MudSignature = MudSignature,
            CacheValidityHours = CacheValidity,
            IsSupported = IsSupported,
            SystemInfo = SystemInfo,
            ManufacturerName = MfgName,
            ModelName = ModelName,
            Documentation = Documentation,
            Extensions = Extensions.ToArray(),
            FromDevicePolicy = From.Count > 0 ? From.ToArray() : LegacyDirections.Where(kv => kv.Value == MudDirection.FromDevice).Select(kv => kv.Key).ToArray(),
            ToDevicePolicy = To.Count > 0 ? To.ToArray() : LegacyDirections.Where(kv => kv.Value == MudDirection.ToDevice).Select(kv => kv.Key).ToArray(),
            Acls = Acls.ToArray(),
            Federation = Federation,
        };
    }

    private sealed class AceLimitException : Exception
    {
    }

    private sealed class Context(MudParserOptions options)
    {
        public MudParserOptions Options { get; } = options;

        public List<MudDiagnostic> Diagnostics { get; } = [];

        public bool Lenient => Options.Mode == MudParseMode.Lenient;

        private int _dropped;

        public void Add(MudDiagnostic d)
        {
            if (Diagnostics.Count < Options.MaxDiagnostics - 1)
            {
                Diagnostics.Add(d);
            }
            else if (_dropped++ == 0)
            {
                Diagnostics.Add(new MudDiagnostic(d.Code, d.Path, MudSeverity.Error, "Too many diagnostics; further ones were dropped.", "FedEdge input limit"));
            }
        }

        public void Error(string code, string path, string message, string rule) => Add(new(code, path, MudSeverity.Error, message, rule));

        public void Warn(string code, string path, string message, string rule) => Add(new(code, path, MudSeverity.Warning, message, rule));

        public void Info(string code, string path, string message, string rule) => Add(new(code, path, MudSeverity.Info, message, rule));

        /// <summary>A draft-era shape: an error in strict mode, a warning (and read) in lenient mode.</summary>
        public void Shape(string code, string path, string message, string rule)
            => Add(new(code, path, Lenient ? MudSeverity.Warning : MudSeverity.Error, message, rule));
    }

    private static bool IsIpLiteral(string? s)
        => s is not null && s.Length > 0 && s.All(c => char.IsAsciiHexDigit(c) || c is '.' or ':') && IPAddress.TryParse(s, out _);
}
