using System.Net;
using System.Net.Sockets;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The process deployment over gRPC with mutual TLS, as the README shows it: `fededge coordinator --transport grpc`
/// and `fededge worker --coordinator https://…` with certificates from `fededge pki`. Signed rounds complete; devices
/// whose certificate another CA issued or the CRL revokes, and a device using another device's certificate, are
/// refused in the handshake or the call, each logged by the coordinator with its typed reason.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class GrpcPkiDeploymentProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-grpc-deploy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pki => Path.Combine(_dir, "pki");

    private async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task CoordinatorAndWorkers_OverGrpcMutualTls_SignedRoundsAndEachRefusalLogged()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        foreach (string id in new[] { "doorbell", "camera", "stolen" })
        {
            await Ok("pki", "issue", "--device", id, "--dir", Pki);
        }

        await Ok("pki", "revoke", "--device", "stolen", "--dir", Pki);
        string otherPki = Path.Combine(_dir, "other");
        await Ok("pki", "init", "--dir", otherPki);
        await Ok("pki", "issue", "--device", "foreign", "--dir", otherPki);

        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(
            ["coordinator", "--transport", "grpc", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "2",
             "--device", "doorbell=https://mud.example/doorbell.json", "--device", "camera=https://mud.example/camera.json",
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        Task<CliResult> Worker(string id, string certDir, string certId, string file, params string[] extra) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--coordinator", $"https://localhost:{port}",
             "--data", Path.Combine(data, file), "--mud-url", $"https://mud.example/{id}.json", "--exit-after-round", "2",
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(certDir, "devices", certId + ".crt"), "--key", Path.Combine(certDir, "devices", certId + ".key"), .. extra],
            timeout: TimeSpan.FromMinutes(3));

        CliResult foreign = await Worker("foreign", otherPki, "foreign", "Ennio_Doorbell.csv.gz", "--connect-timeout", "30");
        CliResult stolen = await Worker("stolen", Pki, "stolen", "Ennio_Doorbell.csv.gz", "--connect-timeout", "30");
        CliResult impostor = await Worker("camera", Pki, "doorbell", "Ennio_Doorbell.csv.gz", "--connect-timeout", "30");
        CliResult[] good = await Task.WhenAll(Worker("doorbell", Pki, "doorbell", "Danmini_Doorbell.csv.gz"), Worker("camera", Pki, "camera", "Provision_PT_737E_Security_Camera.csv.gz"));
        CliResult c = await coordinator;

        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains("coordinator listening (gRPC over mutual TLS, https://", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("round 2 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
        Assert.All(good, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
        foreach (CliResult refused in new[] { foreign, stolen, impostor })
        {
            Assert.True(refused.ExitCode == 1, refused.Stdout + refused.Stderr);
            Assert.DoesNotContain("   at ", refused.Stderr, StringComparison.Ordinal);
        }

        Assert.Contains("refused a device (UntrustedIssuer)", c.Stderr, StringComparison.Ordinal);
        Assert.Contains("refused a device (Revoked)", c.Stderr, StringComparison.Ordinal);
        Assert.Contains("refused a device (IdentityMismatch): the call claims device 'camera' but its certificate is device 'doorbell'", c.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GrpcWithoutCertificates_IsAUsageError()
    {
        CliResult c = await CliRunner.RunAsync(["coordinator", "--transport", "grpc", "--port", "0"]);
        Assert.Equal(2, c.ExitCode);
        Assert.Contains("mutual TLS", Assert.Single(c.Stderr.Trim().Split('\n')), StringComparison.Ordinal);

        CliResult w = await CliRunner.RunAsync(["worker", "--device-id", "d", "--coordinator", "https://localhost:50051", "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz")]);
        Assert.Equal(2, w.ExitCode);
        Assert.Contains("mutual TLS", Assert.Single(w.Stderr.Trim().Split('\n')), StringComparison.Ordinal);

        CliResult plain = await CliRunner.RunAsync(["worker", "--device-id", "d", "--coordinator", "http://localhost:50051", "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz")]);
        Assert.Equal(2, plain.ExitCode);
        Assert.Contains("https://", plain.Stderr, StringComparison.Ordinal);
    }
}
