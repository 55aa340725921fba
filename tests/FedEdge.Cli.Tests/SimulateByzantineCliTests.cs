using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>--byzantine F</c> and the strategies' device bounds through the built CLI: a strategy that cannot run with the
/// demo's four devices is refused before any round with one line of advice, never a stack trace.
/// </summary>
public sealed class SimulateByzantineCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-simbyz-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Theory]
    [InlineData("krum", "krum with f = 1 needs at least 5 devices (n > 2f + 2), but the demo has 4")]
    [InlineData("multikrum", "multikrum with f = 1 needs at least 5 devices (n > 2f + 2), but the demo has 4")]
    [InlineData("bulyan", "bulyan with f = 1 needs at least 7 devices (n ≥ 4f + 3), but the demo has 4")]
    public async Task Simulate_ByzantineStrategyWithTheDemosFourDevices_ExitsTwoWithOneLineOfAdvice(string strategy, string reason)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", strategy, "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("fededge simulate: " + reason, line, StringComparison.Ordinal);
        Assert.Contains("--byzantine 0", line, StringComparison.Ordinal);
        AssertNoStackTrace(result);
        Assert.False(Directory.Exists(_out), "refused before the first round, so nothing was written");
    }

    [Theory]
    [InlineData("krum")]
    [InlineData("multikrum")]
    [InlineData("bulyan")]
    public async Task Simulate_ByzantineStrategyWithByzantineZero_CompletesTwoRoundsWithEveryDevice(string strategy)
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--strategy", strategy, "--byzantine", "0", "--rounds", "2", "--thermal", "off", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));

        // Simulation.RunAsync must create its strategy with SimulationStrategy.Create(config), so --byzantine reaches it.
        Assert.True(result.ExitCode == 0, "--byzantine 0 did not reach the strategy: " + result.Stdout + result.Stderr);
        AssertNoStackTrace(result);
        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement config = doc.RootElement.GetProperty("config");
        Assert.Equal(strategy, config.GetProperty("strategy").GetString());
        Assert.Equal(0, config.GetProperty("byzantine").GetInt32());
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(2, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(4, r.GetProperty("participants").GetInt32()));
    }

    [Fact]
    public async Task Simulate_AutoencoderWithBulyanAndByzantineZero_CountsOnlyDevicesThatCanTrain()
    {
        // Two of the demo's devices have no benign rows, so the autoencoder trains on two: too few even for f = 0.
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", "bulyan", "--byzantine", "0", "--model", "autoencoder", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        Assert.Contains("bulyan with f = 0 needs at least 3 devices (n ≥ 4f + 3), but the demo has 2 that can train", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("--byzantine", result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Theory]
    [InlineData("-1", "--byzantine must be 0 or more")]
    [InlineData("700", "needs at least 1403 updates")]
    public async Task Simulate_UnusableByzantineCount_ExitsTwoWithOneLine(string f, string expected)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", "krum", "--byzantine", f, "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Fact]
    public async Task Simulate_MedianWithSecureAggregation_RefusedBecauseTheSumIsNotEnough()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", "median", "--secure-aggregation", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        Assert.Contains("median needs each device's update on its own, but secure aggregation reveals only their sum", result.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Fact]
    public async Task Simulate_BrokerAlone_ImpliesMqttAndReportsAnUnreachableBrokerInOneLine()
    {
        // A loopback port nobody listens on: only the MQTT transport tries to reach it, and fails cleanly.
        int port = LoopbackPorts.Free();
        CliResult result = await CliRunner.RunAsync(["simulate", "--broker", $"mqtt://127.0.0.1:{port}", "--rounds", "1", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 1, result.Stdout + result.Stderr);
        Assert.Contains("/ fedavg / mqtt, 1 rounds", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("fededge simulate failed:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", result.Stdout, StringComparison.Ordinal);
        AssertNoStackTrace(result);
    }

    [Theory]
    [InlineData("inproc")]
    [InlineData("grpc")]
    public async Task Simulate_BrokerWithAnotherExplicitTransport_ExitsTwoWithOneLine(string transport)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--transport", transport, "--broker", "mqtt://127.0.0.1:1883", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal($"fededge simulate: --broker names an MQTT broker, so it cannot be used with --transport {transport}; drop --transport (or use --transport mqtt).", line);
    }

    [Fact]
    public async Task Coordinator_KrumWithOneDevicePerRound_ExitsTwoBeforeStartingItsBroker()
    {
        CliResult result = await CliRunner.RunAsync(
            ["coordinator", "--strategy", "krum", "--port", LoopbackPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        Assert.Equal(
            "fededge coordinator: krum with f = 1 needs n > 2f + 2, i.e. at least 5 updates, but only 1 can take part. A round waits for --min-devices 1; use --min-devices 5, or lower --byzantine.",
            result.Stderr.Trim());
        Assert.DoesNotContain("coordinator listening", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Coordinator_KrumWithByzantineZeroAndTwoRegisteredDevices_ExitsTwoNamingTheDevices()
    {
        CliResult result = await CliRunner.RunAsync(
            ["coordinator", "--strategy", "krum", "--byzantine", "0", "--min-devices", "3", "--device", "a=mqtt://x/a.json", "--device", "b=mqtt://x/b.json", "--out", _out],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        Assert.Contains("Only 2 devices are registered with --device; register more.", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("coordinator listening", result.Stdout, StringComparison.Ordinal);
    }

    private static void AssertNoStackTrace(CliResult result)
    {
        string all = result.Stdout + result.Stderr;
        Assert.DoesNotContain("Exception", all, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
    }
}
