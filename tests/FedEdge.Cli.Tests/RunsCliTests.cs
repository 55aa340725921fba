using System.Text.Json;
using FedEdge.Testing;

namespace FedEdge.Cli.Tests;

/// <summary>`fededge runs` over the records real simulate and coordinator runs leave, all as processes.</summary>
public sealed class RunsCliTests
{
    [Fact]
    public async Task Simulate_TwoRuns_RecordedThenListedShownAndCompared()
    {
        string work = Directory.CreateTempSubdirectory("fededge-runs-").FullName;
        string store = Path.Combine(work, "store");
        CliResult first = await CliRunner.RunAsync(["simulate", "--rounds", "2", "--out", Path.Combine(work, "a"), "--runs", store], work);
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        CliResult second = await CliRunner.RunAsync(["simulate", "--rounds", "3", "--strategy", "median", "--out", Path.Combine(work, "b"), "--runs", store], work);
        Assert.True(second.ExitCode == 0, second.Stdout + second.Stderr);

        string[] ids = [.. Directory.GetDirectories(store).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(2, ids.Length);
        foreach ((string id, int rounds) in ids.Zip([2, 3]))
        {
            string folder = Path.Combine(store, id);
            Assert.Contains("simulate", id, StringComparison.Ordinal);
            foreach (string file in new[] { "config.json", "report.json", "rounds.csv", "loss_f1.png", "bytes.png" })
            {
                Assert.True(File.Exists(Path.Combine(folder, file)), $"{id} has no {file}");
            }

            Assert.Equal(rounds + 1, File.ReadAllLines(Path.Combine(folder, "rounds.csv")).Length);
            using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
            Assert.Equal(rounds, config.RootElement.GetProperty("settings").GetProperty("rounds").GetInt32());
            using JsonDocument report = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
            Assert.Equal(id, report.RootElement.GetProperty("run_id").GetString());
        }

        CliResult list = await CliRunner.RunAsync(["runs", "list", "--runs", store]);
        Assert.Equal(0, list.ExitCode);
        string[] lines = list.Stdout.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith(ids[0], lines[1], StringComparison.Ordinal);
        Assert.Contains("round budget of 3 reached", lines[2], StringComparison.Ordinal);

        CliResult show = await CliRunner.RunAsync(["runs", "show", ids[1], "--runs", store]);
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("strategy = \"median\"", show.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"\n\s+3 completed\s+4\s", show.Stdout);

        string plot = Path.Combine(work, "f1.png");
        CliResult compare = await CliRunner.RunAsync(["runs", "compare", ids[0], ids[1], "--runs", store, "--plot", plot]);
        Assert.Equal(0, compare.ExitCode);
        Assert.Matches(@"strategy\s+fedavg\s+median", compare.Stdout);
        Assert.Matches(@"rounds\s+2\s+3", compare.Stdout);
        Assert.Contains("final F1", compare.Stdout, StringComparison.Ordinal);
        Assert.Contains("bytes/round", compare.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"round 3\s+–\s+\d\.\d{4} \d+K", compare.Stdout);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(plot)[..4]);
    }

    [Fact]
    public async Task Coordinator_Run_RecordedWithItsRoundsAndWithoutDevicePasswords()
    {
        string work = Directory.CreateTempSubdirectory("fededge-runs-").FullName;
        string store = Path.Combine(work, "store");
        int port = LoopbackPorts.Free();

        string dashboard = "127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        CliResult run = await CliRunner.RunAsync(["coordinator", "--port", "0", "--join-timeout", "1", "--rounds", "2", "--out", Path.Combine(work, "state"), "--runs", store, "--dashboard", dashboard, "--device", "doorbell=https://mud.example/doorbell.json", "--device-passwords", SecretFiles.WriteDevicePasswords(work, ("doorbell", "TOPSECRETPASSWORD"))], work);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains($"dashboard: http://{dashboard}/", run.Stdout, StringComparison.Ordinal);

        string id = Assert.Single(Directory.GetDirectories(store).Select(Path.GetFileName))!;
        Assert.Contains("coordinator", id, StringComparison.Ordinal);
        string config = File.ReadAllText(Path.Combine(store, id, "config.json"));
        Assert.DoesNotContain("TOPSECRETPASSWORD", config, StringComparison.Ordinal);
        Assert.Contains("doorbell=***", config, StringComparison.Ordinal);

        // No device joined: three rounds failed in a row, each recorded.
        CliResult show = await CliRunner.RunAsync(["runs", "show", id, "--runs", store]);
        Assert.Equal(0, show.ExitCode);
        Assert.Equal(3, show.Stdout.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+\d+ failed\s+0\s")));
        Assert.Contains("3 rounds in a row failed", show.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_UnknownOrDamagedRun_OneLineErrorWithExitCode()
    {
        string store = Directory.CreateTempSubdirectory("fededge-runs-").FullName;
        CliResult unknown = await CliRunner.RunAsync(["runs", "show", "no-such-run", "--runs", store]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no run 'no-such-run'", unknown.Stderr, StringComparison.Ordinal);
        Assert.Single(unknown.Stderr.Trim().Split('\n'));

        Directory.CreateDirectory(Path.Combine(store, "broken"));
        await File.WriteAllTextAsync(Path.Combine(store, "broken", "config.json"), "{ not json");
        CliResult damaged = await CliRunner.RunAsync(["runs", "compare", "broken", "broken", "--runs", store]);
        Assert.Equal(1, damaged.ExitCode);
        Assert.Contains("is damaged", damaged.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", damaged.Stderr, StringComparison.Ordinal);

        CliResult empty = await CliRunner.RunAsync(["runs", "list", "--runs", Path.Combine(store, "none")]);
        Assert.Equal(0, empty.ExitCode);
        Assert.Contains("no runs in", empty.Stdout, StringComparison.Ordinal);
    }
}
