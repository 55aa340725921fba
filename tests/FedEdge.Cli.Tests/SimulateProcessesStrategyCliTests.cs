namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>fededge simulate --processes</c> hands the robust strategy's settings to the cloud coordinator process: its
/// <c>--byzantine</c> f reaches the child (krum on the four demo devices needs f 0; the child's default f 1 would refuse
/// to start), and <c>--bucket-size</c>, which the coordinator process does not do, is a usage error.
/// </summary>
public sealed class SimulateProcessesStrategyCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-procs-strategy-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_ProcessesWithKrumAndByzantineZero_TheCloudRunsKrumWithFZero()
    {
        CliResult run = await CliRunner.RunAsync(
            ["simulate", "--processes", "--strategy", "krum", "--byzantine", "0", "--rounds", "1", "--local-steps", "5", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains("; aggregation krum, f 0, mixing nnm", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("final model after 1 cloud rounds", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_ProcessesWithBucketSize_IsUsageError()
    {
        CliResult run = await CliRunner.RunAsync(["simulate", "--processes", "--strategy", "median", "--bucket-size", "2", "--out", _out], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--processes does not combine with --bucket-size", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_out, "processes")));
    }
}
