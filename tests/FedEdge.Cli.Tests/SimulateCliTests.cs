using System.Text.Json;

namespace FedEdge.Cli.Tests;

public sealed class SimulateCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-sim-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_DefaultShippedData_WritesReportAndPlotsAndMeetsF1Goal()
    {
        // Run from the repository root as a user of a fresh clone would: the shipped samples/data is the default.
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--out", _out, "--eval", Path.Combine(RepoPaths.Data, "nbaiot")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("refused", result.Stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement root = doc.RootElement;
        Assert.Equal("inproc", root.GetProperty("config").GetProperty("transport").GetString());
        JsonElement[] rounds = root.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(10, rounds.Length);
        foreach (JsonElement r in rounds)
        {
            foreach (string field in new[] { "round", "participants", "loss", "f1", "bytes_up", "bytes_down", "seconds" })
            {
                Assert.True(r.TryGetProperty(field, out _), "rounds[] lacks " + field);
            }

            Assert.Equal(4, r.GetProperty("participants").GetInt32());
            Assert.True(r.GetProperty("bytes_down").GetInt64() > 4 * 4 * 9000, "each round ships the 9,473-parameter model to 4 devices");
        }

        JsonElement final = root.GetProperty("final");
        double fed = final.GetProperty("federated").GetProperty("f1").GetDouble();
        double central = final.GetProperty("centralized").GetProperty("f1").GetDouble();
        Assert.True(fed >= 0.95, $"federated F1 {fed}");
        Assert.True(central - fed <= 0.02, $"federated F1 {fed} vs centralised {central}");
        foreach (string field in new[] { "accuracy", "precision", "recall", "f1", "fpr" })
        {
            Assert.True(final.GetProperty("centralized").TryGetProperty(field, out _));
            Assert.True(final.GetProperty("eval").GetProperty("federated").TryGetProperty(field, out _));
            Assert.True(final.GetProperty("eval").GetProperty("centralized").TryGetProperty(field, out _));
        }

        Assert.Equal(4, final.GetProperty("devices").GetArrayLength());
        Assert.Equal(
            ["Danmini_Doorbell", "Ecobee_Thermostat", "Ennio_Doorbell", "Provision_PT_737E_Security_Camera"],
            final.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("device").GetString()).Order(StringComparer.Ordinal));
        AssertMudRefusals(root, result.Stdout);
        string[] audit = await File.ReadAllLinesAsync(Path.Combine(_out, "audit.log"));
        Assert.Equal(10, audit.Length);
        Assert.Contains(final.GetProperty("model_hash").GetString()!, audit[^1], StringComparison.Ordinal);
        foreach (string png in new[] { "loss_f1.png", "bytes.png" })
        {
            byte[] bytes = await File.ReadAllBytesAsync(Path.Combine(_out, png));
            Assert.True(bytes.Length > 1000 && bytes[1] == (byte)'P' && bytes[2] == (byte)'N' && bytes[3] == (byte)'G', png + " is not a PNG");
        }
    }

    /// <summary>RFC 8520 admission refuses exactly the device without a MUD URL and the one whose signed MUD file was altered, with MUD's reasons.</summary>
    internal static void AssertMudRefusals(JsonElement root, string stdout)
    {
        Dictionary<string, string[]> refused = root.GetProperty("refused").EnumerateArray().ToDictionary(
            r => r.GetProperty("device").GetString()!,
            r => r.GetProperty("reasons").EnumerateArray().Select(x => x.GetString()!).ToArray());
        Assert.Equal(["Tampered_Baby_Monitor", "Unprofiled_IP_Camera"], refused.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["The device presented no MUD URL."], refused["Unprofiled_IP_Camera"]);
        string tampered = Assert.Single(refused["Tampered_Baby_Monitor"]);
        Assert.StartsWith("MUD signature invalid (ContentDigestMismatch)", tampered, StringComparison.Ordinal);
        Assert.Contains("refused Tampered_Baby_Monitor: MUD signature invalid (ContentDigestMismatch)", stdout, StringComparison.Ordinal);
        Assert.Contains("refused Unprofiled_IP_Camera: The device presented no MUD URL.", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_MissingMudFolder_ExitsWithClearError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--mud", Path.Combine(_out, "nope"), "--out", _out]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("the MUD folder", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_MissingDataFolder_ExitsWithClearError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--data", Path.Combine(_out, "nope"), "--out", _out]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("was not found", result.Stderr, StringComparison.Ordinal);
    }
}
