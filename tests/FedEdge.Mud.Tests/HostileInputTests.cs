using System.Diagnostics;
using System.Text.Json;
using FedEdge.Mud.Compilation;

namespace FedEdge.Mud.Tests;

/// <summary>Issue 19: hostile MUD input must not reach shell or firewall scripts, and the strict validator must follow the YANG schema.</summary>
public class HostileInputTests
{
    /// <summary>A strict-valid file with each string slot a JSON-encoded value.</summary>
    internal static string Template(
        string mudUrl = "https://bulb.example.com/bulb",
        string aclName = "from-ipv4",
        string aceName = "cloud",
        string dnsName = "cloud.example.com",
        string toAcl = "to-ipv4",
        string systemInfo = "bulb",
        string policyExtra = "",
        string aclExtra = "",
        string acesExtra = "",
        string forwardingExtra = "",
        string portExtra = "",
        string mudExtra = "") => $$"""
        {
          "ietf-mud:mud": {
            "mud-version": 1,
            "mud-url": {{Json(mudUrl)}},
            "last-update": "2024-01-01T00:00:00+00:00",
            "cache-validity": 48,
            "is-supported": true,
            "systeminfo": {{Json(systemInfo)}},{{mudExtra}}
            "from-device-policy": { "access-lists": { "access-list": [ { "name": {{Json(aclName)}} }{{policyExtra}} ] } },
            "to-device-policy": { "access-lists": { "access-list": [ { "name": {{Json(toAcl)}} } ] } }
          },
          "ietf-access-control-list:acls": {
            "acl": [
              {
                "name": {{Json(aclName)}},
                "type": "ipv4-acl-type",
                "aces": {
                  "ace": [
                    {
                      "name": {{Json(aceName)}},
                      "matches": {
                        "ipv4": { "protocol": 6, "ietf-acldns:dst-dnsname": {{Json(dnsName)}} },
                        "tcp": { "destination-port": { "operator": "eq", "port": 443{{portExtra}} } }
                      },
                      "actions": { "forwarding": "accept"{{forwardingExtra}} }
                    }
                  ]{{acesExtra}}
                }{{aclExtra}}
              },
              {
                "name": {{Json(toAcl)}},
                "type": "ipv4-acl-type",
                "aces": { "ace": [ { "name": "replies", "matches": { "ipv4": { "protocol": 6, "ietf-acldns:src-dnsname": "cloud.example.com" }, "tcp": { "source-port": { "operator": "eq", "port": 443 } } }, "actions": { "forwarding": "accept" } } ] }
              }
            ]
          }
        }
        """;

    internal static string Json(string s) => JsonSerializer.Serialize(s);

    private static readonly MudDeviceBinding Bulb = new("bulb", "00:11:22:33:44:55", ["192.168.1.20", "fd00::20"]);

    [Fact]
    public void Template_IsStrictValid()
    {
        MudParseResult r = MudParser.Parse(Template());
        Assert.True(r.IsValid, string.Join("\n", r.Errors));
    }

    [Fact]
    public void Parse_MudUrlWithNewline_IsRefused()
    {
        Assert.False(MudParser.Parse(Template(mudUrl: "https://bulb.example.com/bulb\ntouch /tmp/pwned")).IsValid);
        Assert.False(MudParser.Parse(Template(mudUrl: "https://bulb.example.com/bulb\nflush ruleset")).IsValid);
    }

    [Theory]
    [InlineData("https://bulb.example.com/a b")]
    [InlineData("https://bulb.example.com/a\tb")]
    [InlineData("https://bulb.example.com/a\u0001b")]
    [InlineData("https://bulb.example.com/a\"b")]
    [InlineData("https://bulb.example.com/a\u2028b")]
    public void Parse_MudUrlOutsideRfc3986_IsRefused(string url)
        => Assert.Contains(MudParser.Parse(Template(mudUrl: url)).Errors, d => d.Code is MudDiagnosticCodes.BadMudUrl or MudDiagnosticCodes.ControlCharacter);

