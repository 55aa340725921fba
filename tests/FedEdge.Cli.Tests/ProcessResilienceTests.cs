using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Issue 19, as processes: a worker whose local data cannot be used stays NotReady, connected and reporting why
/// (it does not exit), and a coordinator started while its external broker is down waits for it and then runs.
/// </summary>
public sealed class ProcessResilienceTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-resilience-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("garbage.csv", "not,an,nbaiot,header\n1,2,3,4\n")]
    [InlineData("plain.csv.gz", "this is no gzip stream\n")]
    [InlineData("empty.csv", "")]
    public async Task Worker_BadLocalData_StaysNotReadyConnectedAndTheCoordinatorLogsWhy(string fileName, string content)
    {
        string bad = Path.Combine(_dir, fileName);
        await File.WriteAllTextAsync(bad, content);
        string good = Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz");
        int port = LoopbackPorts.Free();
        string Port() => port.ToString(CultureInfo.InvariantCulture);

        await using CliProcess coordinator = CliProcess.Start("coordinator", [
            "coordinator", "--port", Port(), "--rounds", "2", "--min-devices", "1", "--heartbeat", "1",
            "--device", "ok=https://mud.example/ok.json", "--device", "broken=https://mud.example/broken.json", "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("ok", "pw-1"), ("broken", "pw-2")),
            "--log-level", "warning", "--out", Path.Combine(_dir, "coordinator")]);
        await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the coordinator to listen");

        string broker = $"mqtt://127.0.0.1:{Port()}";
        await using CliProcess brokenWorker = CliProcess.Start("broken", [
            "worker", "--device-id", "broken", "--password-file", SecretFiles.Write(_dir, "broken", "pw-2"), "--mud-url", "https://mud.example/broken.json",
            "--broker", broker, "--data", bad, "--heartbeat", "1"]);

        // The device says why it cannot train, stays up, and the coordinator logs its reason.
        await brokenWorker.WaitForLineAsync(l => l.Contains("broken: NotReady (bad local data:", StringComparison.Ordinal), Generous, "the broken worker's state");
        string logged = await coordinator.WaitForLineAsync(l => l.Contains("Device broken is not ready: bad local data:", StringComparison.Ordinal), Generous, "the coordinator's log of the reason", stderr: true);
        Assert.Contains(fileName, logged, StringComparison.Ordinal);

        await using CliProcess okWorker = CliProcess.Start("ok", [
            "worker", "--device-id", "ok", "--password-file", SecretFiles.Write(_dir, "ok", "pw-1"), "--mud-url", "https://mud.example/ok.json",
            "--broker", broker, "--data", good, "--heartbeat", "1", "--exit-after-round", "2"]);
        Assert.True(await coordinator.WaitForExitAsync(Generous) == 0, coordinator.Describe() + brokenWorker.Describe() + okWorker.Describe());
        Assert.Contains("round 2 completed=True participants=1", coordinator.Stdout, StringComparison.Ordinal);
        Assert.False(brokenWorker.HasExited, "a worker with bad local data must not exit:\n" + brokenWorker.Describe());
        Assert.DoesNotContain("Unhandled exception", brokenWorker.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", brokenWorker.Stderr, StringComparison.Ordinal);
        brokenWorker.Kill();
    }

    [Fact]
    public async Task Coordinator_ExternalBrokerDownAtStart_WaitsAndRunsOnceTheBrokerStarts()
    {
        if (!File.Exists("/usr/sbin/mosquitto") && !RepoPaths.IsCi)
        {
            return; // No Mosquitto on this developer machine; CI installs it and must run this test.
        }

        int port = LoopbackPorts.Free();
        string broker = $"mqtt://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        await using CliProcess coordinator = CliProcess.Start("coordinator", [
            "coordinator", "--broker", broker, "--rounds", "1", "--min-devices", "1", "--heartbeat", "1",
            "--device", "ok=https://mud.example/ok.json", "--log-level", "warning", "--out", Path.Combine(_dir, "coordinator")]);

        // Two failed attempts logged (with back-off), and the process is still waiting.
        await coordinator.WaitForLineAsync(l => l.Contains("[6014]", StringComparison.Ordinal), Generous, "a first failed attempt", stderr: true);
        await coordinator.WaitForLineAsync(l => l.Contains("attempt 2", StringComparison.Ordinal), Generous, "a second failed attempt", stderr: true);
        Assert.False(coordinator.HasExited, coordinator.Describe());

        using Process mosquitto = StartAnonymousMosquitto(port);
        try
        {
            await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the coordinator to reach the broker");
            await using CliProcess worker = CliProcess.Start("ok", [
                "worker", "--device-id", "ok", "--mud-url", "https://mud.example/ok.json", "--broker", broker,
                "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--heartbeat", "1", "--exit-after-round", "1"]);
            Assert.True(await coordinator.WaitForExitAsync(Generous) == 0, coordinator.Describe() + worker.Describe());
            Assert.Contains("round 1 completed=True participants=1", coordinator.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            mosquitto.Kill();
        }
    }

    [Fact]
    public async Task Coordinator_ExternalBrokerDownWithConnectTimeout_OneLineAndExitOne()
    {
        CliResult result = await CliRunner.RunAsync(
            ["coordinator", "--broker", $"mqtt://127.0.0.1:{LoopbackPorts.Free().ToString(CultureInfo.InvariantCulture)}", "--connect-timeout", "2", "--out", Path.Combine(_dir, "c")],
            timeout: Generous);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("could not be reached within 2 s", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Debian's Mosquitto on 127.0.0.1:<paramref name="port"/>, anonymous clients allowed (only for this test's loopback broker).</summary>
    private Process StartAnonymousMosquitto(int port)
    {
        string config = Path.Combine(_dir, "mosquitto.conf");
        string user = string.Equals(Environment.UserName, "root", StringComparison.Ordinal) ? "user root\n" : string.Empty;
        File.WriteAllText(config, $"{user}per_listener_settings false\nallow_anonymous true\nlistener {port.ToString(CultureInfo.InvariantCulture)} 127.0.0.1\n");
        var start = new ProcessStartInfo("/usr/sbin/mosquitto") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(config);
        return Process.Start(start) ?? throw new InvalidOperationException("mosquitto did not start");
    }
}
