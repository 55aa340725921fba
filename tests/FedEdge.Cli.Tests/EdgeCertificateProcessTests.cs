using System.Globalization;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>fededge edge</c> with certificates on both sides (issue 13 on the edge tier of issue 14), as real processes. Towards
/// its devices the edge serves mutual TLS with a server certificate (<c>--ca --cert --key --crl</c>) and refuses a device
/// whose certificate another CA issued, naming the reason; towards the cloud it presents its device certificate
/// (<c>--cloud-cert --cloud-key</c>) over gRPC or MQTT, and a cloud whose CRL revokes it refuses it. Pinned to the
/// cloud's certificate (<c>--cloud-coordinator-cert</c>) it accepts the cloud's models (see CoordinatorPinProcessTests
/// for a pin to another certificate).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class EdgeCertificateProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(3);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-edgecert-").FullName;
    private readonly List<CliProcess> _processes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Ends every process the test started (xUnit 2 calls this, not IAsyncDisposable) and removes its folder.</summary>
    public async Task DisposeAsync()
    {
        foreach (CliProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private string Pki => Path.Combine(_dir, "pki");

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    /// <summary>The federation CA, the cloud's server certificate (localhost), the edge's (127.0.0.1), and device certificates.</summary>
    private async Task IssueFederationAsync(params string[] devices)
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        await Ok("pki", "issue", "--server", "127.0.0.1", "--dir", Pki);
        foreach (string id in devices)
        {
            await Ok("pki", "issue", "--device", id, "--dir", Pki);
        }
    }

    private string[] ServerCredentials(string host) =>
        ["--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", host + ".crt"), "--key", Path.Combine(Pki, "servers", host + ".key"), "--crl", Path.Combine(Pki, "crl.pem")];

    private string[] CloudCoordinator(int port, params string[] transport) =>
        ["coordinator", .. transport, "--port", Port(port), "--rounds", "2", "--min-devices", "1", "--heartbeat", "0.5", "--missed-heartbeats", "6",
         "--device", "e1=https://mud.example/e1.json", .. ServerCredentials("localhost"), "--out", Path.Combine(_dir, "cloud")];

    /// <summary>The edge e1: devices doorbell and camera on its mutual-TLS broker, its device certificate towards the cloud.</summary>
    private string[] Edge(string cloud, int port, params string[] extra) => EdgePresenting("e1", cloud, port, extra);

    /// <summary>The edge e1 presenting the cloud certificate issued to <paramref name="cloudCertificate"/>.</summary>
    private string[] EdgePresenting(string cloudCertificate, string cloud, int port, params string[] extra) =>
        ["edge", "--edge-id", "e1", "--cloud", cloud, "--cloud-cert", Path.Combine(Pki, "devices", cloudCertificate + ".crt"), "--cloud-key", Path.Combine(Pki, "devices", cloudCertificate + ".key"),
         "--mud-url", "https://mud.example/e1.json", "--port", Port(port), .. ServerCredentials("127.0.0.1"),
         "--device", "doorbell=https://mud.example/doorbell.json", "--device", "camera=https://mud.example/camera.json",
         "--min-devices", "2", "--k1", "5", "--k2", "2", "--heartbeat", "0.5", "--missed-heartbeats", "6", "--state", Path.Combine(_dir, "e1"), "--exit-after-round", "2", .. extra];

    /// <summary>A device of the edge (it runs until the test ends: its edge's rounds outnumber the cloud's).</summary>
    private string[] Device(int edgePort, string id, string certDir, string file, params string[] extra) =>
        ["worker", "--device-id", id, "--broker", $"mqtts://127.0.0.1:{Port(edgePort)}", "--data", Path.Combine(RepoPaths.Root, "samples", "data", file),
         "--mud-url", $"https://mud.example/{id}.json", "--heartbeat", "0.5", "--state", Path.Combine(_dir, id + ".state.json"),
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(certDir, "devices", id + ".crt"), "--key", Path.Combine(certDir, "devices", id + ".key"), .. extra];

    [Fact]
    public async Task EdgeWithCertificates_OverGrpcToTheCloud_CompletesCloudRoundsAndRefusesAForeignCaDevice()
    {
        await IssueFederationAsync("e1", "doorbell", "camera");
        string otherPki = Path.Combine(_dir, "other");
        await Ok("pki", "init", "--dir", otherPki);
        await Ok("pki", "issue", "--device", "foreign", "--dir", otherPki);

        int cloudPort = LoopbackPorts.Free(), edgePort = LoopbackPorts.Free();
        CliProcess cloud = Track(CliProcess.Start("cloud", CloudCoordinator(cloudPort, "--transport", "grpc")));
        await cloud.WaitForLineAsync(l => l.StartsWith("coordinator listening (gRPC over mutual TLS", StringComparison.Ordinal), Generous, "the gRPC cloud");
        // The edge pins the cloud's certificate: the cloud's models, signed with it, are accepted.
        CliProcess edge = Track(CliProcess.Start("e1", Edge($"https://localhost:{Port(cloudPort)}", edgePort, "--cloud-coordinator-cert", Path.Combine(Pki, "servers", "localhost.crt"))));
        string listening = await edge.WaitForLineAsync(l => l.StartsWith("edge e1 listening for devices", StringComparison.Ordinal), Generous, "the edge");
        Assert.Contains($"mutual TLS on port {Port(edgePort)}", listening, StringComparison.Ordinal);

        // A device whose certificate another CA issued never gets past the edge's TLS handshake; the edge names why.
        CliResult foreign = await CliRunner.RunAsync(Device(edgePort, "foreign", otherPki, "Ennio_Doorbell.csv.gz", "--connect-timeout", "30"), timeout: Generous);
        Assert.Equal(1, foreign.ExitCode);
        Assert.DoesNotContain("   at ", foreign.Stderr, StringComparison.Ordinal);
        Assert.Contains("did not accept this device's certificate", foreign.Stderr, StringComparison.Ordinal);
        await edge.WaitForLineAsync(l => l.StartsWith("refused in the TLS handshake (UntrustedIssuer): certificate 'O=FedEdge device, CN=foreign'", StringComparison.Ordinal), Generous, "the edge naming the refusal");

        // Its own devices present their certificates, sign their updates and accept only the models the edge signed;
        // the edge signs its updates to the cloud and accepts only the cloud's signed models.
        CliProcess[] devices = [Track(CliProcess.Start("doorbell", Device(edgePort, "doorbell", Pki, "Danmini_Doorbell.csv.gz"))), Track(CliProcess.Start("camera", Device(edgePort, "camera", Pki, "Provision_PT_737E_Security_Camera.csv.gz")))];
        Assert.True(await cloud.WaitForExitAsync(Generous) == 0, cloud.Describe() + edge.Describe());
        Assert.Contains("round 2 completed=True participants=1", cloud.Stdout, StringComparison.Ordinal);
        Assert.True(await edge.WaitForExitAsync(Generous) == 0, edge.Describe());
        Assert.Contains("edge e1 joined the cloud https://localhost:", edge.Stdout, StringComparison.Ordinal);
        Assert.Contains("cloud model 2 received", edge.Stdout, StringComparison.Ordinal);
        (int Round, int Participants)[] rounds = EdgeOutput.EdgeRounds(edge);
        Assert.Equal(4, rounds.Length);
        Assert.All(rounds, r => Assert.Equal(2, r.Participants));
        Assert.All(devices, d => Assert.Contains($"{d.Name}: ReadyForLearning", d.Stdout, StringComparison.Ordinal));
        Assert.All(devices, d => Assert.DoesNotContain("   at ", d.Stderr, StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", cloud.Stderr + edge.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("refused a device", cloud.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EdgeWhoseCloudCertificateIsRevoked_IsRefusedByTheCloud()
    {
        await IssueFederationAsync("e1");
        await Ok("pki", "revoke", "--device", "e1", "--dir", Pki);

        // The cloud serves its embedded broker over mutual TLS and loads the CRL that revokes e1.
        int cloudPort = LoopbackPorts.Free(), edgePort = LoopbackPorts.Free();
        CliProcess cloud = Track(CliProcess.Start("cloud", CloudCoordinator(cloudPort)));
        await cloud.WaitForLineAsync(l => l.StartsWith("coordinator listening (embedded broker, mutual TLS", StringComparison.Ordinal), Generous, "the cloud");

        CliResult edge = await CliRunner.RunAsync(Edge($"mqtts://localhost:{Port(cloudPort)}", edgePort, "--connect-timeout", "30"), timeout: Generous);
        Assert.True(edge.ExitCode == 1, edge.Stdout + edge.Stderr);
        Assert.DoesNotContain("   at ", edge.Stderr, StringComparison.Ordinal);
        string line = edge.Stderr.Trim().Split('\n')[^1];
        Assert.StartsWith("fededge edge: ", line, StringComparison.Ordinal);
        Assert.Contains("refused the connection of 'e1'", line, StringComparison.Ordinal);
        Assert.Contains("did not accept this edge's certificate", line, StringComparison.Ordinal);

        // The cloud refused it in the handshake, with the typed reason, and runs on.
        await cloud.WaitForLineAsync(l => l.Contains("Broker refused a client certificate (Revoked)", StringComparison.Ordinal) && l.Contains("CN=e1", StringComparison.Ordinal), Generous, "the cloud logging the revoked edge", stderr: true);
        Assert.False(cloud.HasExited, cloud.Describe());
    }

    [Fact]
    public async Task EdgeWithCertificates_BadCombinations_AreUsageErrorsInOneLine()
    {
        await IssueFederationAsync("e1", "e2");
        int port = LoopbackPorts.Free();

        // Certificates towards the devices and device passwords do not mix.
        CliResult passwords = await CliRunner.RunAsync([.. Edge($"mqtts://localhost:{Port(port)}", 0), "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-doorbell"))]);
        AssertUsage(passwords, "drop --device-passwords");

        // A device certificate towards the cloud needs a TLS URL.
        CliResult plainCloud = await CliRunner.RunAsync(Edge($"mqtt://127.0.0.1:{Port(port)}", 0));
        AssertUsage(plainCloud, "--cloud mqtts://");

        // The cloud certificate must name this edge.
        CliResult other = await CliRunner.RunAsync(EdgePresenting("e2", $"mqtts://localhost:{Port(port)}", 0));
        AssertUsage(other, "names device 'e2', not --edge-id 'e1'");

        // Half a pair.
        CliResult half = await CliRunner.RunAsync(["edge", "--edge-id", "e1", "--cloud", $"mqtts://localhost:{Port(port)}", "--cloud-cert", Path.Combine(Pki, "devices", "e1.crt"), "--cloud-ca", Path.Combine(Pki, "ca.crt")]);
        AssertUsage(half, "--cloud-cert FILE and --cloud-key FILE");

        // A cloud key others can read is refused by the tool (exit 1), saying how to fix it.
        string key = Path.Combine(Pki, "devices", "e1.key");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        CliResult readable = await CliRunner.RunAsync(Edge($"mqtts://localhost:{Port(port)}", 0));
        Assert.Equal(1, readable.ExitCode);
        Assert.Contains("chmod 600", Assert.Single(readable.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
    }

    private static void AssertUsage(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        string line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.StartsWith("fededge edge: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    private CliProcess Track(CliProcess process)
    {
        _processes.Add(process);
        return process;
    }
}
