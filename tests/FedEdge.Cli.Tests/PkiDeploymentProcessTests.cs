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

    [Fact]
    public async Task CoordinatorAndWorkers_WithCertificates_SignedRoundsAndRefuseOtherCaAndRevoked()
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
            ["coordinator", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "2",
             "--device", "doorbell=https://mud.example/doorbell.json",
             "--device", "camera=https://mud.example/camera.json",
             "--device", "stolen=https://mud.example/stolen.json",
             "--device", "foreign=https://mud.example/foreign.json",
             "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"), ("camera", "pw-2"), ("stolen", "pw-3"), ("foreign", "pw-4")),
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        Task<CliResult> Worker(string id, string password, string certDir, string file) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", $"mqtt://127.0.0.1:{port}",
             "--data", Path.Combine(data, file), "--mud-url", $"https://mud.example/{id}.json", "--exit-after-round", "2",
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(certDir, "devices", id + ".crt"), "--key", Path.Combine(certDir, "devices", id + ".key")],
            timeout: TimeSpan.FromMinutes(3));

        CliResult foreign = await Worker("foreign", "pw-4", otherPki, "Ennio_Doorbell.csv.gz");
        CliResult stolen = await Worker("stolen", "pw-3", Pki, "Ennio_Doorbell.csv.gz");
        CliResult[] good = await Task.WhenAll(Worker("doorbell", "pw-1", Pki, "Danmini_Doorbell.csv.gz"), Worker("camera", "pw-2", Pki, "Provision_PT_737E_Security_Camera.csv.gz"));
        CliResult c = await coordinator;

        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains("round 2 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
        Assert.All(good, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
        Assert.Equal(3, foreign.ExitCode);
        Assert.Contains("certificate refused (UntrustedIssuer)", foreign.Stdout, StringComparison.Ordinal);
        Assert.Equal(3, stolen.ExitCode);
        Assert.Contains("certificate refused (Revoked)", stolen.Stdout, StringComparison.Ordinal);
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
