using System.Text.RegularExpressions;
using FedEdge.Mud.Compilation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Mud.Tests;

/// <summary>Arbitrary strings through parse, compile and render: the scripts have exactly the lines the rules produce.</summary>
public partial class HostileInputPropertyTests
{
    private static readonly string[] Fragments =
    [
        "\n", "\r", "\r\n", "\u2028", "\u0085", "\u0000", "\t", " ", "\"", "'", "\\", "`", "$(touch /tmp/x)", ";", "#", "{", "}",
        "flush ruleset", "touch /tmp/pwned", "https://", "example.com", "a", "-", ".", "/", "%0a", "é", "10.0.0.1", "::1",
    ];

    /// <summary>Strings made of hostile fragments and arbitrary characters, at most a few dozen long.</summary>
    public static Arbitrary<string> Strings() =>
        Gen.OneOf(
                Gen.Elements(Fragments),
                ArbMap.Default.GeneratorFor<char>().Select(c => c.ToString()))
            .ArrayOf()
            .Select(parts => string.Concat(parts.Take(8)))
            .ToArbitrary();

    private static readonly MudDeviceBinding Bulb = new("bulb", "00:11:22:33:44:55", ["192.168.1.20", "fd00::20"]);

    [Property(MaxTest = 500, Arbitrary = [typeof(HostileInputPropertyTests)])]
    public void ParseCompileRender_ArbitraryStrings_OutputHasExactlyTheRuleLines(int slot, string value, string prefix)
    {
        string s = Math.Abs(slot % 6) switch
        {
            0 => "https://bulb.example.com/" + value,
            1 => value,
            2 => prefix + value,
            3 => value + ".example.com",
            4 => "ok" + value,
            _ => value,
        };
        string json = (Math.Abs(slot) % 6) switch
        {
            0 => HostileInputTests.Template(mudUrl: s),
            1 => HostileInputTests.Template(aclName: s),
            2 => HostileInputTests.Template(aceName: s),
            3 => HostileInputTests.Template(dnsName: s),
            4 => HostileInputTests.Template(systemInfo: s, toAcl: "to" + value),
            _ => HostileInputTests.Template(mudUrl: "https://" + s + "/x"),
        };
        MudParseResult result = MudParser.Parse(json);
        if (!result.IsValid)
        {
            return;
        }

        CompiledPolicy policy = MudRuleCompiler.Compile(result.File!, Bulb);
        AssertShape(policy);
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(HostileInputPropertyTests)])]
    public void Render_ArbitraryDeviceBindingAndNames_RefusedOrExactlyTheRuleLines(string name, string mac, string address, string source, string url, bool withMac)
    {
        var device = new MudDeviceBinding(name, withMac ? "00:11:22:33:44:5" + mac : null, ["192.168.1." + address]);
        var policy = new CompiledPolicy
        {
            Device = device,
            MudUrl = url,
            Notes = [source],
            Rules = [new CompiledRule { Direction = MudDirection.ToDevice, Family = 4, Protocol = 17, RemoteHost = "h" + address + ".example.com", Action = MudForwarding.Drop, Source = source }, .. MudRuleCompiler.Defaults(new MudAbstractionMappings())],
        };
        try
        {
            AssertShape(policy);
        }
        catch (ArgumentException)
        {
            // Refused: nothing was emitted.
        }
    }

    [GeneratedRegex("^    (?:[A-Za-z0-9 .:/,{}<>=!-]+ )?(?:accept|drop|reject) comment \"[^\"\\\\\\p{Cc}]*\"$", RegexOptions.CultureInvariant)]
    private static partial Regex NftRuleLine();

    [GeneratedRegex("^ip6?tables -A FE_[A-Z0-9_]+_(?:FR|TO)(?: [!A-Za-z0-9.:/,_-]+)* -m comment --comment \"[^\"\\\\$`\\p{Cc}]*\" -j (?:ACCEPT|DROP|REJECT)$", RegexOptions.CultureInvariant)]
    private static partial Regex IptRuleLine();

    private static void AssertShape(CompiledPolicy policy)
    {
        string nft = MudFirewallRenderer.ToNftables(policy);
        string ipt = MudFirewallRenderer.ToIptables(policy);
        int macs = policy.Device.Mac is null ? 0 : 1;
        IReadOnlyList<string> addrs = policy.Device.Addresses ?? [];

        // nftables: header, notes, table, two chains (open, rules, close), forward chain (open, type, hooks, close), close; all rules here give one line each.
        string[] n = nft.Split('\n');
        Assert.Equal("", n[^1]);
        int nftRules = policy.Rules.Sum(r => 1);
        Assert.Equal(1 + policy.Notes.Count + 1 + 4 + nftRules + 2 + (2 * macs) + (2 * addrs.Count) + 2, n.Length - 1);
        Assert.Equal(nftRules, n.Count(l => NftRuleLine().IsMatch(l)));
        Assert.All(n.Take(1 + policy.Notes.Count), l => Assert.StartsWith("# ", l, StringComparison.Ordinal));
        Assert.All(n.SkipLast(1), l => Assert.DoesNotContain(l, ch => char.IsControl(ch) || ch is '\u2028' or '\u2029'));

        // iptables: shebang, header, notes, set -e, per tool four chain lines and the hooks, then one line per rule and family.
        string[] p = ipt.Split('\n');
        Assert.Equal("", p[^1]);
        int iptRules = policy.Rules.Sum(r => r.Family == 0 ? 2 : 1);
        int hooks = (2 * macs) + (macs == 1 && addrs.Count == 0 ? 2 : 0) + (2 * addrs.Count);
        Assert.Equal(2 + policy.Notes.Count + 1 + 8 + hooks + iptRules, p.Length - 1);
        Assert.Equal(iptRules, p.Count(l => IptRuleLine().IsMatch(l)));
        Assert.All(p.SkipLast(1), l => Assert.True(l.StartsWith('#') || l == "set -e" || l.StartsWith("iptables ", StringComparison.Ordinal) || l.StartsWith("ip6tables ", StringComparison.Ordinal), l));
        Assert.All(p.Where(l => l.StartsWith('#')), l => Assert.DoesNotContain(l, ch => char.IsControl(ch) || ch is '\u2028' or '\u2029'));
    }
}
