using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The external-Mosquitto deployment with certificates, as docs/security.md shows it: `fededge pki` makes the CA and
/// certificates, `fededge mosquitto-config` writes Mosquitto's configuration and ACL, a real Mosquitto runs it on a free
/// loopback port, and `fededge coordinator --broker mqtts://…` and two `fededge worker` processes complete signed
/// rounds over mutual TLS. Every refusal the issue lists for Mosquitto is checked against the same running broker.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MosquittoPkiProcessTests : IDisposable
{
    private const string MosquittoSub = "/usr/bin/mosquitto_sub";
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-mosq-pki-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pki => Path.Combine(_dir, "pki");

    private string OtherPki => Path.Combine(_dir, "other");

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private string[] WorkerArgs(int port, string id, string certificateOf, string pki, string file, string scheme = "mqtts") =>
        ["worker", "--device-id", id, "--broker", $"{scheme}://localhost:{Text(port)}",
         "--data", Path.Combine(RepoPaths.Root, "samples", "data", file), "--mud-url", $"https://mud.example/{id}.json", "--exit-after-round", "3",
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(pki, "devices", certificateOf + ".crt"), "--key", Path.Combine(pki, "devices", certificateOf + ".key")];

    private Task<CliResult> RefusedWorker(int port, string id, string certificateOf, string pki, string scheme = "mqtts") =>
        CliRunner.RunAsync([.. WorkerArgs(port, id, certificateOf, pki, "Ennio_Doorbell.csv.gz", scheme), "--connect-timeout", "20"], timeout: TimeSpan.FromMinutes(2));

    private static void AssertOneLineRefusal(CliResult worker, string expected)
    {
        Assert.True(worker.ExitCode == 1, worker.Stdout + worker.Stderr);
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
        Assert.True(worker.Stderr.Trim().Split('\n')[^1].Contains(expected, StringComparison.Ordinal), worker.Stderr);
    }

    [Fact]
    public async Task CoordinatorAndWorkers_OnMosquittoWithCertificates_CompleteRounds_AndEveryRefusalHasItsReason()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        await Ok("pki", "issue", "--server", "coordinator", "--dir", Pki);
        foreach (string id in new[] { "doorbell", "camera", "stolen", "intruder" })
        {
            await Ok("pki", "issue", "--device", id, "--dir", Pki);
        }

        await Ok("pki", "revoke", "--device", "stolen", "--dir", Pki);
        await Ok("pki", "init", "--dir", OtherPki);
        await Ok("pki", "issue", "--device", "foreign", "--dir", OtherPki);

        int port = LoopbackPorts.Free();
        string conf = Path.Combine(_dir, "mosquitto");
        CliResult written = await CliRunner.RunAsync(
            ["mosquitto-config", "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"),
             "--coordinator-cert", Path.Combine(Pki, "servers", "coordinator.crt"), "--crl", Path.Combine(Pki, "crl.pem"), "--port", Text(port), "--out", conf]);
        Assert.True(written.ExitCode == 0, written.Stdout + written.Stderr);
        Assert.Contains("coordinator identity 'coordinator'", written.Stdout, StringComparison.Ordinal);

        // The red-team setting: one more client is given write access to everything, the model topic included.
        await File.AppendAllTextAsync(Path.Combine(conf, "fededge.acl"), "\nuser intruder\ntopic readwrite fededge/#\n");
        await using MosquittoBroker? broker = await MosquittoBroker.StartFromFileAsync(Path.Combine(conf, "mosquitto.conf"), port);
        if (broker is null)
        {
            return;
        }

        await using CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--broker", $"mqtts://localhost:{Text(port)}", "--rounds", "3", "--min-devices", "2", "--connect-timeout", "60",
             "--device", "doorbell=https://mud.example/doorbell.json", "--device", "camera=https://mud.example/camera.json",
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "coordinator.crt"), "--key", Path.Combine(Pki, "servers", "coordinator.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator")]);
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the coordinator listening");

        // Refused by Mosquitto before any round: another CA, a revoked certificate, plain text on the TLS-only listener.
        string refusedByBroker = $"cannot join through the broker mqtts://localhost:{Text(port)}";
        CliResult foreign = await RefusedWorker(port, "foreign", "foreign", OtherPki);
        AssertOneLineRefusal(foreign, refusedByBroker);
        CliResult stolen = await RefusedWorker(port, "stolen", "stolen", Pki);
        AssertOneLineRefusal(stolen, refusedByBroker);
        CliResult plain = await RefusedWorker(port, "doorbell", "doorbell", Pki, scheme: "mqtt");
        AssertOneLineRefusal(plain, $"cannot join through the broker mqtt://localhost:{Text(port)}");
        Assert.Contains("certificate verify failed", broker.Log, StringComparison.Ordinal);

        // Device A's certificate publishing as device B: Mosquitto's ACL (%u = the certificate's CN) denies the join.
        CliResult impostor = await RefusedWorker(port, "camera", "doorbell", Pki);
        Assert.Equal(1, impostor.ExitCode);
        Assert.DoesNotContain("   at ", impostor.Stderr, StringComparison.Ordinal);
        Assert.Contains("Denied PUBLISH from", broker.Log, StringComparison.Ordinal);
        Assert.Contains("fededge/fededge/devices/camera/join", broker.Log, StringComparison.Ordinal);

        // An anonymous client (TLS, no certificate) is refused in the handshake.
        if (File.Exists(MosquittoSub) || RepoPaths.IsCi)
        {
            (int anonymousExit, string anonymousError) = await RunAsync(MosquittoSub, ["-h", "localhost", "-p", Text(port), "--cafile", Path.Combine(Pki, "ca.crt"), "-t", "fededge/#", "-C", "1", "-W", "10"]);
            Assert.True(anonymousExit != 0, anonymousError);
        }

        // A client with write access publishes a forged model "v999999", not signed by the coordinator; it is retained,
        // so each worker is handed it as soon as it subscribes.
        await PublishForgedModelAsync(port);
        await using CliProcess doorbell = CliProcess.Start("doorbell", WorkerArgs(port, "doorbell", "doorbell", Pki, "Danmini_Doorbell.csv.gz"));
        await using CliProcess camera = CliProcess.Start("camera", WorkerArgs(port, "camera", "camera", Pki, "Provision_PT_737E_Security_Camera.csv.gz"));
        string forgedRefused = await doorbell.WaitForLineAsync(l => l.Contains("refused global model version 999999", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the forged model refused", stderr: true);
        Assert.Contains("not a trusted coordinator (WrongUsage", forgedRefused, StringComparison.Ordinal);
        await camera.WaitForLineAsync(l => l.Contains("refused global model version 999999", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the forged model refused", stderr: true);

        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, coordinator.Describe() + broker.Log);
        Assert.Contains("round 3 completed=True participants=2", coordinator.Stdout, StringComparison.Ordinal);
        foreach (CliProcess worker in new[] { doorbell, camera })
        {
            Assert.True(await worker.WaitForExitAsync(TimeSpan.FromMinutes(1)) == 0, worker.Describe());
            Assert.Contains("global model of round 3 received", worker.Stdout, StringComparison.Ordinal);
        }

        // The coordinator learnt the certificates from the joins and verified every update's signature against them.
        Assert.DoesNotContain("update signature refused", coordinator.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The intruder's client (a device certificate, with the ACL's write access to the model topic) publishes a model it signed itself.</summary>
    private async Task PublishForgedModelAsync(int port)
    {
        using X509Certificate2 ca = KeyFiles.ReadCertificate(Path.Combine(Pki, "ca.crt"));
        using X509Certificate2 own = KeyFiles.ReadCertificateWithKey(Path.Combine(Pki, "devices", "intruder.crt"), Path.Combine(Pki, "devices", "intruder.key"));
        var layout = new ParameterLayout(new TensorSpec("w", 8));
        var evil = new ParameterSet(layout);
        evil.Values.Fill(1000f);
        var forged = new FederationCredentials(new CertificateValidator(ca), own).SignGlobalModel(new GlobalModel { Version = 999999, Hash = evil.ComputeHash(), Parameters = evil }, 999999);
        await using var intruder = new MqttCoordinatorTransport(new MqttCoordinatorOptions
        {
            Federation = "fededge",
            BrokerUri = new Uri($"mqtts://localhost:{Text(port)}"),
            ClientId = "intruder",
            Tls = new MqttTlsSettings { ClientCertificate = own, TrustedRoot = ca },
        });
        await intruder.StartAsync(new IgnoringHandler());
        await intruder.PublishGlobalModelAsync(forged);
    }

    private static async Task<(int ExitCode, string Error)> RunAsync(string file, string[] args)
    {
        using Process process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await error + await output);
    }

    private sealed class IgnoringHandler : ICoordinatorHandler
    {
        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) => ValueTask.FromResult(new JoinResponse { Accepted = false, Reasons = ["not the coordinator"] });

        public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
