using System.Diagnostics;

namespace FedEdge.Cli.Tests;

/// <summary>Runs the code-composition sample (samples/FedEdge.Samples.InProcess) end to end on the shipped N-BaIoT rows.</summary>
public sealed class InProcessSampleTests
{
    [Fact]
    public async Task Sample_RunsTenRoundsOnShippedData_ReachesHeldOutF1()
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release";
        string dll = Path.Combine(RepoPaths.Root, "samples", "FedEdge.Samples.InProcess", "bin", configuration, "net10.0", "FedEdge.Samples.InProcess.dll");
        Assert.True(File.Exists(dll), "the sample is not built: " + dll);

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cts.Token);
        string output = await stdout + await stderr;

        Assert.True(process.ExitCode == 0, output);
        Assert.Contains("round 10: 4 participants", output, StringComparison.Ordinal);
        System.Text.RegularExpressions.Match f1 = System.Text.RegularExpressions.Regex.Match(output, @"held-out F1 (\d\.\d+)");
        Assert.True(f1.Success, output);
        Assert.True(double.Parse(f1.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 0.95, output);
    }
}
