using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge pki init | issue | revoke</c> run as processes; the results are checked with <see cref="CertificateValidator"/>.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PkiCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-cli-pki-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pki => Path.Combine(_dir, "pki");

    private Task<CliResult> Run(params string[] args) => CliRunner.RunAsync(["pki", .. args, "--dir", Pki]);

    [Fact]
    public async Task InitIssueRevoke_EndToEnd_CertificatesValidateAndRevokedOneRefused()
    {
        CliResult init = await Run("init");
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Pki, "ca.key")));

        CliResult a = await Run("issue", "--device", "dev-a", "--mud-url", "https://mud.example.com/sensor.json", "--mud-signer", "CN=Acme MUD signer, O=Acme");
        Assert.True(a.ExitCode == 0, a.Stderr);
        CliResult b = await Run("issue", "--device", "dev-b");
        Assert.True(b.ExitCode == 0, b.Stderr);
        CliResult server = await Run("issue", "--server", "localhost");
        Assert.True(server.ExitCode == 0, server.Stderr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Pki, "devices", "dev-a.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Pki, "servers", "localhost.key")));

        using X509Certificate2 certA = KeyFiles.ReadCertificateWithKey(Path.Combine(Pki, "devices", "dev-a.crt"), Path.Combine(Pki, "devices", "dev-a.key"));
        using X509Certificate2 certB = KeyFiles.ReadCertificate(Path.Combine(Pki, "devices", "dev-b.crt"));
        Assert.NotNull(certA.Extensions[FederationPki.MudUrlOid]);
        Assert.NotNull(certA.Extensions[FederationPki.MudSignerOid]);
        CertificateValidator before = CertificateValidator.FromFiles(Path.Combine(Pki, "ca.crt"), Path.Combine(Pki, "crl.pem"));
        Assert.Equal("dev-a", before.Validate(certA).DeviceId);
        Assert.True(before.Validate(certB).IsValid);

        CliResult revoke = await Run("revoke", "--device", "dev-a");
        Assert.True(revoke.ExitCode == 0, revoke.Stderr);
        Assert.Contains("Mosquitto (crlfile) re-reads it only when it reloads its configuration: send it SIGHUP", revoke.Stdout, StringComparison.Ordinal);
        CertificateValidator after = CertificateValidator.FromFiles(Path.Combine(Pki, "ca.crt"), Path.Combine(Pki, "crl.pem"));
        Assert.Equal(CertificateRefusal.Revoked, after.Validate(certA).Refusal);
        Assert.True(after.Validate(certB).IsValid);
    }

    [Fact]
    public async Task Issue_CaKeyReadableByOthers_RefusedInOneLine()
    {
        Assert.Equal(0, (await Run("init")).ExitCode);
        File.SetUnixFileMode(Path.Combine(Pki, "ca.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        CliResult result = await Run("issue", "--device", "dev-a");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("accessible by group or others", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(Path.Combine(Pki, "devices", "dev-a.crt")));
    }

    [Theory]
    [InlineData("issue")]
    [InlineData("issue", "--device", "a", "--server", "h")]
    [InlineData("issue", "--server", "h", "--mud-url", "https://x.example/m.json")]
    [InlineData("issue", "--device", "a/b")]
    [InlineData("issue", "--device", "a", "--mud-url", "http://x.example/m.json")]
    [InlineData("revoke")]
    public async Task BadArguments_OneLineExitTwo(params string[] args)
    {
        Assert.Equal(0, (await Run("init")).ExitCode);
        CliResult result = await Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_Twice_RefusedWithoutForce()
    {
        Assert.Equal(0, (await Run("init")).ExitCode);
        CliResult again = await Run("init");
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("--force", again.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_WithoutCa_SaysToRunInit()
    {
        CliResult result = await Run("issue", "--device", "dev-a");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("fededge pki init", result.Stderr, StringComparison.Ordinal);
    }
}
