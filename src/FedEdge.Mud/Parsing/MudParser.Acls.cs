using System.Net;
using System.Text.Json;

namespace FedEdge.Mud;

public static partial class MudParser
{
    private static readonly HashSet<string> RegisteredMudUrns = new(StringComparer.Ordinal)
    {
        "urn:ietf:params:mud:dns",
        "urn:ietf:params:mud:ntp",
    };

    private static void ParseAcls(JsonElement acls, string path, Builder b, Context ctx)
    {
        if (acls.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "The ACL container must be { \"acl\": [ ... ] }.", RuleAcl);
            return;
        }

        CheckMembers(acls, path, ["acl"], ctx);
        if (!acls.TryGetProperty("acl", out JsonElement list))
        {
            return;
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, $"{path}['acl']", "'acl' must be an array.", RuleAcl);
            return;
        }

        int i = 0;
        foreach (JsonElement acl in list.EnumerateArray())
        {
            string ap = $"{path}['acl'][{i++}]";
            if (acl.ValueKind != JsonValueKind.Object)
            {
                ctx.Error(MudDiagnosticCodes.WrongType, ap, "An ACL must be an object.", RuleAcl);
                continue;
            }

            MudAcl? parsed = ParseAcl(acl, ap, b, ctx);
            if (parsed is not null)
            {
                if (b.Acls.Any(x => x.Name == parsed.Name))
                {
                    ctx.Error(MudDiagnosticCodes.DuplicateName, $"{ap}['name']", $"Duplicate ACL name '{parsed.Name}'.", RuleAcl);
                }

                b.Acls.Add(parsed);
            }
        }
    }

    private static string? ReadName(JsonElement obj, string path, string legacyName, Context ctx, string what)
    {
        if (obj.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String)
        {
            return CheckName(n.GetString()!, $"{path}['name']", ctx) ? n.GetString() : null;
        }

        if (obj.TryGetProperty(legacyName, out JsonElement l) && l.ValueKind == JsonValueKind.String)
        {
            ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{path}['{legacyName}']", $"{what} uses the draft-era '{legacyName}'; RFC 8519 uses 'name'.", RuleAcl);
            return CheckName(l.GetString()!, $"{path}['{legacyName}']", ctx) ? l.GetString() : null;
        }

        ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['name']", $"{what} has no 'name'.", RuleAcl);
        return null;
    }

    private static MudAclType ParseAclType(string raw, string path, Context ctx)
    {
        string t = raw.StartsWith("ietf-access-control-list:", StringComparison.Ordinal) ? raw["ietf-access-control-list:".Length..] : raw;
        switch (t)
        {
            case "ipv4-acl-type":
                return MudAclType.Ipv4;
            case "ipv6-acl-type":
                return MudAclType.Ipv6;
            case "eth-acl-type":
                return MudAclType.Ethernet;
            case "mixed-eth-ipv4-acl-type":
            case "mixed-eth-ipv6-acl-type":
            case "mixed-eth-ipv4-ipv6-acl-type":
                return MudAclType.Mixed;
            case "ipv4-acl":
            case "ipv6-acl":
                ctx.Shape(MudDiagnosticCodes.UnknownAclType, path, $"ACL type '{raw}' is a draft-era name; RFC 8519 uses '{t}-type'.", RuleAcl);
                return t == "ipv4-acl" ? MudAclType.Ipv4 : MudAclType.Ipv6;
            case "ethernet-acl-type":
            case "eth-acl":
                ctx.Shape(MudDiagnosticCodes.UnknownAclType, path, $"ACL type '{raw}' is not an RFC 8519 identity (eth-acl-type).", RuleAcl);
                return MudAclType.Ethernet;
            default:
                ctx.Error(MudDiagnosticCodes.UnknownAclType, path, $"ACL type '{raw}' is not an RFC 8519 identity.", RuleAcl);
                return MudAclType.Unknown;
        }
    }

    private static MudAcl? ParseAcl(JsonElement acl, string ap, Builder b, Context ctx)
    {
        string? name = ReadName(acl, ap, "acl-name", ctx, "ACL");
        MudAclType type = MudAclType.Unknown;
        if (acl.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String)
        {
            type = ParseAclType(t.GetString()!, $"{ap}['type']", ctx);
        }
        else if (acl.TryGetProperty("acl-type", out JsonElement lt) && lt.ValueKind == JsonValueKind.String)
        {
            ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{ap}['acl-type']", "ACL uses the draft-era 'acl-type'; RFC 8519 uses 'type'.", RuleAcl);
            type = ParseAclType(lt.GetString()!, $"{ap}['acl-type']", ctx);
        }

        JsonElement aces = default;
        string acesPath = $"{ap}['aces']";
        bool haveAces = false;
        foreach (JsonProperty p in acl.EnumerateObject())
        {
            switch (p.Name)
            {
                case "name":
                case "type":
                    break;
                case "acl-name":
                case "acl-type":
                    break;
                case "aces":
                    aces = p.Value;
                    haveAces = true;
                    break;
                case "access-list-entries":
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{ap}['access-list-entries']", "ACL uses the draft-era 'access-list-entries'; RFC 8519 uses 'aces'.", RuleAcl);
                    if (!haveAces)
                    {
                        aces = p.Value;
                        acesPath = $"{ap}['access-list-entries']";
                        haveAces = true;
                    }

                    break;
                case "ietf-mud:direction":
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{ap}['ietf-mud:direction']", "Draft-era per-ACL 'ietf-mud:direction'; RFC 8520 uses from-/to-device-policy.", RuleMud);
                    if (name is not null && p.Value.ValueKind == JsonValueKind.String)
                    {
                        b.LegacyDirections[name] = p.Value.GetString() == "to-device" ? MudDirection.ToDevice : MudDirection.FromDevice;
                    }

                    break;
                default:
                    ctx.Shape(MudDiagnosticCodes.UnknownMember, $"{ap}['{Printable(p.Name)}']", $"Unknown ACL member '{Printable(p.Name)}'.", RuleAcl);
                    break;
            }
        }

        var list = new List<MudAce>();
        if (haveAces)
        {
            if (aces.ValueKind == JsonValueKind.Object)
            {
                CheckMembers(aces, acesPath, ["ace"], ctx);
            }

            if (aces.ValueKind == JsonValueKind.Object && !aces.TryGetProperty("ace", out _))
            {
                // An empty container: RFC 7951 leaves an empty list out.
            }
            else if (aces.ValueKind == JsonValueKind.Object && aces.TryGetProperty("ace", out JsonElement aceList) && aceList.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement ace in aceList.EnumerateArray())
                {
                    string acp = $"{acesPath}['ace'][{i++}]";
                    if (++b.AceCount > ctx.Options.MaxAces)
                    {
                        ctx.Error(MudDiagnosticCodes.TooManyAces, acp, $"More than {ctx.Options.MaxAces} ACEs.", "FedEdge input limit");
                        throw new AceLimitException();
                    }

                    MudAce? parsed = ParseAce(ace, acp, type, ctx);
                    if (parsed is not null)
                    {
                        if (list.Any(x => x.Name == parsed.Name))
                        {
                            ctx.Error(MudDiagnosticCodes.DuplicateName, acp, $"Duplicate ACE name '{parsed.Name}'.", RuleAcl);
                        }

                        list.Add(parsed);
                    }
                }
            }
            else
            {
                ctx.Error(MudDiagnosticCodes.WrongType, acesPath, "'aces' must be { \"ace\": [ ... ] }.", RuleAcl);
            }
        }

        return name is null ? null : new MudAcl(name, type, list);
    }

    private static MudAce? ParseAce(JsonElement ace, string path, MudAclType aclType, Context ctx)
    {
        if (ace.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "An ACE must be an object.", RuleAcl);
            return null;
        }

        string? name = ReadName(ace, path, "rule-name", ctx, "ACE");
        MudMatches matches = new();
        if (ace.TryGetProperty("matches", out JsonElement m))
        {
            matches = ParseMatches(m, $"{path}['matches']", aclType, ctx);
        }

        MudForwarding? action = null;
        if (ace.TryGetProperty("actions", out JsonElement actions) && actions.ValueKind == JsonValueKind.Object)
        {
            CheckMembers(actions, $"{path}['actions']", ctx.Lenient ? ["forwarding", "logging", "permit", "deny"] : ["forwarding", "logging"], ctx);
            if (actions.TryGetProperty("forwarding", out JsonElement fwd) && fwd.ValueKind == JsonValueKind.String)
            {
                string f = fwd.GetString()!;
                f = f.StartsWith("ietf-access-control-list:", StringComparison.Ordinal) ? f["ietf-access-control-list:".Length..] : f;
                action = f switch
                {
                    "accept" => MudForwarding.Accept,
                    "drop" => MudForwarding.Drop,
                    "reject" => MudForwarding.Reject,
                    _ => null,
                };
                if (action is null)
                {
                    ctx.Error(MudDiagnosticCodes.BadAction, $"{path}['actions']['forwarding']", $"Forwarding action '{f}' is not accept, drop or reject.", RuleAcl);
                }
            }
            else if (actions.TryGetProperty("permit", out _) || actions.TryGetProperty("deny", out _))
            {
                bool permit = actions.TryGetProperty("permit", out _);
                ctx.Shape(MudDiagnosticCodes.LegacyMemberName, $"{path}['actions']", "Draft-era action 'permit'/'deny'; RFC 8519 uses 'forwarding'.", RuleAcl);
                action = permit ? MudForwarding.Accept : MudForwarding.Drop;
            }
            else
            {
                ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['actions']['forwarding']", "The ACE has no forwarding action.", RuleAcl);
            }
        }
        else
        {
            ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['actions']", "The ACE has no actions.", RuleAcl);
        }

        foreach (JsonProperty p in ace.EnumerateObject())
        {
            if (p.Name is not ("name" or "rule-name" or "matches" or "actions" or "statistics"))
            {
                ctx.Shape(MudDiagnosticCodes.UnknownMember, $"{path}['{Printable(p.Name)}']", $"Unknown ACE member '{Printable(p.Name)}'.", RuleAcl);
            }
        }

        return name is null || action is null ? null : new MudAce(name, matches, action.Value);
    }

    private static MudMatches ParseMatches(JsonElement m, string path, MudAclType aclType, Context ctx)
    {
        if (m.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "'matches' must be an object.", RuleAcl);
            return new MudMatches();
        }

        MudIpMatch? v4 = null, v6 = null;
        MudPortMatch? tcp = null, udp = null;
        MudIcmpMatch? icmp = null;
        MudAbstractionMatch? mud = null;
        MudEthMatch? eth = null;
        bool flatLegacy = false;
        foreach (JsonProperty p in m.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            switch (p.Name)
            {
                case "ipv4":
                    CheckFamily(aclType, MudAclType.Ipv4, pp, "ipv4", ctx);
                    v4 = ParseIp(p.Value, pp, ipv6: false, ctx);
                    break;
                case "ipv6":
                    CheckFamily(aclType, MudAclType.Ipv6, pp, "ipv6", ctx);
                    v6 = ParseIp(p.Value, pp, ipv6: true, ctx);
                    break;
                case "tcp":
                    CheckL4(aclType, pp, ctx);
                    tcp = ParsePorts(p.Value, pp, isTcp: true, ctx);
                    break;
                case "udp":
                    CheckL4(aclType, pp, ctx);
                    udp = ParsePorts(p.Value, pp, isTcp: false, ctx);
                    break;
                case "icmp":
                    icmp = ParseIcmp(p.Value, pp, ctx);
                    break;
                case "eth":
                    CheckFamily(aclType, MudAclType.Ethernet, pp, "eth", ctx);
                    eth = ParseEth(p.Value, pp, ctx);
                    break;
                case "ietf-mud:mud":
                    mud = ParseAbstractions(p.Value, pp, ctx);
                    break;
                case "ietf-mud:mud-acl":
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, pp, "Draft-era match container 'ietf-mud:mud-acl'; RFC 8520 uses 'ietf-mud:mud'.", RuleMatches);
                    mud = ParseAbstractions(p.Value, pp, ctx);

                    break;
                case "ipv4-acl":
                case "ipv6-acl":
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, pp, $"Draft-era match container '{p.Name}'; RFC 8519 uses 'ipv4'/'ipv6' with 'tcp'/'udp'.", RuleAcl);
                    ParseLegacyFlat(p.Value, pp, p.Name == "ipv6-acl", ref v4, ref v6, ref tcp, ref udp, ctx);

                    break;
                default:
                    if (p.Name.StartsWith("ietf-mud:", StringComparison.Ordinal))
                    {
                        ctx.Shape(MudDiagnosticCodes.LegacyMemberName, pp, $"Draft-era abstraction '{p.Name}' directly under 'matches'; RFC 8520 nests it in 'ietf-mud:mud'.", RuleMatches);
                        MudAbstractionMatch single = ParseAbstractions(JsonSerializerSingle(p.Name["ietf-mud:".Length..], p.Value), pp, ctx);
                        mud = Merge(mud, single);
                    }
                    else if (p.Name is "protocol" or "source-port-range" or "destination-port-range" || p.Name.StartsWith("ietf-acl-dnsname:", StringComparison.Ordinal))
                    {
                        flatLegacy = true;
                    }
                    else
                    {
                        ctx.Error(MudDiagnosticCodes.UnknownMatch, pp, $"Unknown match container '{p.Name}'.", RuleAcl);
                    }

                    break;
            }
        }

        if (flatLegacy)
        {
            ctx.Shape(MudDiagnosticCodes.LegacyMemberName, path, "Draft-era flat match (protocol/port ranges directly under 'matches').", RuleAcl);
            ParseLegacyFlat(m, path, aclType == MudAclType.Ipv6, ref v4, ref v6, ref tcp, ref udp, ctx);
        }

        MudIpMatch? ip = v4 ?? v6;
        if (tcp is not null)
        {
            CheckProtocol(ip, 6, "tcp", path, ctx);
        }

        if (udp is not null)
        {
            CheckProtocol(ip, 17, "udp", path, ctx);
        }

        return new MudMatches { Ipv4 = v4, Ipv6 = v6, Tcp = tcp, Udp = udp, Icmp = icmp, Mud = mud, Eth = eth };
    }

    private static JsonElement JsonSerializerSingle(string name, JsonElement value)
    {
        using JsonDocument d = JsonDocument.Parse($"{{{JsonSerializer.Serialize(name)}:{value.GetRawText()}}}");
        return d.RootElement.Clone();
    }

    private static MudAbstractionMatch Merge(MudAbstractionMatch? a, MudAbstractionMatch b) => a is null ? b : new MudAbstractionMatch
    {
        Manufacturer = a.Manufacturer ?? b.Manufacturer,
        SameManufacturer = a.SameManufacturer || b.SameManufacturer,
        Model = a.Model ?? b.Model,
        LocalNetworks = a.LocalNetworks || b.LocalNetworks,
        Controller = a.Controller ?? b.Controller,
        MyController = a.MyController || b.MyController,
    };

    private static void CheckProtocol(MudIpMatch? ip, int expected, string l4, string path, Context ctx)
    {
        if (ip?.Protocol is null)
        {
            ctx.Warn(MudDiagnosticCodes.L4WithoutProtocol, path, $"A '{l4}' match without an L3 'protocol' {expected}.", RuleAcl);
        }
        else if (ip.Protocol != expected)
        {
            ctx.Error(MudDiagnosticCodes.BadValue, path, $"A '{l4}' match under protocol {ip.Protocol}; it needs protocol {expected}.", RuleAcl);
        }
    }

    private static void CheckFamily(MudAclType aclType, MudAclType family, string path, string what, Context ctx)
    {
        if (aclType is MudAclType.Mixed or MudAclType.Unknown || aclType == family)
        {
            return;
        }

        if (family == MudAclType.Ethernet || aclType == MudAclType.Ethernet || family != aclType)
        {
            ctx.Error(MudDiagnosticCodes.MatchTypeMismatch, path, $"'{what}' match inside an ACL of type {aclType}.", "RFC 8519 s4.1 (matches must fit the ACL type)");
        }
    }

    private static void CheckL4(MudAclType aclType, string path, Context ctx)
    {
        if (aclType == MudAclType.Ethernet)
        {
            ctx.Error(MudDiagnosticCodes.MatchTypeMismatch, path, "L4 match inside an Ethernet ACL.", "RFC 8519 s4.1 (matches must fit the ACL type)");
        }
    }

    private static MudIpMatch ParseIp(JsonElement v, string path, bool ipv6, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "An IP match must be an object.", RuleAcl);
            return new MudIpMatch();
        }

        string fam = ipv6 ? "ipv6" : "ipv4";
        int? protocol = null;
        string? src = null, dst = null, srcName = null, dstName = null;
        foreach (JsonProperty p in v.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            if (p.Name == "protocol")
            {
                protocol = ReadInt(p.Value, pp, 0, 255, ctx);
            }
            else if (p.Name == $"source-{fam}-network")
            {
                src = ReadNetwork(p.Value, pp, ipv6, ctx);
            }
            else if (p.Name == $"destination-{fam}-network")
            {
                dst = ReadNetwork(p.Value, pp, ipv6, ctx);
            }
            else if (p.Name == "ietf-acldns:src-dnsname")
            {
                srcName = ReadDnsName(p.Value, pp, ctx);
            }
            else if (p.Name == "ietf-acldns:dst-dnsname")
            {
                dstName = ReadDnsName(p.Value, pp, ctx);
            }
            else if (p.Name is "dscp" or "ecn" or "length" or "ttl" or "ihl" or "flags" or "offset" or "identification" or "flow-label")
            {
                continue;
            }
            else
            {
                ctx.Shape(MudDiagnosticCodes.UnknownMember, pp, $"Unknown {fam} match leaf '{p.Name}'.", RuleAcl);
            }
        }

        if ((src is not null && srcName is not null) || (dst is not null && dstName is not null))
        {
            ctx.Error(MudDiagnosticCodes.BadValue, path, "A network and a DNS name for the same end (they are a YANG choice).", RuleAclDns);
        }

        return new MudIpMatch { Protocol = protocol, SourceNetwork = src, DestinationNetwork = dst, SourceDnsName = srcName, DestinationDnsName = dstName };
    }

    private static string? ReadNetwork(JsonElement v, string path, bool ipv6, Context ctx)
    {
        string? s = ReadString(v, path, ctx);
        if (s is null)
        {
            return null;
        }

        string[] parts = s.Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out IPAddress? addr)
            || (addr.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6) != ipv6
            || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int len) || len < 0 || len > (ipv6 ? 128 : 32))
        {
            ctx.Error(MudDiagnosticCodes.BadValue, path, $"'{s}' is not an {(ipv6 ? "IPv6" : "IPv4")} prefix.", RuleAcl);
            return null;
        }

        ctx.Warn(MudDiagnosticCodes.IpLiteral, path, $"IP literal '{s}'; MUD files SHOULD name hosts by DNS name.", "RFC 8520 s8.1 / s16 (IP addresses SHOULD NOT be used)");
        return s;
    }

    private static string? ReadDnsName(JsonElement v, string path, Context ctx)
    {
        string? s = ReadString(v, path, ctx);
        if (s is null)
        {
            return null;
        }

        if (IsIpLiteral(s))
        {
            ctx.Warn(MudDiagnosticCodes.IpLiteral, path, $"IP literal '{s}' used as a DNS name.", RuleAclDns);
            return s;
        }

        if (!IsHostName(s))
        {
            ctx.Error(MudDiagnosticCodes.BadHostName, path, $"'{Printable(s)}' is not a valid DNS host name.", RuleAclDns);
            return null;
        }

        return s;
    }

    private static int? ReadInt(JsonElement v, string path, int min, int max, Context ctx)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) && x >= min && x <= max)
        {
            return x;
        }

        if (v.ValueKind == JsonValueKind.String && int.TryParse(v.GetString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int y) && y >= min && y <= max)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, $"Number {y} encoded as a string.", RuleJson);
            return y;
        }

        ctx.Error(MudDiagnosticCodes.BadValue, path, $"{v.GetRawText()} is not an integer in {min}..{max}.", RuleAcl);
        return null;
    }

    private static MudPortMatch ParsePorts(JsonElement v, string path, bool isTcp, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "A tcp/udp match must be an object.", RuleAcl);
            return new MudPortMatch();
        }

        MudPortRange? src = null, dst = null;
        MudDirection? dir = null;
        foreach (JsonProperty p in v.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            switch (p.Name)
            {
                case "source-port":
                    src = ParsePortRange(p.Value, pp, ctx);
                    break;
                case "destination-port":
                    dst = ParsePortRange(p.Value, pp, ctx);
                    break;
                case "source-port-range":
                case "destination-port-range":
                    ctx.Shape(MudDiagnosticCodes.LegacyMemberName, pp, $"Draft-era '{p.Name}'; RFC 8519 uses '{p.Name[..^6]}'.", RuleAcl);
                    MudPortRange? r = ParsePortRange(p.Value, pp, ctx);
                    if (p.Name[0] == 's')
                    {
                        src = r;
                    }
                    else
                    {
                        dst = r;
                    }

                    break;
                case "ietf-mud:direction-initiated":
                    if (!isTcp)
                    {
                        ctx.Error(MudDiagnosticCodes.DirectionNotTcp, pp, "direction-initiated is only defined under 'tcp'.", "RFC 8520 s8 (direction-initiated augments tcp)");
                    }

                    string? d = ReadString(p.Value, pp, ctx);
                    dir = d switch
                    {
                        "from-device" => MudDirection.FromDevice,
                        "to-device" => MudDirection.ToDevice,
                        _ => null,
                    };
                    if (d is not null && dir is null)
                    {
                        ctx.Error(MudDiagnosticCodes.BadValue, pp, $"direction-initiated '{d}' is not from-device or to-device.", RuleMatches);
                    }

                    break;
                case "sequence-number" or "acknowledgement-number" or "data-offset" or "reserved" or "flags" or "window-size" or "urgent-pointer" or "options" or "length":
                    break;
                default:
                    ctx.Shape(MudDiagnosticCodes.UnknownMember, pp, $"Unknown {(isTcp ? "tcp" : "udp")} match leaf '{p.Name}'.", RuleAcl);
                    break;
            }
        }

        return new MudPortMatch { SourcePort = src, DestinationPort = dst, DirectionInitiated = isTcp ? dir : null };
    }

    private static MudPortRange? ParsePortRange(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "A port condition must be an object.", RuleAcl);
            return null;
        }

        CheckMembers(v, path, ["lower-port", "upper-port", "operator", "port"], ctx);
        if (v.TryGetProperty("lower-port", out JsonElement lo))
        {
            int? l = ReadInt(lo, $"{path}['lower-port']", 0, 65535, ctx);
            int? u = v.TryGetProperty("upper-port", out JsonElement up) ? ReadInt(up, $"{path}['upper-port']", 0, 65535, ctx) : l;
            if (l is null || u is null)
            {
                return null;
            }

            if (u < l)
            {
                ctx.Error(MudDiagnosticCodes.BadValue, path, "upper-port is below lower-port.", RuleAcl);
                return null;
            }

            return l == u ? new MudPortRange("eq", l.Value) : new MudPortRange("range", l.Value, u.Value);
        }

        string op = "eq";
        if (v.TryGetProperty("operator", out JsonElement o))
        {
            op = ReadString(o, $"{path}['operator']", ctx) ?? "eq";
            if (op is not ("eq" or "lte" or "gte" or "neq"))
            {
                ctx.Error(MudDiagnosticCodes.BadValue, $"{path}['operator']", $"Port operator '{op}' is not lte, gte, eq or neq.", RuleAcl);
                return null;
            }
        }

        if (!v.TryGetProperty("port", out JsonElement port))
        {
            ctx.Error(MudDiagnosticCodes.MissingLeaf, $"{path}['port']", "A port condition needs 'port' (or lower-port/upper-port).", RuleAcl);
            return null;
        }

        int? value = ReadInt(port, $"{path}['port']", 0, 65535, ctx);
        return value is null ? null : new MudPortRange(op, value.Value);
    }

    private static MudIcmpMatch ParseIcmp(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "An icmp match must be an object.", RuleAcl);
            return new MudIcmpMatch(null, null);
        }

        CheckMembers(v, path, ["type", "code", "rest-of-header"], ctx);
        int? type = v.TryGetProperty("type", out JsonElement t) ? ReadInt(t, $"{path}['type']", 0, 255, ctx) : null;
        int? code = v.TryGetProperty("code", out JsonElement c) ? ReadInt(c, $"{path}['code']", 0, 255, ctx) : null;
        return new MudIcmpMatch(type, code);
    }

    private static MudEthMatch ParseEth(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "An eth match must be an object.", RuleAcl);
            return new MudEthMatch();
        }

        CheckMembers(v, path, ["destination-mac-address", "destination-mac-address-mask", "source-mac-address", "source-mac-address-mask", "ethertype"], ctx);
        string? Get(string n) => v.TryGetProperty(n, out JsonElement e) ? ReadString(e, $"{path}['{n}']", ctx) : null;
        return new MudEthMatch { DestinationMac = Get("destination-mac-address"), SourceMac = Get("source-mac-address"), EtherType = Get("ethertype") };
    }

    private static bool ReadEmpty(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 1 && v[0].ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        ctx.Shape(MudDiagnosticCodes.EmptyLeafEncoding, path, $"Empty leaf encoded as {Truncate(v.GetRawText())}; RFC 7951 section 6.9 requires [null].", "RFC 7951 s6.9 (empty type)");
        return true;
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "..." : s;

    private static MudAbstractionMatch ParseAbstractions(JsonElement v, string path, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(MudDiagnosticCodes.WrongType, path, "The ietf-mud:mud match must be an object.", RuleMatches);
            return new MudAbstractionMatch();
        }

        string? manufacturer = null, model = null, controller = null;
        bool same = false, local = false, mine = false;
        int count = 0;
        foreach (JsonProperty p in v.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            count++;
            switch (p.Name)
            {
                case "manufacturer":
                    manufacturer = ReadString(p.Value, pp, ctx);
                    if (manufacturer is not null && !IsHostName(manufacturer))
                    {
                        ctx.Error(MudDiagnosticCodes.BadHostName, pp, $"manufacturer '{manufacturer}' is not a host name (inet:host).", RuleMatches);
                    }

                    break;
                case "same-manufacturer":
                    same = ReadEmpty(p.Value, pp, ctx);
                    break;
                case "local-networks":
                    local = ReadEmpty(p.Value, pp, ctx);
                    break;
                case "my-controller":
                    mine = ReadEmpty(p.Value, pp, ctx);
                    break;
                case "model":
                    model = ReadString(p.Value, pp, ctx);
                    CheckUri(model, pp, "model", ctx);
                    break;
                case "controller":
                    controller = ReadString(p.Value, pp, ctx);
                    CheckUri(controller, pp, "controller", ctx);
                    break;
                default:
                    ctx.Error(MudDiagnosticCodes.UnknownMatch, pp, $"Unknown MUD abstraction '{p.Name}'.", RuleMatches);
                    break;
            }
        }

        if (count > 1)
        {
            ctx.Error(MudDiagnosticCodes.BadValue, path, "More than one MUD abstraction in one match (they are a YANG choice).", RuleMatches);
        }

        return new MudAbstractionMatch { Manufacturer = manufacturer, SameManufacturer = same, Model = model, LocalNetworks = local, Controller = controller, MyController = mine };
    }

    private static void CheckUri(string? value, string path, string what, Context ctx)
    {
        if (value is null)
        {
            return;
        }

        if (!IsUri(value))
        {
            ctx.Error(MudDiagnosticCodes.NotAUri, path, $"{what} '{Printable(value)}' is not an RFC 3986 URI (inet:uri).", RuleUri);
            return;
        }

        if (value.StartsWith("urn:ietf:params:mud:", StringComparison.OrdinalIgnoreCase) && !RegisteredMudUrns.Contains(value))
        {
            ctx.Error(MudDiagnosticCodes.UnregisteredMudUrn, path, $"{what} '{value}' is not an IANA-registered MUD URN (only urn:ietf:params:mud:dns and :ntp are).", "RFC 8520 s16 (IANA MUD URN registry)");
        }
    }

    private static void ParseLegacyFlat(JsonElement v, string path, bool ipv6, ref MudIpMatch? v4, ref MudIpMatch? v6, ref MudPortMatch? tcp, ref MudPortMatch? udp, Context ctx)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        int? protocol = null;
        string? src = null, dst = null;
        MudPortRange? sp = null, dp = null;
        foreach (JsonProperty p in v.EnumerateObject())
        {
            string pp = $"{path}['{p.Name}']";
            switch (p.Name)
            {
                case "protocol":
                    protocol = ReadInt(p.Value, pp, 0, 255, ctx);
                    break;
                case "ietf-acldns:src-dnsname" or "ietf-acl-dnsname:source-hostname":
                    src = ReadDnsName(p.Value, pp, ctx);
                    break;
                case "ietf-acldns:dst-dnsname" or "ietf-acl-dnsname:destination-hostname":
                    dst = ReadDnsName(p.Value, pp, ctx);
                    break;
                case "source-port-range":
                    sp = ParsePortRange(p.Value, pp, ctx);
                    break;
                case "destination-port-range":
                    dp = ParsePortRange(p.Value, pp, ctx);
                    break;
            }
        }

        var ip = new MudIpMatch { Protocol = protocol, SourceDnsName = src, DestinationDnsName = dst };
        if (ipv6)
        {
            v6 = ip;
        }
        else
        {
            v4 = ip;
        }

        if (sp is not null || dp is not null)
        {
            var ports = new MudPortMatch { SourcePort = sp, DestinationPort = dp };
            if (protocol == 17)
            {
                udp = ports;
            }
            else
            {
                tcp = ports;
            }
        }
    }

    private static void CrossCheck(MudFile file, Builder b, Context ctx)
    {
        const string mudPath = "$['ietf-mud:mud']";
        var from = new HashSet<string>(file.FromDevicePolicy, StringComparer.Ordinal);
        var to = new HashSet<string>(file.ToDevicePolicy, StringComparer.Ordinal);
        foreach ((string policy, IReadOnlyList<string> names) in new[] { ("from-device-policy", file.FromDevicePolicy), ("to-device-policy", file.ToDevicePolicy) })
        {
            for (int i = 0; i < names.Count; i++)
            {
                if (file.FindAcl(names[i]) is null)
                {
                    ctx.Error(MudDiagnosticCodes.UnresolvedPolicyAcl, $"{mudPath}['{policy}']['access-lists']['access-list'][{i}]", $"Policy names ACL '{names[i]}', which the file does not define.", "RFC 8520 s2.1 (policy access-list leafref to acl name)");
                }
            }
        }

        for (int i = 0; i < file.Acls.Count; i++)
        {
            MudAcl acl = file.Acls[i];
            string ap = $"$['ietf-access-control-list:acls']['acl'][{i}]";
            bool isFrom = from.Contains(acl.Name), isTo = to.Contains(acl.Name);
            if (isFrom && isTo)
            {
                ctx.Warn(MudDiagnosticCodes.AclInBothDirections, ap, $"ACL '{acl.Name}' is referenced from both from-device-policy and to-device-policy; source/destination semantics cannot be right for both.", "RFC 8520 s2.1 / s4");
            }
            else if (!isFrom && !isTo)
            {
                ctx.Warn(MudDiagnosticCodes.UnreferencedAcl, ap, $"ACL '{acl.Name}' is not referenced by any policy.", "RFC 8520 s2.1");
            }

            for (int j = 0; j < acl.Aces.Count; j++)
            {
                MudIpMatch? ip = acl.Aces[j].Matches.Ip;
                string ip4or6 = acl.Aces[j].Matches.Ipv4 is not null ? "ipv4" : "ipv6";
                string ep = $"{ap}['aces']['ace'][{j}]['matches']['{ip4or6}']";
                if (isFrom && ip?.SourceDnsName is not null)
                {
                    ctx.Error(MudDiagnosticCodes.DnsNameDirection, $"{ep}['ietf-acldns:src-dnsname']", "src-dnsname in a from-device ACL: the source is the device itself.", RuleAclDns);
                }

                if (isTo && ip?.DestinationDnsName is not null)
                {
                    ctx.Error(MudDiagnosticCodes.DnsNameDirection, $"{ep}['ietf-acldns:dst-dnsname']", "dst-dnsname in a to-device ACL: the destination is the device itself.", RuleAclDns);
                }
            }
        }

        _ = b;
    }
}
