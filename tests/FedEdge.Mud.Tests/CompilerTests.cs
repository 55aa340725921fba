using FedEdge.Mud.Compilation;

namespace FedEdge.Mud.Tests;

public class CompilerTests
{
    private static MudFile Load(string folder, string file, MudParseMode mode = MudParseMode.Strict)
    {
        MudParseResult r = MudParser.Parse(File.ReadAllBytes(Corpus.PathOf(folder, file)), new MudParserOptions { Mode = mode });
        Assert.NotNull(r.File);
        return r.File!;
    }

    private static readonly MudDeviceBinding Bulb = new("lightbulb", "00:11:22:33:44:55", ["192.168.1.20"]);

    [Fact]
    public void ToNftables_RfcSection9Example_EmitsStatefulRulesThenDnsNtpThenDeny()
    {
        CompiledPolicy policy = MudRuleCompiler.Compile(Load("osmud", "ieft-draft.json"), Bulb);
        string nft = MudFirewallRenderer.ToNftables(policy);
        string[] lines = nft.Split('\n').Select(l => l.Trim()).ToArray();

        int from = Array.IndexOf(lines, "chain lightbulb_from {");
        int to = Array.IndexOf(lines, "chain lightbulb_to {");
        Assert.True(from >= 0 && to > from, nft);
        Assert.Equal("ip6 daddr test.example.com tcp dport 443 ct state new,established accept comment \"mud-76100-v6fr/cl0-frdev\"", lines[from + 1]);
        Assert.Equal("udp dport 53 ct state new,established accept comment \"default DNS\"", lines[from + 2]);
        Assert.Equal("tcp dport 53 ct state new,established accept comment \"default DNS\"", lines[from + 3]);
        Assert.Equal("udp dport 123 ct state new,established accept comment \"default NTP\"", lines[from + 4]);
        Assert.Equal("drop comment \"default deny\"", lines[from + 5]);
        Assert.Equal("ip6 saddr test.example.com tcp sport 443 ct state established,related accept comment \"mud-76100-v6to/cl0-todev\"", lines[to + 1]);
        Assert.Contains("ether saddr 00:11:22:33:44:55 jump lightbulb_from", lines);
        Assert.Contains("ip daddr 192.168.1.20 jump lightbulb_to", lines);
        Assert.Equal(nft.Count(c => c == '{'), nft.Count(c => c == '}'));
    }