    [Fact]
    public void Parse_ControlCharacterInModelUri_IsRefused()
    {
        string json = Template().Replace("\"ietf-acldns:dst-dnsname\": \"cloud.example.com\"", "\"protocol2\": 1", StringComparison.Ordinal);
        json = json.Replace("\"ipv4\": { \"protocol\": 6, \"protocol2\": 1 },", "\"ipv4\": { \"protocol\": 6 }, \"ietf-mud:mud\": { \"model\": \"https://m.example.com/x\\u000aflush-ruleset\" },", StringComparison.Ordinal);
        MudParseResult r = MudParser.Parse(json);
        Assert.Contains(r.Errors, d => d.Code == MudDiagnosticCodes.NotAUri);
    }

    [Fact]
    public void Parse_ControlCharacterInDocumentation_IsRefused()
    {
        MudParseResult r = MudParser.Parse(Template(mudExtra: "\n\"documentation\": \"https://d.example.com/\\u0007x\","));
        Assert.Contains(r.Errors, d => d.Code is MudDiagnosticCodes.BadDocumentationUrl or MudDiagnosticCodes.ControlCharacter);
        Assert.Contains(MudParser.Parse(Template(mudExtra: "\n\"documentation\": \"https://d.example.com/a\\\"b\",")).Errors, d => d.Code == MudDiagnosticCodes.BadDocumentationUrl);
    }

    [Fact]
    public void Parse_DnsNameWithInjectedPrefix_IsRefused()
        => Assert.False(MudParser.Parse(Template(dnsName: "10.0.0.1/\nflush ruleset")).IsValid);

    [Theory]
    [InlineData("bad\nname")]
    [InlineData("bad\u0000name")]
    [InlineData("")]
    public void Parse_AclNameWithControlCharacterOrEmpty_IsRefused(string name)
        => Assert.False(MudParser.Parse(Template(aclName: name)).IsValid);

    [Fact]
    public void Parse_DuplicateMember_IsRefused()
    {
        string json = Template().Replace("\"cache-validity\": 48,", "\"cache-validity\": 48, \"cache-validity\": 168,", StringComparison.Ordinal);
        MudParseResult r = MudParser.Parse(json);
        Assert.False(r.IsValid);
        Assert.Contains(r.Errors, d => d.Path.Contains("cache-validity", StringComparison.Ordinal));
        Assert.False(MudParser.Parse(json, MudParserOptions.Lenient).IsValid);
    }

    [Theory]
    [InlineData("acl")]
    [InlineData("ace")]
    [InlineData("forwarding")]
    [InlineData("port")]
    [InlineData("access-list")]
    public void Parse_UnknownMemberBesideKnownOne_IsRefusedInStrictMode(string which)
    {
        string json = which switch
        {
            "acl" => Template().Replace("\"acl\": [", "\"acl-copy\": [], \"acl\": [", StringComparison.Ordinal),
            "ace" => Template(acesExtra: ", \"ace-copy\": []"),
            "forwarding" => Template(forwardingExtra: ", \"forwarding-copy\": \"drop\""),
            "port" => Template(portExtra: ", \"port-copy\": 22"),
            _ => Template().Replace("\"access-lists\": { \"access-list\": [ { \"name\": \"to-ipv4\" } ] }", "\"access-lists\": { \"access-list\": [ { \"name\": \"to-ipv4\" } ], \"access-list-copy\": [] }", StringComparison.Ordinal),
        };
        Assert.Contains("-copy", json, StringComparison.Ordinal);
        MudParseResult strict = MudParser.Parse(json);
        Assert.Contains(strict.Errors, d => d.Code == MudDiagnosticCodes.UnknownMember && d.Path.Contains("-copy", StringComparison.Ordinal));
        MudParseResult lenient = MudParser.Parse(json, MudParserOptions.Lenient);
        Assert.True(lenient.IsValid, string.Join("\n", lenient.Errors));
    }

    [Fact]
    public void Parse_DuplicatePolicyEntry_IsRefused()
    {
        MudParseResult r = MudParser.Parse(Template(policyExtra: ", { \"name\": \"from-ipv4\" }"));
        Assert.Contains(r.Errors, d => d.Code == MudDiagnosticCodes.DuplicateName);
    }

    [Fact]
    public void Parse_DuplicateExtension_IsRefused()
    {
        MudParseResult r = MudParser.Parse(Template(mudExtra: "\n\"extensions\": [\"x\", \"x\"],"));
        Assert.Contains(r.Errors, d => d.Code == MudDiagnosticCodes.DuplicateName);
    }

