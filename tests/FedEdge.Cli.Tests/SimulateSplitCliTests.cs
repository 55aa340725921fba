using System.Text.Json;
using FedEdge.Testing;

namespace FedEdge.Cli.Tests;

/// <summary>`fededge simulate --split-devices K --split iid|dirichlet:ALPHA` as a process: virtual devices per file, label skew recorded, bad specs refused.</summary>
public sealed class SimulateSplitCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-split-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Simulate_DirichletSplit_RunsEightVirtualDevicesAndRecordsTheSplit()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "2", "--split", "dirichlet:0.5", "--rounds", "1", "--thermal", "off", "--out", _dir, "--runs", Path.Combine(_dir, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "report.json")));
        JsonElement config = report.RootElement.GetProperty("config");
        Assert.Equal("dirichlet:0.5", config.GetProperty("split").GetString());
        Assert.Equal(2, config.GetProperty("split_devices").GetInt32());

        // Four files, two virtual devices each, all of them in the round.
        JsonElement round = report.RootElement.GetProperty("rounds")[0];
        string[] devices = [.. round.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("device").GetString()!)];
        Assert.Equal(8, round.GetProperty("participants").GetInt32());
        Assert.Equal(8, devices.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains("Danmini_Doorbell-1", devices);
        Assert.Contains("Danmini_Doorbell-2", devices);
    }

    [Theory]
    [InlineData("dirichlet:0")]
    [InlineData("dirichlet:-1")]
    [InlineData("dirichlet:abc")]
    [InlineData("stratified")]
    public async Task Simulate_BadSplit_IsAUsageErrorInOneLine(string spec)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--split-devices", "2", "--split", spec, "--out", _dir], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--split", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }
}
