using System.Net;
using System.Net.Sockets;

namespace FedEdge.Cli.Tests;

/// <summary>FedIoT-style real deployment: `fededge coordinator` and `fededge worker` as separate processes over the embedded MQTT broker.</summary>
public sealed class DeploymentProcessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-deploy-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task CoordinatorAndWorkers_SeparateProcesses_CompleteRoundsAndRefuseUnprofiledDevice()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");

        // A normaliser shared by the federation: the one a short simulation merges from the devices' round-0 summaries.
        CliResult sim = await CliRunner.RunAsync(["simulate", "--rounds", "1", "--out", Path.Combine(_dir, "sim")], workingDirectory: RepoPaths.Root);
        Assert.True(sim.ExitCode == 0, sim.Stdout + sim.Stderr);
        string normalizer = Path.Combine(_dir, "sim", "normalizer.json");

        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(
            ["coordinator", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rounds", "3", "--min-devices", "2",
             "--device", "doorbell=https://mud.example/doorbell.json",
             "--device", "camera=https://mud.example/camera.json",
             "--device", "rogue=https://mud.example/rogue.json",
             "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"), ("camera", "pw-2"), ("rogue", "pw-3")),
             "--out", Path.Combine(_dir, "coordinator")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        string broker = $"mqtt://127.0.0.1:{port}";
        Task<CliResult> Worker(string id, string password, string? mud, string file) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", broker, "--data", Path.Combine(data, file), "--normalizer", normalizer,
             "--state", Path.Combine(_dir, id + ".state.json"), "--exit-after-round", "3", .. (mud is null ? Array.Empty<string>() : ["--mud-url", mud])],
            timeout: TimeSpan.FromMinutes(3));

        Task<CliResult> doorbell = Worker("doorbell", "pw-1", "https://mud.example/doorbell.json", "Danmini_Doorbell.csv.gz");
        Task<CliResult> camera = Worker("camera", "pw-2", "https://mud.example/camera.json", "Provision_PT_737E_Security_Camera.csv.gz");
        Task<CliResult> rogue = Worker("rogue", "pw-3", null, "Ennio_Doorbell.csv.gz");

        CliResult c = await coordinator;
        CliResult[] workers = await Task.WhenAll(doorbell, camera, rogue);
        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains("round 3 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("refused rogue: no MUD URL presented", c.Stdout, StringComparison.Ordinal);
        Assert.True(workers[0].ExitCode == 0, workers[0].Stdout + workers[0].Stderr);
        Assert.True(workers[1].ExitCode == 0, workers[1].Stdout + workers[1].Stderr);
        Assert.Contains("trained 3 rounds", workers[0].Stdout, StringComparison.Ordinal);
        Assert.Equal(3, workers[2].ExitCode);
        Assert.Contains("refused", workers[2].Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "coordinator", "checkpoint.json")));
        Assert.Contains("\"lastRound\": 3", await File.ReadAllTextAsync(Path.Combine(_dir, "doorbell.state.json")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CoordinatorWithMud_SeparateProcesses_AdmitsSignedDeviceAndRefusesTamperedOne()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        const string Base = "https://mud.fededge.example/nbaiot/";
        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(
            ["coordinator", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rounds", "1", "--min-devices", "1",
             "--mud", Path.Combine(RepoPaths.Root, "samples", "mud"),
             "--device", "doorbell", "--device", "monitor", "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"), ("monitor", "pw-2")),
             "--out", Path.Combine(_dir, "coordinator")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        string broker = $"mqtt://127.0.0.1:{port}";
        Task<CliResult> Worker(string id, string password, string mud) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", broker, "--data", Path.Combine(data, "Danmini_Doorbell.csv.gz"),
             "--state", Path.Combine(_dir, id + ".state.json"), "--exit-after-round", "1", "--mud-url", mud],
            timeout: TimeSpan.FromMinutes(3));

        // The tampered device first, so it is refused before the doorbell's round completes.
        CliResult monitor = await Worker("monitor", "pw-2", Base + "Tampered_Baby_Monitor.json");
        CliResult doorbell = await Worker("doorbell", "pw-1", Base + "Danmini_Doorbell.json");
        CliResult c = await coordinator;
        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains("MUD admission:", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("round 1 completed=True participants=1", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("refused monitor: MUD signature invalid (ContentDigestMismatch)", c.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("refused doorbell", c.Stdout, StringComparison.Ordinal);
        Assert.True(doorbell.ExitCode == 0, doorbell.Stdout + doorbell.Stderr);
        Assert.Equal(3, monitor.ExitCode);
        Assert.Contains("ContentDigestMismatch", monitor.Stdout, StringComparison.Ordinal);
    }
}
