using System.Net;
using System.Net.Sockets;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The process deployment with certificates, as the README shows it: `fededge pki` makes the CA and certificates,
/// `fededge coordinator --ca --cert --key --crl` and `fededge worker --ca --cert --key` run as separate processes;
/// updates are signed, the global model is signed, and a device whose certificate comes from another CA or was revoked
/// is refused with its reason.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PkiDeploymentProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-pki-deploy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pki => Path.Combine(_dir, "pki");

    private async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task IssueFederationAsync(params string[] devices)
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        foreach (string id in devices)
        {
            await Ok("pki", "issue", "--device", id, "--dir", Pki);
        }
    }

    private static string[] CoordinatorArgs(string pki, int port, string outDir, params string[] devices) =>
        ["coordinator", "--port", Port(port), "--rounds", "2", "--min-devices", "2",
         .. devices.SelectMany(d => new[] { "--device", $"{d}=https://mud.example/{d}.json" }),
         "--ca", Path.Combine(pki, "ca.crt"), "--cert", Path.Combine(pki, "servers", "localhost.crt"), "--key", Path.Combine(pki, "servers", "localhost.key"), "--crl", Path.Combine(pki, "crl.pem"),
         "--out", outDir];

    /// <summary>A worker over mqtts:// with its certificate and key (no password anywhere).</summary>
    private Task<CliResult> Worker(int port, string id, string certDir, string file) => CliRunner.RunAsync(
        ["worker", "--device-id", id, "--broker", $"mqtts://localhost:{Port(port)}",
         "--data", Path.Combine(RepoPaths.Root, "samples", "data", file), "--mud-url", $"https://mud.example/{id}.json", "--exit-after-round", "2", "--connect-timeout", "30",
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(certDir, "devices", id + ".crt"), "--key", Path.Combine(certDir, "devices", id + ".key")],
        timeout: TimeSpan.FromMinutes(3));

    private static void AssertRefusedInHandshake(CliResult worker, string id)
    {
        Assert.Equal(1, worker.ExitCode);
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
        string line = worker.Stderr.Trim().Split('\n')[^1];
        Assert.StartsWith("fededge worker: cannot join through the broker mqtts://localhost:", line, StringComparison.Ordinal);
        Assert.Contains($"refused the connection of '{id}'", line, StringComparison.Ordinal);
        Assert.Contains("did not accept this device's certificate", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CoordinatorAndWorkers_WithCertificates_MutualTlsSignedRoundsAndRefuseOtherCaAndRevoked()
    {
        await IssueFederationAsync("doorbell", "camera", "stolen");
        await Ok("pki", "revoke", "--device", "stolen", "--dir", Pki);
        string otherPki = Path.Combine(_dir, "other");
        await Ok("pki", "init", "--dir", otherPki);
        await Ok("pki", "issue", "--device", "foreign", "--dir", otherPki);

        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(CoordinatorArgs(Pki, port, Path.Combine(_dir, "coordinator"), "doorbell", "camera", "stolen", "foreign"), timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        CliResult foreign = await Worker(port, "foreign", otherPki, "Ennio_Doorbell.csv.gz");
        CliResult stolen = await Worker(port, "stolen", Pki, "Ennio_Doorbell.csv.gz");
        CliResult[] good = await Task.WhenAll(Worker(port, "doorbell", Pki, "Danmini_Doorbell.csv.gz"), Worker(port, "camera", Pki, "Provision_PT_737E_Security_Camera.csv.gz"));
        CliResult c = await coordinator;

        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains($"mutual TLS on port {port}", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("round 2 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
        Assert.All(good, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));

        // Neither refused device got past the TLS handshake; the coordinator names each reason.
        AssertRefusedInHandshake(foreign, "foreign");
        AssertRefusedInHandshake(stolen, "stolen");
        Assert.Contains("refused in the TLS handshake (UntrustedIssuer): certificate 'O=FedEdge device, CN=foreign'", c.Stdout, StringComparison.Ordinal);
        Assert.Contains("refused in the TLS handshake (Revoked): certificate 'O=FedEdge device, CN=stolen'", c.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CoordinatorWithCertificates_DevicePasswords_UsageErrorInOneLine()
    {
        await IssueFederationAsync("doorbell");
        CliResult r = await CliRunner.RunAsync([.. CoordinatorArgs(Pki, 0, Path.Combine(_dir, "c"), "doorbell"), "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"))]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("drop --device-passwords", Assert.Single(r.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedWhileCoordinatorRuns_CrlFileReloaded_NextConnectionRefused()
    {
        await IssueFederationAsync("doorbell", "camera", "late");
        int port = LoopbackPorts.Free();
        await using CliProcess coordinator = CliProcess.Start("coordinator", CoordinatorArgs(Pki, port, Path.Combine(_dir, "coordinator"), "doorbell", "camera", "late"));
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the coordinator listening");

        // Revoked while the coordinator runs: it reloads crl.pem by itself (no restart).
        await Ok("pki", "revoke", "--device", "late", "--dir", Pki);
        await coordinator.WaitForLineAsync(l => l.Contains("CRL reloaded", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the CRL reloaded", stderr: true);

        CliResult late = await Worker(port, "late", Pki, "Ennio_Doorbell.csv.gz");
        AssertRefusedInHandshake(late, "late");
        CliResult[] good = await Task.WhenAll(Worker(port, "doorbell", Pki, "Danmini_Doorbell.csv.gz"), Worker(port, "camera", Pki, "Provision_PT_737E_Security_Camera.csv.gz"));
        Assert.All(good, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, coordinator.Describe());
        Assert.Contains("refused in the TLS handshake (Revoked): certificate 'O=FedEdge device, CN=late'", coordinator.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadCrlWrittenWhileCoordinatorRuns_OldCrlKeptAndLogged()
    {
        await IssueFederationAsync("doorbell", "camera");
        int port = LoopbackPorts.Free();
        await using CliProcess coordinator = CliProcess.Start("coordinator", CoordinatorArgs(Pki, port, Path.Combine(_dir, "coordinator"), "doorbell", "camera"));
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the coordinator listening");

        // A CRL signed by another CA: refused, the coordinator keeps its CRL and devices still join.
        string otherPki = Path.Combine(_dir, "other");
        await Ok("pki", "init", "--dir", otherPki);
        File.Copy(Path.Combine(otherPki, "crl.pem"), Path.Combine(Pki, "crl.pem"), overwrite: true);
        string logged = await coordinator.WaitForLineAsync(l => l.Contains("could not be loaded, the previous CRL stays in force", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the bad CRL logged", stderr: true);
        Assert.Contains("crl.pem", logged, StringComparison.Ordinal);

        CliResult[] good = await Task.WhenAll(Worker(port, "doorbell", Pki, "Danmini_Doorbell.csv.gz"), Worker(port, "camera", Pki, "Provision_PT_737E_Security_Camera.csv.gz"));
        Assert.All(good, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, coordinator.Describe());
    }

    [Fact]
    public async Task PasswordValueOnCommandLine_RefusedInOneLineSayingWhereItGoes()
    {
        CliResult r = await CliRunner.RunAsync(["worker", "--device-id", "d", "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--password", "hunter2"]);
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("--password-file", line, StringComparison.Ordinal);
        Assert.Contains("FEDEDGE_PASSWORD", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", r.Stdout, StringComparison.Ordinal);

        CliResult coordinator = await CliRunner.RunAsync(["coordinator", "--password", "hunter2", "--port", "0"]);
        Assert.Equal(2, coordinator.ExitCode);
        Assert.Contains("--password-file", coordinator.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerKeyReadableByOthers_RefusedInOneLine()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--device", "d1", "--dir", Pki);
        string key = Path.Combine(Pki, "devices", "d1.key");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        CliResult r = await CliRunner.RunAsync(["worker", "--device-id", "d1", "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"),
            "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "devices", "d1.crt"), "--key", key]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("chmod 600", Assert.Single(r.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
    }
}
