using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge simulate</c> with secure aggregation and differential privacy, end to end through the built CLI.</summary>
public sealed class SimulatePrivacyCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-simpriv-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_SecureAggregationWithDistributedDp_ReportsEpsilonPerRoundAndStopsAtBudget()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--rounds", "10", "--secure-aggregation", "--dp-noise", "1.0", "--dp-clip", "1.0", "--dp-target-epsilon", "8", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("privacy budget", result.Stdout, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement config = doc.RootElement.GetProperty("config");
        Assert.True(config.GetProperty("secure_aggregation").GetBoolean());
        Assert.Equal(1.0, config.GetProperty("dp_noise").GetDouble());
        Assert.Equal(1.0, config.GetProperty("dp_clip").GetDouble());
        Assert.Equal(8.0, config.GetProperty("dp_target_epsilon").GetDouble());

        // Every device takes part every round (q = 1), so ε grows each round and the budget of 8 stops training early.
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.InRange(rounds.Length, 1, 9);
        double previous = 0;
        foreach (JsonElement r in rounds)
        {
            Assert.Equal(4, r.GetProperty("participants").GetInt32());
            double eps = r.GetProperty("epsilon").GetDouble();
            Assert.True(eps > previous, $"ε did not grow: {eps} after {previous}");
            Assert.True(eps <= 8, $"ε {eps} exceeds the budget");
            previous = eps;
        }
    }

    [Fact]
    public async Task Simulate_SecureAggregation_TrainsAsWellAsThePlainGoal()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--secure-aggregation", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement root = doc.RootElement;
        Assert.True(root.GetProperty("config").GetProperty("secure_aggregation").GetBoolean());
        JsonElement[] rounds = root.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(10, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(JsonValueKind.Null, r.GetProperty("epsilon").ValueKind));
        double fed = root.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble();
        double central = root.GetProperty("final").GetProperty("centralized").GetProperty("f1").GetDouble();
        Assert.True(fed >= 0.95 && central - fed <= 0.02, $"federated F1 {fed} vs centralised {central}");
    }

    [Fact]
    public async Task Simulate_SecureAggregationOverEmbeddedMqtt_CompletesEveryRoundWithAllDevices()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--transport", "mqtt", "--secure-aggregation", "--rounds", "3", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement config = doc.RootElement.GetProperty("config");
        Assert.Equal("mqtt", config.GetProperty("transport").GetString());
        Assert.True(config.GetProperty("secure_aggregation").GetBoolean());
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(3, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(4, r.GetProperty("participants").GetInt32()));
        Assert.All(rounds, r => Assert.True(r.GetProperty("loss").GetDouble() > 0));
    }

    [Fact]
    public async Task Simulate_TargetEpsilonWithoutNoise_ExitsWithClearError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--dp-target-epsilon", "5", "--out", _out]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--dp-target-epsilon needs --dp-noise", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_SecureAggregationOverGrpc_CompletesEveryRoundWithAllDevices()
    {
        // gRPC carries the protocol channel too: secure aggregation runs on all three transports.
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--secure-aggregation", "--transport", "grpc", "--rounds", "2", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        Assert.Equal("grpc", doc.RootElement.GetProperty("config").GetProperty("transport").GetString());
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(2, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(4, r.GetProperty("participants").GetInt32()));
    }
}
