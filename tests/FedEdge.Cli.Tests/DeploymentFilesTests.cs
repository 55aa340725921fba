using System.Diagnostics;

namespace FedEdge.Cli.Tests;

/// <summary>
/// deploy/ cannot run on a cluster here, so what can be checked is: the YAML lints clean (yamllint), and every fededge
/// command line in the systemd units and Kubernetes manifests parses with the CLI's own parser (`fededge deploy check`).
/// </summary>
public sealed class DeploymentFilesTests : IDisposable
{
    private static readonly string Deploy = Path.Combine(RepoPaths.Root, "deploy");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-deploy-files-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static string[] DeployFiles => [.. Directory.GetFiles(Deploy, "*.service", SearchOption.AllDirectories).Concat(Directory.GetFiles(Deploy, "*.yaml", SearchOption.AllDirectories)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task DeployCheck_ShippedUnitsAndManifests_EveryCommandLineParses()
    {
        CliResult result = await CliRunner.RunAsync(["deploy", "check", .. DeployFiles]);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        foreach (string expected in new[] { "fededge-worker.service:", "fededge-edge.service:", "cloud-coordinator.yaml:", "edge-aggregator.yaml:" })
        {
            Assert.Contains("ok   " + expected, result.Stdout, StringComparison.Ordinal);
        }

        Assert.Contains("4 fededge command lines, 0 with problems", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeployCheck_UnknownFlagOrMissingRequiredOption_ExitOneAndNamesIt()
    {
        Directory.CreateDirectory(_dir);
        string unit = Path.Combine(_dir, "bad.service");
        await File.WriteAllTextAsync(unit, "[Service]\nExecStart=/opt/fededge/fededge worker --device-id pi --data /d.csv --brokr mqtt://x:1883\n");
        string manifest = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(manifest, "---\nspec:\n  containers:\n    - name: edge\n      command:\n        - fededge\n      args:\n        - edge\n        - --edge-id\n        - a\n");
        CliResult result = await CliRunner.RunAsync(["deploy", "check", unit, manifest]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("FAIL bad.service:2: fededge worker: unknown option or argument '--brokr'", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("FAIL bad.yaml:5: fededge edge:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--cloud", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Yamllint_DeployFolder_Passes()
    {
        if (!File.Exists("/usr/bin/yamllint"))
        {
            Assert.False(RepoPaths.IsCi, "CI must lint deploy/ but yamllint is missing; install the 'yamllint' package (.ci/run does).");
            return;
        }

        var start = new ProcessStartInfo("/usr/bin/yamllint") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "--strict", "-c", Path.Combine(Deploy, ".yamllint"), Deploy })
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(process.ExitCode == 0, await stdout + await stderr);

        // And it does fail on a broken file, so a pass means something.
        Directory.CreateDirectory(_dir);
        string broken = Path.Combine(_dir, "broken.yaml");
        await File.WriteAllTextAsync(broken, "---\nkey: [unclosed\n");
        var bad = new ProcessStartInfo("/usr/bin/yamllint") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        bad.ArgumentList.Add("-c");
        bad.ArgumentList.Add(Path.Combine(Deploy, ".yamllint"));
        bad.ArgumentList.Add(broken);
        using Process failing = Process.Start(bad)!;
        _ = await failing.StandardOutput.ReadToEndAsync();
        await failing.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, failing.ExitCode);
    }
}
