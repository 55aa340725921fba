using System.Text.Json.Nodes;

namespace FedEdge.Mud.Tests;

public class ValidationTests
{
    private static JsonObject Example() => JsonNode.Parse(File.ReadAllText(Corpus.PathOf("osmud", "ieft-draft.json")))!.AsObject();

    private static JsonObject Mud(JsonObject root) => root["ietf-mud:mud"]!.AsObject();

    private static JsonObject FirstAce(JsonObject root, int acl = 1) => root["ietf-access-control-list:acls"]!["acl"]![acl]!["aces"]!["ace"]![0]!.AsObject();

    public static TheoryData<string, string> Mutations() => new()
    {
        { "version2", MudDiagnosticCodes.BadMudVersion },
        { "http-url", MudDiagnosticCodes.BadMudUrl },
        { "underscore-host", MudDiagnosticCodes.BadMudUrl },
        { "no-offset-date", MudDiagnosticCodes.BadDateTime },
        { "cache-0", MudDiagnosticCodes.BadCacheValidity },
        { "cache-169", MudDiagnosticCodes.BadCacheValidity },
        { "missing-url", MudDiagnosticCodes.MissingLeaf },
        { "unresolved-policy", MudDiagnosticCodes.UnresolvedPolicyAcl },
        { "src-dnsname-from-device", MudDiagnosticCodes.DnsNameDirection },
        { "direction-under-udp", MudDiagnosticCodes.DirectionNotTcp },
        { "controller-not-uri", MudDiagnosticCodes.NotAUri },
        { "model-not-uri", MudDiagnosticCodes.NotAUri },
        { "undeclared-extension", MudDiagnosticCodes.UndeclaredExtension },
        { "empty-leaf-array", MudDiagnosticCodes.EmptyLeafEncoding },
        { "bad-action", MudDiagnosticCodes.BadAction },
        { "unknown-acl-type", MudDiagnosticCodes.UnknownAclType },
        { "ipv4-in-ipv6-acl", MudDiagnosticCodes.MatchTypeMismatch },
        { "gateway-urn", MudDiagnosticCodes.UnregisteredMudUrn },
        { "port-out-of-range", MudDiagnosticCodes.BadValue },
        { "tcp-under-udp-protocol", MudDiagnosticCodes.BadValue },
    };

