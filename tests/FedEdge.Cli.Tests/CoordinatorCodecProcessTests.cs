using System.Text.Json;
using System.Globalization;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// `fededge coordinator --codec topk:0.01` and two `fededge worker` processes over the embedded MQTT broker: the workers
/// encode with the codec the round tasks announce, the rounds complete with signed-off receipts, and the bytes the
/// coordinator receives per round are under a tenth of two float32 updates.
/// </summary>
public sealed partial class CoordinatorCodecProcessTests : IDisposable
{
    // Two devices' float32 updates of the demo MLP (9,537 parameters).
    private const double Float32UpBytes = 2 * 9537 * 4.0;

    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-codec-deploy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Coordinator_AnnouncesTopK_WorkerProcessesEncodeWithIt()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        CliResult sim = await CliRunner.RunAsync(["simulate", "--rounds", "1", "--thermal", "off", "--out", Path.Combine(_dir, "sim"), "--runs", Path.Combine(_dir, "runs")], workingDirectory: RepoPaths.Root);
        Assert.True(sim.ExitCode == 0, sim.Stdout + sim.Stderr);
        string normalizer = Path.Combine(_dir, "sim", "normalizer.json");

        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(
            ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "3", "--min-devices", "2", "--codec", "topk:0.01",
             "--device", "doorbell=https://mud.example/doorbell.json",
             "--device", "camera=https://mud.example/camera.json",
             "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"), ("camera", "pw-2")),
             "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        Task<CliResult> Worker(string id, string password, string file) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", $"mqtt://127.0.0.1:{port}", "--data", Path.Combine(data, file),
             "--normalizer", normalizer, "--state", Path.Combine(_dir, id + ".state.json"), "--exit-after-round", "3", "--mud-url", $"https://mud.example/{id}.json"],
            timeout: TimeSpan.FromMinutes(3));
        CliResult[] workers = await Task.WhenAll(Worker("doorbell", "pw-1", "Danmini_Doorbell.csv.gz"), Worker("camera", "pw-2", "Provision_PT_737E_Security_Camera.csv.gz"));
        CliResult c = await coordinator;

        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.All(workers, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
        Assert.Contains("update codec topk:0.01 announced in every round task", c.Stdout, StringComparison.Ordinal);
        long[] up = [.. RoundLine().Matches(c.Stdout).Select(m => long.Parse(m.Groups["up"].Value, CultureInfo.InvariantCulture))];
        Assert.Equal(3, up.Length);

        // The least round: a round whose updates were re-sent carries their copies as well.
        Assert.True(up.Min() < Float32UpBytes * 0.1, $"bytes up per round {string.Join(", ", up)} vs two float32 updates {Float32UpBytes}");

        // The run report's per-device bytes are what the coordinator's MQTT transport counted for each authenticated
        // device; the workers' heartbeat figures (host network counters) are kept apart as host_bytes_*.
        string runId = RunRecorded().Match(c.Stdout).Groups["id"].Value;
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "runs", runId, "report.json")));
        JsonElement[] devices = [.. report.RootElement.GetProperty("devices").EnumerateArray()];
        Assert.Equal(["camera", "doorbell"], devices.Select(d => d.GetProperty("device").GetString()));
        foreach (JsonElement d in devices)
        {
            Assert.True(d.GetProperty("bytes_sent").GetInt64() > 0, d.ToString());
            Assert.True(d.GetProperty("bytes_received").GetInt64() > 0, d.ToString());
            Assert.True(d.TryGetProperty("host_bytes_sent", out _), d.ToString());
        }

        // Every byte the round lines count as "up" came from one of the two devices (plus joins and heartbeats outside rounds).
        Assert.True(devices.Sum(d => d.GetProperty("bytes_sent").GetInt64()) >= up.Sum(), $"{string.Join(", ", devices.Select(d => d.ToString()))} vs up {string.Join(", ", up)}");
    }

    [GeneratedRegex(@"run recorded: (?<id>\S+)")]
    private static partial Regex RunRecorded();

    [GeneratedRegex(@"round \d+ completed=True participants=2 loss=\S+ up=(?<up>\d+)")]
    private static partial Regex RoundLine();
}