    [Fact]
    public void Parse_DuplicateFederationTask_IsRefused()
    {
        string federation = $"\n\"extensions\": [\"{MudFederationExtension.ExtensionName}\"], \"{MudFederationExtension.MemberName}\": {{ \"task\": [ {{ \"name\": \"t\", \"model\": [\"a\"] }}, {{ \"name\": \"t\", \"model\": [\"b\"] }} ] }},";
        MudParseResult r = MudParser.Parse(Template(mudExtra: federation));
        Assert.Contains(r.Errors, d => d.Code == MudDiagnosticCodes.DuplicateName && d.Path.Contains("task", StringComparison.Ordinal));
        Assert.True(MudParser.Parse(Template(mudExtra: federation.Replace("\"name\": \"t\", \"model\": [\"b\"]", "\"name\": \"u\", \"model\": [\"b\"]", StringComparison.Ordinal))).IsValid);
    }

    [Fact]
    public void Parse_EmptyAccessListsContainer_IsValid()
    {
        string json = Template().Replace("\"to-device-policy\": { \"access-lists\": { \"access-list\": [ { \"name\": \"to-ipv4\" } ] } }", "\"to-device-policy\": { \"access-lists\": {} }", StringComparison.Ordinal);
        json = json.Replace("\"name\": \"to-ipv4\",", "\"name\": \"unused\",", StringComparison.Ordinal);
        Assert.Contains("{}", json, StringComparison.Ordinal);
        MudParseResult r = MudParser.Parse(json);
        Assert.True(r.IsValid, string.Join("\n", r.Errors));
        Assert.Empty(r.File!.ToDevicePolicy);
    }

    private static CompiledPolicy Policy(string mudUrl = "https://bulb.example.com/bulb", MudDeviceBinding? device = null, string source = "from-ipv4/cloud", string? host = "cloud.example.com")
        => new()
        {
            Device = device ?? Bulb,
            MudUrl = mudUrl,
            Notes = ["a note"],
            Rules = [new CompiledRule { Direction = MudDirection.FromDevice, Family = 4, Protocol = 6, RemoteHost = host, RemotePort = new MudPortRange("eq", 443), Action = MudForwarding.Accept, Source = source }],
        };

    [Fact]
    public void ToIptables_NewlineInMudUrl_StaysInTheComment()
    {
        string script = MudFirewallRenderer.ToIptables(Policy(mudUrl: "https://bulb.example.com/\ntouch /tmp/pwned"));
        Assert.DoesNotContain(Lines(script), l => l.StartsWith("touch", StringComparison.Ordinal));
        Assert.Equal(Lines(MudFirewallRenderer.ToIptables(Policy())).Length, Lines(script).Length);
    }

    [Fact]
    public void ToNftables_NewlineInMudUrl_StaysInTheComment()
    {
        string script = MudFirewallRenderer.ToNftables(Policy(mudUrl: "https://bulb.example.com/\r\nflush ruleset"));
        Assert.DoesNotContain(Lines(script), l => l.Trim() == "flush ruleset");
        Assert.Equal(Lines(MudFirewallRenderer.ToNftables(Policy())).Length, Lines(script).Length);
    }

    [Theory]
    [InlineData("bulb\nflush ruleset", null, "192.168.1.20", null)]
    [InlineData("bulb", "00:11:22:33:44:55; touch /tmp/x", "192.168.1.20", null)]
    [InlineData("bulb", "00:11:22:33:44:55\nflush ruleset", "192.168.1.20", null)]
    [InlineData("bulb", null, "192.168.1.20 -j ACCEPT; touch /tmp/x", null)]
    [InlineData("bulb", null, "192.168.1.20\nflush ruleset", null)]
    [InlineData("bulb", null, "192.168.1.20", "cloud.example.com\nflush ruleset")]
    [InlineData("bulb", null, "192.168.1.20", "$(touch /tmp/x)")]
    public void Render_HostileDeviceOrHost_IsRefusedOrContained(string name, string? mac, string address, string? host)
    {
        CompiledPolicy policy = Policy(device: new MudDeviceBinding(name, mac, [address]), host: host ?? "cloud.example.com");
        foreach (MudFirewallFormat format in (MudFirewallFormat[])[MudFirewallFormat.Nftables, MudFirewallFormat.Iptables])
        {
            string script;
            try
            {
                script = MudFirewallRenderer.Render(policy, format);
            }
            catch (ArgumentException)
            {
                continue;
            }

            Assert.DoesNotContain("touch", script, StringComparison.Ordinal);
            Assert.DoesNotContain(Lines(script), l => l.Trim() == "flush ruleset");
            CompiledPolicy clean = Policy(device: new MudDeviceBinding("bulb", mac is null ? null : "00:11:22:33:44:55", ["192.168.1.20"]));
            Assert.Equal(Lines(MudFirewallRenderer.Render(clean, format)).Length, Lines(script).Length);
        }
    }