    [Theory]
    [MemberData(nameof(Mutations))]
    public void Parse_MustViolation_ReportsErrorWithCodeAndPath(string mutation, string code)
    {
        JsonObject root = Example();
        JsonObject mud = Mud(root);
        JsonObject ace = FirstAce(root);
        switch (mutation)
        {
            case "version2": mud["mud-version"] = 2; break;
            case "http-url": mud["mud-url"] = "http://lighting.example.com/lightbulb2000"; break;
            case "underscore-host": mud["mud-url"] = "https://light_ing.example.com/x"; break;
            case "no-offset-date": mud["last-update"] = "2018-03-02T11:20:51"; break;
            case "cache-0": mud["cache-validity"] = 0; break;
            case "cache-169": mud["cache-validity"] = 169; break;
            case "missing-url": mud.Remove("mud-url"); break;
            case "unresolved-policy": mud["from-device-policy"]!["access-lists"]!["access-list"]![0]!["name"] = "nope"; break;
            case "src-dnsname-from-device":
                JsonObject ip = ace["matches"]!["ipv6"]!.AsObject();
                ip.Remove("ietf-acldns:dst-dnsname");
                ip["ietf-acldns:src-dnsname"] = "test.example.com";
                break;
            case "direction-under-udp":
                ace["matches"]!["ipv6"]!["protocol"] = 17;
                JsonNode tcp = ace["matches"]!["tcp"]!;
                ace["matches"]!.AsObject().Remove("tcp");
                ace["matches"]!["udp"] = tcp;
                break;
            case "controller-not-uri": ace["matches"]!["ietf-mud:mud"] = new JsonObject { ["controller"] = "bacnet" }; break;
            case "model-not-uri": ace["matches"]!["ietf-mud:mud"] = new JsonObject { ["model"] = "not a uri" }; break;
            case "undeclared-extension": mud["vendor-x:thing"] = 1; break;
            case "empty-leaf-array": ace["matches"]!["ietf-mud:mud"] = new JsonObject { ["local-networks"] = new JsonArray() }; break;
            case "bad-action": ace["actions"]!["forwarding"] = "maybe"; break;
            case "unknown-acl-type": root["ietf-access-control-list:acls"]!["acl"]![1]!["type"] = "ethernet-acl-type"; break;
            case "ipv4-in-ipv6-acl":
                JsonNode v6 = ace["matches"]!["ipv6"]!;
                ace["matches"]!.AsObject().Remove("ipv6");
                ace["matches"]!["ipv4"] = v6;
                break;
            case "gateway-urn": ace["matches"]!["ietf-mud:mud"] = new JsonObject { ["controller"] = "urn:ietf:params:mud:gateway" }; break;
            case "port-out-of-range": ace["matches"]!["tcp"]!["destination-port"]!["port"] = 70000; break;
            case "tcp-under-udp-protocol": ace["matches"]!["ipv6"]!["protocol"] = 17; break;
            default: throw new ArgumentOutOfRangeException(nameof(mutation));
        }

        MudParseResult result = MudParser.Parse(root.ToJsonString());
        MudDiagnostic d = Assert.Single(result.Errors, e => e.Code == code);
        Assert.False(result.IsValid);
        Assert.StartsWith("$['", d.Path, StringComparison.Ordinal);
        Assert.Contains("RFC", d.Rule, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RfcExample_IsValidWithExpectedModel()
    {
        MudParseResult result = MudParser.Parse(File.ReadAllBytes(Corpus.PathOf("osmud", "ieft-draft.json")));
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        MudFile f = result.File!;
        Assert.Equal(1, f.MudVersion);
        Assert.Equal("https://lighting.example.com/lightbulb2000", f.MudUrl);
        Assert.Equal(new DateTimeOffset(2018, 3, 2, 11, 20, 51, TimeSpan.FromHours(1)), f.LastUpdate);
        Assert.Equal(48, f.CacheValidityHours);
        Assert.Equal(["mud-76100-v6fr"], f.FromDevicePolicy);
        MudAce ace = f.AclsFor(MudDirection.FromDevice).Single().Aces.Single();
        Assert.Equal("test.example.com", ace.Matches.Ipv6!.DestinationDnsName);
        Assert.Equal(6, ace.Matches.Ipv6.Protocol);
        Assert.Equal(MudDirection.FromDevice, ace.Matches.Tcp!.DirectionInitiated);
        Assert.Equal(new MudPortRange("eq", 443), ace.Matches.Tcp.DestinationPort);
        Assert.Equal(MudForwarding.Accept, ace.Action);
    }

    [Fact]
    public void Parse_CacheValidityAbsent_DefaultsTo48WithInfo()
    {
        JsonObject root = Example();
        Mud(root).Remove("cache-validity");
        MudParseResult result = MudParser.Parse(root.ToJsonString());
        Assert.True(result.IsValid);
        Assert.Equal(48, result.File!.CacheValidityHours);
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.DefaultCacheValidity && d.Severity == MudSeverity.Info);
    }

    [Fact]
    public void Parse_DeclaredExtension_IsAcceptedAndFederationExtensionRead()
    {
        JsonObject root = Example();
        Mud(root)["extensions"] = new JsonArray("fededge-federated-learning");
        Mud(root)["fededge-federated-learning:federation"] = JsonNode.Parse("""{"task":[{"name":"nbaiot-anomaly","model":["autoencoder-v1"]}]}""");
        MudParseResult result = MudParser.Parse(root.ToJsonString());
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        Assert.True(result.File!.Federation!.Allows("nbaiot-anomaly", "autoencoder-v1"));
        Assert.False(result.File.Federation.Allows("nbaiot-anomaly", "other"));
        Assert.False(result.File.Federation.Allows("other-task", null));
    }

    [Fact]
    public void Parse_EmptyLeafArrayInLenientMode_IsWarningAndRead()
    {
        JsonObject root = Example();
        FirstAce(root)["matches"]!["ietf-mud:mud"] = new JsonObject { ["local-networks"] = new JsonArray() };
        FirstAce(root)["matches"]!.AsObject().Remove("ipv6");
        FirstAce(root)["matches"]!.AsObject().Remove("tcp");
        MudParseResult result = MudParser.Parse(root.ToJsonString(), MudParserOptions.Lenient);
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.EmptyLeafEncoding && d.Severity == MudSeverity.Warning);
        Assert.True(result.File!.AclsFor(MudDirection.FromDevice).Single().Aces[0].Matches.Mud!.LocalNetworks);
    }

    [Fact]
    public void ParseValid_InvalidFile_ThrowsMudValidationExceptionNamingPathAndRule()
    {
        var ex = Assert.Throws<MudValidationException>(() => MudParser.ParseValid(File.ReadAllBytes(Corpus.PathOf("faucetsdn-daq", "bacnet.json"))));
        Assert.Contains("MUD0072", ex.Message, StringComparison.Ordinal);
        Assert.Contains("controller", ex.Message, StringComparison.Ordinal);
        Assert.NotEmpty(ex.Diagnostics);
    }

    [Fact]
    public void Parse_LegacyNestFile_LenientReadsDraftShapes()
    {
        MudParseResult result = MudParser.Parse(File.ReadAllBytes(Corpus.PathOf("osmud", "MUDFILE.NEST")), MudParserOptions.Lenient);
        MudFile f = result.File!;
        Assert.Contains("mud-74378-v4fr", f.FromDevicePolicy);
        MudAcl to = f.FindAcl("mud-74378-v4to")!;
        Assert.Equal(MudAclType.Ipv4, to.Type);
        MudAce first = to.Aces[0];
        Assert.Equal("nest.com", first.Matches.Ipv4!.SourceDnsName);
        Assert.Equal(new MudPortRange("eq", 9543), first.Matches.Tcp!.SourcePort);
        Assert.Contains(to.Aces, a => a.Matches.Mud?.MyController == true);
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.LegacyMemberName && d.Severity == MudSeverity.Warning);
        Assert.Contains(result.Errors, d => d.Code == MudDiagnosticCodes.MissingLeaf);
    }
}
