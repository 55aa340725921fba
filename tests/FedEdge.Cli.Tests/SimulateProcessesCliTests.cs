using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>fededge simulate --topology hierfavg --processes</c> (issue 14): the cloud, the edges and the devices run as their own
/// <c>fededge</c> processes over real embedded brokers, over mutual TLS with certificates generated into OUT/pki by
/// default; report.json records their pids, the tree and the bytes per tier.
/// </summary>
public sealed class SimulateProcessesCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-procs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_HierFavgAsProcesses_RecordsDistinctPidsTreeAndBytesPerTier()
    {
        CliResult run = await CliRunner.RunAsync(
            ["simulate", "--topology", "hierfavg", "--edges", "2", "--k2", "2", "--rounds", "2", "--local-steps", "10", "--processes", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement report = doc.RootElement;
        Assert.True(report.GetProperty("config").GetProperty("processes").GetBoolean());
        Assert.Equal("hierfavg", report.GetProperty("config").GetProperty("topology").GetString());

        // Over mutual TLS by default: the CA and every certificate generated into OUT/pki, each key mode 0600.
        Assert.Equal("mutual-tls", report.GetProperty("config").GetProperty("security").GetString());
        Assert.Contains("broker mqtts://127.0.0.1:", run.Stdout, StringComparison.Ordinal);
        string pki = Path.Combine(_out, "pki");
        Assert.True(File.Exists(Path.Combine(pki, "ca.crt")) && File.Exists(Path.Combine(pki, "crl.pem")), run.Stdout);
        string[] keys = Directory.GetFiles(pki, "*.key", SearchOption.AllDirectories);
        Assert.Equal(1 + 3 + 2 + 4, keys.Length); // the CA; the cloud's and both edges' server keys; both edges' and the 4 devices' device keys
        foreach (string key in keys)
        {
            if (OperatingSystem.IsWindows())
            {
                break;
            }

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        }

        // 1 cloud + 2 edges + 4 devices, each its own process, none of them this test's simulate process.
        JsonElement[] processes = [.. report.GetProperty("processes").EnumerateArray()];
        Assert.Equal(7, processes.Length);
        Assert.Equal(7, processes.Select(p => p.GetProperty("pid").GetInt32()).Distinct().Count());
        Assert.Equal(["cloud", "device", "device", "device", "device", "edge", "edge"], processes.Select(p => p.GetProperty("role").GetString()).Order(StringComparer.Ordinal));
        Assert.All(processes.Where(p => p.GetProperty("role").GetString() != "device"), p => Assert.Equal(0, p.GetProperty("exit_code").GetInt32()));

        // The tree: two edges with two devices each, and the pids under them are those processes.
        JsonElement[] edges = [.. report.GetProperty("tree").GetProperty("edges").EnumerateArray()];
        Assert.Equal(["edge-0", "edge-1"], edges.Select(e => e.GetProperty("edge").GetString()));
        Assert.All(edges, e => Assert.Equal(2, e.GetProperty("devices").GetArrayLength()));
        HashSet<int> pids = [.. processes.Select(p => p.GetProperty("pid").GetInt32())];
        Assert.All(edges.SelectMany(e => e.GetProperty("devices").EnumerateArray()), d => Assert.Contains(d.GetProperty("pid").GetInt32(), pids));

        // Per cloud round: one update per edge reaches the cloud, the edges ran k2 rounds each with their devices.
        JsonElement[] rounds = [.. report.GetProperty("rounds").EnumerateArray()];
        Assert.Equal(2, rounds.Length);
        foreach (JsonElement r in rounds)
        {
            Assert.True(r.GetProperty("completed").GetBoolean(), r.ToString());
            JsonElement cloud = r.GetProperty("tiers").GetProperty("cloud");
            JsonElement edge = r.GetProperty("tiers").GetProperty("edge");
            Assert.Equal(2, cloud.GetProperty("updates").GetInt32());
            Assert.True(cloud.GetProperty("bytes_up").GetInt64() > 0, r.ToString());
            Assert.Equal(4, edge.GetProperty("edge_rounds").GetInt32());
            Assert.True(edge.GetProperty("bytes_up").GetInt64() > cloud.GetProperty("bytes_up").GetInt64(), r.ToString());
        }

        JsonElement final = report.GetProperty("final");
        Assert.Equal(2, final.GetProperty("rounds_completed").GetInt32());
        Assert.InRange(final.GetProperty("federated").GetProperty("f1").GetDouble(), 0.5, 1.0);
        Assert.True(final.GetProperty("test_rows").GetInt32() > 0);

        // Secrets went through 0600 files, never the command line; the children are gone.
        foreach (string secret in Directory.GetFiles(Path.Combine(_out, "processes", "secrets")))
        {
            if (OperatingSystem.IsWindows())
            {
                break;
            }

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
        }

        foreach (int pid in pids)
        {
            Assert.True(IsGone(pid), $"child {pid} still runs");
        }
    }

    [Theory]
    [InlineData("--secure-aggregation", null)]
    [InlineData("--compress", null)]
    [InlineData("--faults", "drop=0.1")]
    public async Task Simulate_ProcessesWithUnsupportedOption_IsUsageError(string option, string? value)
    {
        CliResult run = await CliRunner.RunAsync(["simulate", "--processes", option, .. value is null ? Array.Empty<string>() : [value], "--out", _out], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--processes does not combine with " + option, run.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_out, "processes")));
    }

    private static bool IsGone(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return p.HasExited || !p.ProcessName.StartsWith("dotnet", StringComparison.Ordinal);
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
