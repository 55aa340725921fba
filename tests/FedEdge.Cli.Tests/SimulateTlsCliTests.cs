using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge simulate --transport grpc|mqtt</c>: mutual TLS with a generated PKI by default, and the demo's two refusals.</summary>
public sealed class SimulateTlsCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-simtls-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("mqtt")]
    public async Task Simulate_RunsOverMutualTlsAndRefusesOtherCaAndRevokedDevices(string transport)
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--transport", transport, "--rounds", "2", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("mutual TLS: federation CA, CRL and key in", result.Stdout, StringComparison.Ordinal);

        // The CA is generated into the output folder; its key is private to the owner.
        string pki = Path.Combine(_out, "pki");
        Assert.True(File.Exists(Path.Combine(pki, "ca.pem")));
        Assert.True(File.Exists(Path.Combine(pki, "crl.pem")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(pki, "ca.key")));
        }

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        Assert.False(doc.RootElement.GetProperty("config").GetProperty("insecure_plaintext").GetBoolean());

        // The devices signed their updates with their certificates' keys: the transparency log verifies against the generated CA.
        Assert.Equal(Path.Combine(pki, "ca.pem"), doc.RootElement.GetProperty("ledger").GetProperty("ca").GetString());
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(2, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(4, r.GetProperty("participants").GetInt32()));

        Dictionary<string, string> refused = doc.RootElement.GetProperty("refused").EnumerateArray()
            .ToDictionary(r => r.GetProperty("device").GetString()!, r => string.Join("; ", r.GetProperty("reasons").EnumerateArray().Select(x => x.GetString())));
        Assert.Contains("refused in the TLS handshake (UntrustedIssuer:", refused["Foreign_CA_Camera"], StringComparison.Ordinal);
        Assert.Contains("refused in the TLS handshake (Revoked:", refused["Revoked_Smart_Plug"], StringComparison.Ordinal);
        Assert.Contains("refused Revoked_Smart_Plug: revoked certificate", result.Stdout.ReplaceLineEndings(" "), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_MqttInsecurePlaintext_RunsWithPasswordsAndNoPki()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--transport", "mqtt", "--insecure-plaintext", "--rounds", "1", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.DoesNotContain("mutual TLS", result.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_out, "pki")));

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        Assert.True(doc.RootElement.GetProperty("config").GetProperty("insecure_plaintext").GetBoolean());
        Assert.Equal(4, doc.RootElement.GetProperty("rounds")[0].GetProperty("participants").GetInt32());
        string[] refused = [.. doc.RootElement.GetProperty("refused").EnumerateArray().Select(r => r.GetProperty("device").GetString()!)];
        Assert.DoesNotContain("Foreign_CA_Camera", refused);
        Assert.DoesNotContain("Revoked_Smart_Plug", refused);
    }
}
