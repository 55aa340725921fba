using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Bulyan on the 16-device demo (f = 3 needs 15 updates) once reputation quarantines the scaling attackers: the rounds
/// go on with f lowered to the largest value the remaining devices allow (never below 3 minus the quarantined), the report
/// names that f per round, and the committee's validators, recomputing with the same strategy, co-sign every round.
/// </summary>
public sealed class BulyanAfterQuarantineCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-bulyan-f-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_BulyanWithMixingUnderScaleTen_KeepsRunningAfterTheQuarantinesWithALowerFAndTheCommitteeCoSignsEveryRound()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "4", "--byzantine", "3", "--strategy", "bulyan", "--mixing", "nnm", "--attack", "scale:10", "--attackers", "3",
             "--rounds", "5", "--committee", "4", "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement root = report.RootElement;
        JsonElement[] rounds = [.. root.GetProperty("rounds").EnumerateArray().Where(r => r.GetProperty("failure").ValueKind == JsonValueKind.Null)];
        string trace = string.Join(" | ", root.GetProperty("rounds").EnumerateArray().Select(r => string.Create(CultureInfo.InvariantCulture,
            $"round {r.GetProperty("round")} participants {r.GetProperty("participants")} f {r.GetProperty("byzantine")} F1 {r.GetProperty("f1")} failure {r.GetProperty("failure")}")));

        string[] attackers = [.. root.GetProperty("attackers").EnumerateArray().Select(a => a.GetString()!).Order(StringComparer.Ordinal)];
        string[] quarantined = [.. root.GetProperty("quarantined").EnumerateArray().Select(q => q.GetProperty("device").GetString()!).Distinct().Order(StringComparer.Ordinal)];
        Assert.Equal(attackers, quarantined);

        // After the quarantines 13 devices remain: below n ≥ 4·3 + 3 = 15, so these rounds failed before; f = 2 fits (11).
        JsonElement[] after = [.. rounds.Where(r => r.GetProperty("participants").GetInt32() < 15)];
        Assert.True(after.Length >= 1, trace);
        Assert.All(after, r => Assert.InRange(r.GetProperty("byzantine").GetInt32(), 0, 2));
        Assert.All(rounds.Where(r => r.GetProperty("participants").GetInt32() >= 15), r => Assert.Equal(3, r.GetProperty("byzantine").GetInt32()));
        Assert.True(root.GetProperty("rounds")[root.GetProperty("rounds").GetArrayLength() - 1].GetProperty("failure").ValueKind == JsonValueKind.Null, trace);
        Assert.True(rounds[^1].GetProperty("f1").GetDouble() >= 0.99, trace);

        // The in-process validators recompute each round with bulyan and its f from n alone: none refuses. (One may be
        // cancelled once the other three reached the quorum: "not needed", a matter of timing on a loaded machine.)
        Assert.All(rounds, r => Assert.InRange(r.GetProperty("committee").GetProperty("cosignatures").GetInt32(), 3, 4));
        Assert.All(
            rounds.SelectMany(r => r.GetProperty("committee").GetProperty("witnesses").EnumerateArray()),
            w => Assert.True(w.GetProperty("signed").GetBoolean() || w.GetProperty("problem").GetString()!.StartsWith("not needed", StringComparison.Ordinal), w.ToString()));
        Assert.Contains("f 2 (of 3: devices quarantined)", result.Stdout, StringComparison.Ordinal);
    }
}
