using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>The demo MUD material in samples/mud: strict-valid files and detached signatures that verify against the demo CA.</summary>
public class ShippedMudCliTests
{
    private static readonly string MudDir = Path.Combine(RepoPaths.Root, "samples", "mud");

    private static readonly string[] Profiled = ["Danmini_Doorbell", "Ecobee_Thermostat", "Ennio_Doorbell", "Provision_PT_737E_Security_Camera"];

    [Fact]
    public async Task MudValidate_ShippedFilesStrict_AllPass()
    {
        string[] files = Directory.GetFiles(MudDir, "*.json").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Profiled.Length + 1, files.Length);
        CliResult result = await CliRunner.RunAsync(["mud", "validate", .. files, "--json"]);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        JsonElement[] reports = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.EnumerateArray().ToArray() : [doc.RootElement];
        Assert.Equal(files.Length, reports.Length);
        Assert.All(reports, r =>
        {
            Assert.True(r.GetProperty("ok").GetBoolean(), r.ToString());
            Assert.Equal("strict", r.GetProperty("mode").GetString());
        });
    }

    [Theory]
    [InlineData("Danmini_Doorbell")]
    [InlineData("Ecobee_Thermostat")]
    [InlineData("Ennio_Doorbell")]
    [InlineData("Provision_PT_737E_Security_Camera")]
    public async Task MudVerify_ShippedSignature_ValidAgainstDemoCa(string device)
    {
        CliResult result = await Verify(device);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.True(doc.RootElement.GetProperty("valid").GetBoolean(), result.Stdout);
        Assert.Contains("FedEdge Demo MUD Signer", doc.RootElement.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MudVerify_TamperedShippedFile_ContentDigestMismatch()
    {
        CliResult result = await Verify("Tampered_Baby_Monitor");
        Assert.Equal(1, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.False(doc.RootElement.GetProperty("valid").GetBoolean());
        Assert.Contains("ContentDigestMismatch", doc.RootElement.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MudVerify_ShippedSignatureAgainstOtherCa_Untrusted()
    {
        CliResult result = await CliRunner.RunAsync(
            ["mud", "verify", "--file", Path.Combine(MudDir, "Danmini_Doorbell.json"), "--signature", Path.Combine(MudDir, "Danmini_Doorbell.p7s"),
             "--trust", Path.Combine(RepoPaths.MudCorpus, "signed", "test-ca.cert.pem"), "--json"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("UntrustedSigner", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--mac", "00:11:22:33:44:55\nflush ruleset", "nftables")]
    [InlineData("--address", "192.168.1.20; touch /tmp/pwned", "iptables")]
    [InlineData("--address", "192.168.1.20\nflush ruleset", "nftables")]
    public async Task MudCompile_HostileDeviceValue_OneLineErrorAndNoScript(string option, string value, string format)
    {
        CliResult result = await CliRunner.RunAsync(["mud", "compile", Path.Combine(MudDir, "Danmini_Doorbell.json"), "--format", format, option, value]);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(string.Empty, result.Stdout);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.StartsWith("Nothing compiled:", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MudCompile_HostileDeviceName_StaysInsideTheHeaderComment()
    {
        CliResult clean = await CliRunner.RunAsync(["mud", "compile", Path.Combine(MudDir, "Danmini_Doorbell.json"), "--format", "iptables", "--device", "bell"]);
        CliResult result = await CliRunner.RunAsync(["mud", "compile", Path.Combine(MudDir, "Danmini_Doorbell.json"), "--format", "iptables", "--device", "bell\ntouch /tmp/pwned"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(clean.Stdout.Split('\n').Length, result.Stdout.Split('\n').Length);
        Assert.DoesNotContain(result.Stdout.Split('\n'), l => l.StartsWith("touch", StringComparison.Ordinal));
    }

    private static Task<CliResult> Verify(string device) => CliRunner.RunAsync(
        ["mud", "verify", "--file", Path.Combine(MudDir, device + ".json"), "--signature", Path.Combine(MudDir, device + ".p7s"),
         "--trust", Path.Combine(MudDir, "demo-ca.cert.pem"), "--json"]);
}
