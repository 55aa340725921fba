using System.Globalization;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Pinning the coordinator's certificate (issue 13, signed global models), as real processes: a worker started with
/// <c>--coordinator-cert</c>, or an edge with <c>--cloud-coordinator-cert</c>, accepts only the global models that
/// certificate signed. Pinned to another server certificate of the same CA (an edge's), it refuses the coordinator's
/// models, says which certificate signed them, and exits 4.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CoordinatorPinProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-pin-").FullName;
    private readonly List<CliProcess> _processes = [];

    private string Pki => Path.Combine(_dir, "pki");

    public async Task InitializeAsync()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        await Ok("pki", "issue", "--server", "127.0.0.1", "--dir", Pki);
        await Ok("pki", "issue", "--device", "w1", "--dir", Pki);
        await Ok("pki", "issue", "--device", "e1", "--dir", Pki);
    }

    public async Task DisposeAsync()
    {
        foreach (CliProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private string Server(string host) => Path.Combine(Pki, "servers", host + ".crt");

    /// <summary>A coordinator on its embedded broker over mutual TLS, signing its models with the localhost certificate.</summary>
    private async Task<CliProcess> StartCoordinatorAsync(int port, int minDevices, params string[] devices)
    {
        CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--port", Port(port), "--rounds", "1", "--min-devices", Port(minDevices), "--local-steps", "5",
             .. devices.SelectMany(d => new[] { "--device", d + "=https://mud.example/" + d + ".json" }),
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Server("localhost"), "--key", Path.Combine(Pki, "servers", "localhost.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator-" + Port(port)), "--runs", Path.Combine(_dir, "runs")]);
        _processes.Add(coordinator);
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), Generous, "the coordinator listening");
        return coordinator;
    }

    private Task<CliResult> Worker(int port, string pinned) => CliRunner.RunAsync(
        ["worker", "--device-id", "w1", "--broker", $"mqtts://localhost:{Port(port)}", "--mud-url", "https://mud.example/w1.json",
         "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--exit-after-round", "1", "--connect-timeout", "30",
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "devices", "w1.crt"), "--key", Path.Combine(Pki, "devices", "w1.key"),
         "--coordinator-cert", pinned],
        timeout: Generous);

    private static void AssertOtherCoordinatorRefused(CliResult result, string command, string option)
    {
        Assert.True(result.ExitCode == 4, result.Stdout + result.Stderr);
        string line = result.Stderr.Trim().Split('\n')[^1];
        Assert.Matches($"^fededge {command}: refused global model 0: it is signed by '[^']*CN=localhost[^']*' \\(SHA-256 [0-9A-F]{{64}}\\), another server certificate of the federation CA, not the pinned {option} '[^']*CN=127\\.0\\.0\\.1[^']*'", line);
        Assert.Matches("refused global model version 0: the global model's signature is Invalid \\(not signed by the pinned coordinator certificate '[^']*CN=127\\.0\\.0\\.1", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Worker_PinnedToTheCoordinatorsCertificate_CompletesTheRound()
    {
        int port = LoopbackPorts.Free();
        CliProcess coordinator = await StartCoordinatorAsync(port, 1, "w1");
        CliResult worker = await Worker(port, Server("localhost"));
        Assert.True(worker.ExitCode == 0, worker.Stdout + worker.Stderr);
        Assert.Contains("w1: global model of round 1 received", worker.Stdout, StringComparison.Ordinal);
        Assert.True(await coordinator.WaitForExitAsync(Generous) == 0, coordinator.Describe());
        Assert.Contains("round 1 completed=True participants=1", coordinator.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Worker_PinnedToAnotherServerCertificateOfTheCa_RefusesTheModels_Exits4()
    {
        // Two devices per round: the round never starts, so the only model the worker sees is the coordinator's first.
        int port = LoopbackPorts.Free();
        CliProcess coordinator = await StartCoordinatorAsync(port, 2, "w1", "w2");
        AssertOtherCoordinatorRefused(await Worker(port, Server("127.0.0.1")), "worker", "--coordinator-cert");
        Assert.False(coordinator.HasExited, coordinator.Describe());
    }

    [Fact]
    public async Task Edge_PinnedToAnotherServerCertificateOfTheCa_RefusesTheCloudModels_Exits4()
    {
        int cloudPort = LoopbackPorts.Free();
        await StartCoordinatorAsync(cloudPort, 2, "e1", "e2");
        CliResult edge = await CliRunner.RunAsync(
            ["edge", "--edge-id", "e1", "--cloud", $"mqtts://localhost:{Port(cloudPort)}", "--cloud-cert", Path.Combine(Pki, "devices", "e1.crt"), "--cloud-key", Path.Combine(Pki, "devices", "e1.key"),
             "--cloud-ca", Path.Combine(Pki, "ca.crt"), "--cloud-coordinator-cert", Server("127.0.0.1"), "--mud-url", "https://mud.example/e1.json", "--port", Port(LoopbackPorts.Free()),
             "--device", "doorbell=https://mud.example/doorbell.json", "--state", Path.Combine(_dir, "e1"), "--connect-timeout", "30"],
            timeout: Generous);
        AssertOtherCoordinatorRefused(edge, "edge", "--cloud-coordinator-cert");
    }

    [Fact]
    public async Task Pin_ThatIsNotAServerCertificateOfTheCa_IsAUsageError()
    {
        CliResult device = await Worker(LoopbackPorts.Free(), Path.Combine(Pki, "devices", "e1.crt"));
        Assert.Equal(2, device.ExitCode);
        Assert.Contains("fededge worker: --coordinator-cert", device.Stderr, StringComparison.Ordinal);
        Assert.Contains("is not a coordinator certificate of the CA", device.Stderr, StringComparison.Ordinal);

        CliResult noCredentials = await CliRunner.RunAsync(
            ["worker", "--device-id", "w1", "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--coordinator-cert", Server("localhost")]);
        Assert.Equal(2, noCredentials.ExitCode);
        Assert.Contains("give --ca FILE with --cert FILE and --key FILE", noCredentials.Stderr, StringComparison.Ordinal);
    }
}
