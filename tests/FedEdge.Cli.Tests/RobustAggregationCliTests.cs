using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Issue 15's attack demo through the built CLI (16 devices from the four N-BaIoT files, 3 attackers): bucketing for
/// the robust rules, and FedAvg that keeps running once the scaling attackers are quarantined.
/// </summary>
public sealed class RobustAggregationCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-robust-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    private async Task<JsonDocument> SimulateAsync(params string[] extra)
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "4", "--byzantine", "3", .. (extra.Contains("--attack") ? (string[])["--attackers", "3"] : []), "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs"), .. extra],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        return JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
    }

    private static string Trace(JsonElement[] rounds) =>
        string.Join(" ", rounds.Select(r => r.GetProperty("f1").GetDouble().ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public async Task Simulate_FedAvgUnderScaleTen_QuarantinesTheAttackersAndNoRoundIsRefusedAfterwards()
    {
        using JsonDocument report = await SimulateAsync("--strategy", "fedavg", "--attack", "scale:10", "--rounds", "6");
        JsonElement root = report.RootElement;
        string[] attackers = root.GetProperty("attackers").EnumerateArray().Select(a => a.GetString()!).Order(StringComparer.Ordinal).ToArray();
        string[] quarantined = root.GetProperty("quarantined").EnumerateArray().Select(q => q.GetProperty("device").GetString()!).Distinct().Order(StringComparer.Ordinal).ToArray();
        JsonElement[] rounds = root.GetProperty("rounds").EnumerateArray().ToArray();

        Assert.Equal(3, attackers.Length);
        Assert.Equal(attackers, quarantined);

        // Before the reference norm was the upper quartile, the honest devices with benign rows were refused as "25 x the
        // previous round's median" (the attack-only devices' tiny changes) once the attackers were gone: rounds failed.
        Assert.All(rounds, r => Assert.Equal(JsonValueKind.Null, r.GetProperty("failure").ValueKind));
        Assert.True(rounds[^1].GetProperty("f1").GetDouble() >= 0.9, Trace(rounds));
    }

    [Fact]
    public async Task Simulate_MedianWithBucketsUnderSignFlip_LearnsWhereThePlainMedianCallsEveryRowAnAttack()
    {
        using JsonDocument report = await SimulateAsync("--strategy", "median", "--bucket-size", "2", "--attack", "signflip", "--rounds", "8");
        JsonElement[] rounds = report.RootElement.GetProperty("rounds").EnumerateArray().ToArray();

        Assert.Equal(2, report.RootElement.GetProperty("config").GetProperty("bucket_size").GetInt32());

        // The plain median stays at F1 0.7301 (every row an attack) on this split under sign flipping.
        Assert.True(rounds[^1].GetProperty("f1").GetDouble() >= 0.99, Trace(rounds));
    }

    private static string[] Quarantined(JsonElement root) =>
        [.. root.GetProperty("quarantined").EnumerateArray().Select(q => q.GetProperty("device").GetString()!).Distinct().Order(StringComparer.Ordinal)];

    private static string[] Attackers(JsonElement root) =>
        [.. root.GetProperty("attackers").EnumerateArray().Select(a => a.GetString()!).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Simulate_KrumWithMixingUnderScaleTen_StaysWithinOnePointOfItsAttackFreeRunAndQuarantinesEveryAttacker()
    {
        // Plain Krum follows the tight cluster of attack-only devices (F1 0.7301, every row an attack) even without attack.
        using JsonDocument clean = await SimulateAsync("--strategy", "krum", "--mixing", "nnm", "--rounds", "6");
        Dispose();
        using JsonDocument attacked = await SimulateAsync("--strategy", "krum", "--mixing", "nnm", "--rounds", "6", "--attack", "scale:10");
        JsonElement[] cleanRounds = [.. clean.RootElement.GetProperty("rounds").EnumerateArray()];
        JsonElement[] rounds = [.. attacked.RootElement.GetProperty("rounds").EnumerateArray()];

        Assert.Equal("nnm", attacked.RootElement.GetProperty("config").GetProperty("mixing").GetString());
        Assert.True(cleanRounds[^1].GetProperty("f1").GetDouble() >= 0.99, Trace(cleanRounds));
        Assert.True(Math.Abs(rounds[^1].GetProperty("f1").GetDouble() - cleanRounds[^1].GetProperty("f1").GetDouble()) <= 0.01, Trace(cleanRounds) + " vs " + Trace(rounds));
        Assert.Equal(Attackers(attacked.RootElement), Quarantined(attacked.RootElement));
    }

    [Fact]
    public async Task Simulate_KrumWithMixingUnderSignFlip_QuarantinesEveryAttackerWithinFiveRoundsAndNoHonestDevice()
    {
        using JsonDocument report = await SimulateAsync("--strategy", "krum", "--mixing", "nnm", "--rounds", "5", "--attack", "signflip");
        JsonElement root = report.RootElement;

        // Before the direction test, the flipped attack-only device (closest peer at cosine 0.5-0.7) was never caught.
        Assert.Equal(3, Attackers(root).Length);
        Assert.Equal(Attackers(root), Quarantined(root));
        Assert.All(root.GetProperty("quarantined").EnumerateArray(), q => Assert.InRange(q.GetProperty("round").GetInt64(), 1, 5));
    }

    [Fact]
    public async Task Simulate_MixingWithBuckets_IsAUsageError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", "krum", "--mixing", "nnm", "--bucket-size", "2", "--out", _out], workingDirectory: RepoPaths.Root);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--mixing nnm and --bucket-size", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", "--bucket-size must be 1")]
    [InlineData("-3", "--bucket-size must be 1")]
    public async Task Simulate_BucketSizeBelowOne_IsAUsageError(string value, string expected)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--strategy", "median", "--bucket-size", value, "--out", _out], workingDirectory: RepoPaths.Root);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_KrumWithBucketsTooFewForItsBound_IsRefusedWithTheBucketBound()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "4", "--strategy", "krum", "--byzantine", "3", "--bucket-size", "2", "--out", _out],
            workingDirectory: RepoPaths.Root);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("needs at least 17 devices", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("buckets", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }
}
