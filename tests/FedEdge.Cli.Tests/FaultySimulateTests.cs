using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Reliability in CI: a whole federation with half of all messages dropped on every link still completes
/// every round and ends within one F1 point of the loss-free run, because tasks and updates are re-sent
/// until acknowledged and lost devices rejoin by themselves.
/// </summary>
public sealed partial class FaultySimulateTests : IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(6);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "fededge-faulty-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public Task Simulate_HalfLossOnEveryLink_InProcess_CompletesEveryRoundWithinOnePointOfLossFree()
        => AssertHalfLossMatchesLossFreeAsync([]);

    [Fact]
    public Task Simulate_HalfLossOnEveryLink_EmbeddedMqtt_CompletesEveryRoundWithinOnePointOfLossFree()
        => AssertHalfLossMatchesLossFreeAsync(["--transport", "mqtt"]);

    private async Task AssertHalfLossMatchesLossFreeAsync(string[] transport)
    {
        string lossFreeOut = Path.Combine(_root, "A");
        string lossyOut = Path.Combine(_root, "B");

        CliResult lossFree = await CliRunner.RunAsync(
            ["simulate", "--rounds", "10", .. transport, "--out", lossFreeOut],
            workingDirectory: RepoPaths.Root,
            timeout: RunTimeout);
        Assert.True(lossFree.ExitCode == 0, lossFree.Stdout + lossFree.Stderr);

        CliResult lossy = await CliRunner.RunAsync(
            ["simulate", "--rounds", "10", "--faults", "drop=0.5", .. transport, "--out", lossyOut],
            workingDirectory: RepoPaths.Root,
            timeout: RunTimeout);
        Assert.True(lossy.ExitCode == 0, lossy.Stdout + lossy.Stderr);

        using JsonDocument a = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(lossFreeOut, "report.json")));
        using JsonDocument b = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(lossyOut, "report.json")));

        JsonElement[] lossyRounds = b.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(Enumerable.Range(1, 10), lossyRounds.Select(r => r.GetProperty("round").GetInt32()));
        Assert.DoesNotContain("failed:", lossy.Stdout, StringComparison.Ordinal);
        foreach (JsonElement round in lossyRounds)
        {
            int participants = round.GetProperty("participants").GetInt32();
            Assert.True(participants >= 1, $"round {round.GetProperty("round").GetInt32()} aggregated {participants} updates under 50% loss\n{lossy.Stdout}");
        }

        double lossFreeF1 = FederatedF1(a.RootElement);
        double lossyF1 = FederatedF1(b.RootElement);
        Assert.True(
            Math.Abs(lossyF1 - lossFreeF1) <= 0.01,
            $"F1 with 50% loss {lossyF1} vs loss-free {lossFreeF1}\n{lossy.Stdout}");

        // Every round line reports its re-sends and losses, and the faults really dropped messages.
        (long Resent, long Lost)[] counts = ResendCounts().Matches(lossy.Stdout)
            .Select(m => (long.Parse(m.Groups[1].Value, NumberStyles.Integer, CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, NumberStyles.Integer, CultureInfo.InvariantCulture)))
            .ToArray();
        Assert.True(counts.Length == 10, $"expected 10 round lines with re-sent/lost counts, found {counts.Length}\n{lossy.Stdout}");
        Assert.True(counts.Sum(c => c.Lost) > 0, "no message was lost at drop=0.5\n" + lossy.Stdout);
        Assert.True(counts.Sum(c => c.Resent) > 0, "nothing was re-sent although messages were lost\n" + lossy.Stdout);
        Assert.DoesNotMatch(ResendCounts(), lossFree.Stdout);
    }

    private static double FederatedF1(JsonElement report)
        => report.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble();

    [GeneratedRegex(@"re-sent\s+(\d+)\s+lost\s+(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex ResendCounts();
}
