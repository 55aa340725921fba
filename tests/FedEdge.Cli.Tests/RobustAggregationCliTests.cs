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
            ["simulate", "--split-devices", "4", "--byzantine", "3", "--attackers", "3", "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs"), .. extra],
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