    [Fact]
    public void Render_HostileDeviceAddress_ThrowsArgumentException()
    {
        CompiledPolicy policy = Policy(device: new MudDeviceBinding("bulb", null, ["192.168.1.20\nflush ruleset"]));
        Assert.Throws<ArgumentException>(() => MudFirewallRenderer.ToNftables(policy));
        Assert.Throws<ArgumentException>(() => MudFirewallRenderer.ToIptables(policy));
        CompiledPolicy mac = Policy(device: new MudDeviceBinding("bulb", "00:11:22:33:44:55;reboot"));
        Assert.Throws<ArgumentException>(() => MudFirewallRenderer.ToIptables(mac));
    }

    [Fact]
    public void Render_CommentWithShellMetacharacters_IsQuoted()
    {
        string script = MudFirewallRenderer.ToIptables(Policy(source: "a\"; touch /tmp/x; echo \"$(id)`id`\\"));
        string rule = Lines(script).Single(l => l.StartsWith("iptables -A FE_BULB_FR -d cloud.example.com", StringComparison.Ordinal));
        int open = rule.IndexOf("--comment \"", StringComparison.Ordinal) + "--comment \"".Length;
        int close = rule.IndexOf('"', open);
        Assert.Equal(" -j ACCEPT", rule[(close + 1)..]);
        Assert.DoesNotContain('$', rule);
        Assert.DoesNotContain('`', rule);
    }

    internal static string[] Lines(string script) => script.Split('\n');

    [Fact]
    public void NftCheck_RenderedCorpusAndHostilePolicies_AreAcceptedByNft()
    {
        if (!NftAvailable(out string why))
        {
            Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), "nft -c cannot run in CI: " + why);
            return;
        }

        var map = new MudAbstractionMappings();
        map.LocalNetworks.Add("192.168.0.0/16");
        map.DnsServers.Add("192.168.1.1");
        map.NtpServers.Add("fd00::1");
        var scripts = new List<string>();
        foreach (string file in (string[])["ieft-draft.json"])
        {
            MudFile mud = MudParser.ParseValid(File.ReadAllBytes(Corpus.PathOf("osmud", file)));
            CompiledPolicy p = MudRuleCompiler.Compile(mud, Bulb, map);
            scripts.Add(MudFirewallRenderer.ToNftables(p with { Rules = p.Rules.Select(r => r.RemoteHost is null ? r : r with { RemoteHost = null, RemoteAddresses = [r.Family == 6 ? "2001:db8::7" : "203.0.113.7"] }).ToList() }));
        }

        scripts.Add(MudFirewallRenderer.ToNftables(Policy(mudUrl: "https://x/\nflush ruleset", device: new MudDeviceBinding("b\"ulb\n}", "00:11:22:33:44:55", ["10.0.0.1/32", "fd00::20"]), source: "x\"; flush ruleset; \\ \u2028 é", host: "198.51.100.1")));
        foreach (string script in scripts)
        {
            string path = Path.Combine(Path.GetTempPath(), $"fededge-mud-{Guid.NewGuid():N}.nft");
            File.WriteAllText(path, script);
            try
            {
                (int code, string output) = RunNft("-c", "-f", path);
                Assert.True(code == 0, $"nft -c rejected the script ({output}):\n{script}");
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    private static bool NftAvailable(out string why)
    {
        try
        {
            (int code, string output) = RunNft("-c", "-f", "/dev/null");
            why = output;
            return code == 0;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            why = ex.Message;
            return false;
        }
    }

    private static (int Code, string Output) RunNft(params string[] args)
    {
        string exe = File.Exists("/usr/sbin/nft") ? "/usr/sbin/nft" : "nft";
        var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr);
    }
}