    [Fact]
    public void ToIptables_RfcSection9Example_UsesIp6tablesAndConntrack()
    {
        string ipt = MudFirewallRenderer.ToIptables(MudRuleCompiler.Compile(Load("osmud", "ieft-draft.json"), Bulb));
        Assert.Contains("ip6tables -A FE_LIGHTBULB_FR -d test.example.com -p tcp --dport 443 -m conntrack --ctstate NEW,ESTABLISHED -m comment --comment \"mud-76100-v6fr/cl0-frdev\" -j ACCEPT", ipt, StringComparison.Ordinal);
        Assert.Contains("ip6tables -A FE_LIGHTBULB_TO -s test.example.com -p tcp --sport 443 -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment \"mud-76100-v6to/cl0-todev\" -j ACCEPT", ipt, StringComparison.Ordinal);
        Assert.Contains("iptables -A FORWARD -m mac --mac-source 00:11:22:33:44:55 -j FE_LIGHTBULB_FR", ipt, StringComparison.Ordinal);
        Assert.EndsWith("-m comment --comment \"default deny\" -j DROP", ipt.TrimEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain("iptables -A FE_LIGHTBULB_FR -d test.example.com", ipt.Replace("ip6tables", "X", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void AllowsConnection_RfcExample_OnlyTheDeclaredService()
    {
        CompiledPolicy policy = MudRuleCompiler.Compile(Load("osmud", "ieft-draft.json"), Bulb);
        Assert.True(policy.AllowsConnection("test.example.com", 443, 6));
        Assert.False(policy.AllowsConnection("test.example.com", 8443, 6));
        Assert.False(policy.AllowsConnection("coordinator.example.org", 443, 6));
        Assert.False(policy.AllowsConnection("test.example.com", 443, 17));
        Assert.True(policy.AllowsConnection("9.9.9.9", 53, 17));
        Assert.True(policy.AllowsConnection("pool.ntp.org", 123, 17));
    }

    [Fact]
    public void Compile_AbstractionsWithoutMappings_AreOmittedAndReported()
    {
        CompiledPolicy policy = MudRuleCompiler.Compile(Load("nist-mud", "mudfile-controllerclass-test.json"), Bulb);
        Assert.Contains(policy.Notes, n => n.Contains("controller 'https://controller.nist.local'", StringComparison.Ordinal));
        Assert.DoesNotContain(policy.Rules, r => r.Origin == MudRuleOrigin.Explicit && r.Source.Contains("cl0", StringComparison.Ordinal) && r.RemoteAddresses.Count == 0 && r.RemoteHost is null);
    }

    [Fact]
    public void Compile_ControllerMapping_ExpandsToAddresses()
    {
        var map = new MudAbstractionMappings();
        map.Controllers["https://controller.nist.local"] = ["10.0.0.5", "fd00::5"];
        CompiledPolicy policy = MudRuleCompiler.Compile(Load("nist-mud", "mudfile-controllerclass-test.json"), Bulb, map);
        Assert.DoesNotContain(policy.Notes, n => n.Contains("controller.nist.local", StringComparison.Ordinal));
        CompiledRule rule = policy.Rules.First(r => r.Origin == MudRuleOrigin.Explicit && r.RemoteAddresses.Contains("10.0.0.5"));
        string nft = MudFirewallRenderer.ToNftables(policy);
        Assert.Contains("10.0.0.5", nft, StringComparison.Ordinal);
        Assert.True(policy.AllowsConnection("10.0.0.5", rule.RemotePort?.Port ?? 1, rule.Protocol ?? 6) || rule.Direction == MudDirection.ToDevice);
    }

    [Fact]
    public void Compile_LocalNetworksAndSameManufacturer_ExpandFromMappingsAndRegistry()
    {
        MudFile f = Load("nist-mud", "mudfile-local-and-same-mfg-test.json");
        var map = new MudAbstractionMappings();
        map.LocalNetworks.Add("192.168.0.0/16");
        string authority = new Uri(f.MudUrl).Host;
        map.AdmittedDevices.Add(($"https://{authority}/other-device", "192.168.7.7"));
        map.AdmittedDevices.Add(("https://unrelated.example.net/x", "192.168.9.9"));
        CompiledPolicy policy = MudRuleCompiler.Compile(f, Bulb, map);
        string nft = MudFirewallRenderer.ToNftables(policy);
        Assert.Contains("192.168.0.0/16", nft, StringComparison.Ordinal);
        Assert.Contains("192.168.7.7", nft, StringComparison.Ordinal);
        Assert.DoesNotContain("192.168.9.9", nft, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mud-visualizer", "coffee_multiple.json")]
    [InlineData("nist-mud", "mudfile-sensor.json")]
    [InlineData("cisco-mud-manager", "Luminaire_150.json")]
    [InlineData("mudmaker", "cloud-service.json")]
    [InlineData("nist-mud", "mudfile-tcp-direction-test.json")]
    public void Render_CorpusFile_EveryExplicitRuleAppearsAndEndsWithDeny(string folder, string file)
    {
        MudFile f = Load(folder, file);
        CompiledPolicy policy = MudRuleCompiler.Compile(f, Bulb);
        int aces = f.AclsFor(MudDirection.FromDevice).Concat(f.AclsFor(MudDirection.ToDevice)).Sum(a => a.Aces.Count);
        Assert.Equal(aces, policy.Rules.Count(r => r.Origin == MudRuleOrigin.Explicit) + policy.Notes.Count);
        string nft = MudFirewallRenderer.ToNftables(policy);
        string ipt = MudFirewallRenderer.ToIptables(policy);
        foreach (CompiledRule r in policy.Rules.Where(r => r.Origin == MudRuleOrigin.Explicit))
        {
            Assert.Contains($"\"{r.Source}\"", nft, StringComparison.Ordinal);
            Assert.Contains($"\"{r.Source}\"", ipt, StringComparison.Ordinal);
        }

        Assert.Equal(2, nft.Split('\n').Count(l => l.Trim() == "drop comment \"default deny\""));
    }

    [Fact]
    public void Compile_TcpDirectionTest_ToDeviceInitiatedIsNewOnTheInboundSide()
    {
        MudFile f = Load("nist-mud", "mudfile-tcp-direction-test.json", MudParseMode.Lenient);
        CompiledPolicy policy = MudRuleCompiler.Compile(f, Bulb, new MudAbstractionMappings());
        foreach (CompiledRule r in policy.Rules.Where(r => r.Origin == MudRuleOrigin.Explicit && r.State != MudConnectionState.Any))
        {
            MudAce ace = f.Acls.SelectMany(a => a.Aces.Select(x => (a, x))).Single(p => $"{p.a.Name}/{p.x.Name}" == r.Source).x;
            bool deviceInitiates = ace.Matches.Tcp!.DirectionInitiated == MudDirection.FromDevice;
            bool outbound = r.Direction == MudDirection.FromDevice;
            Assert.Equal(deviceInitiates == outbound ? MudConnectionState.NewOrEstablished : MudConnectionState.Established, r.State);
        }
    }
}
