namespace FedEdge.Cli.Tests;

/// <summary><c>fededge mosquitto-config</c> as a process: the files it writes, and each bad input refused in one line.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MosquittoConfigCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-cli-mosqconf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Pki => Path.Combine(_dir, "pki");

    private string Out => Path.Combine(_dir, "mosquitto");

    private static async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private async Task IssueAsync()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "broker.example", "--dir", Pki);
        await Ok("pki", "issue", "--server", "coordinator", "--dir", Pki);
        await Ok("pki", "issue", "--device", "doorbell", "--dir", Pki);
    }

    private string[] Args(string coordinatorCert, params string[] more) =>
        ["mosquitto-config", "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "broker.example.crt"), "--key", Path.Combine(Pki, "servers", "broker.example.key"),
         "--coordinator-cert", coordinatorCert, "--out", Out, .. more];

    private static string OneLine(CliResult r, int exit)
    {
        Assert.True(r.ExitCode == exit, r.Stdout + r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        return Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task WritesCertificateOnlyConfigAndAclKeyedByIdentity()
    {
        await IssueAsync();
        CliResult r = await CliRunner.RunAsync(Args(Path.Combine(Pki, "servers", "coordinator.crt"), "--crl", Path.Combine(Pki, "crl.pem"), "--port", "18883", "--bind", "0.0.0.0"));
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("start it with: mosquitto -c " + Path.Combine(Out, "mosquitto.conf"), r.Stdout, StringComparison.Ordinal);

        string conf = await File.ReadAllTextAsync(Path.Combine(Out, "mosquitto.conf"));
        Assert.Contains("allow_anonymous false\n", conf, StringComparison.Ordinal);
        Assert.Contains("listener 18883 0.0.0.0\n", conf, StringComparison.Ordinal);
        Assert.Contains("require_certificate true\n", conf, StringComparison.Ordinal);
        Assert.Contains("use_identity_as_username true\n", conf, StringComparison.Ordinal);
        Assert.Contains("crlfile " + Path.Combine(Pki, "crl.pem") + "\n", conf, StringComparison.Ordinal);
        Assert.Contains("cafile " + Path.Combine(Pki, "ca.crt") + "\n", conf, StringComparison.Ordinal);
        Assert.DoesNotContain("ca.key", conf, StringComparison.Ordinal);
        Assert.DoesNotContain("password_file", conf, StringComparison.Ordinal);

        string acl = await File.ReadAllTextAsync(Path.Combine(Out, "fededge.acl"));
        Assert.Contains("user coordinator\ntopic readwrite fededge/fededge/#\n", acl, StringComparison.Ordinal);
        Assert.Contains("pattern write fededge/fededge/devices/%u/update\n", acl, StringComparison.Ordinal);
        Assert.DoesNotContain("pattern write fededge/fededge/model", acl, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceCertificateAsCoordinator_UsageErrorNamingTheReason()
    {
        await IssueAsync();
        string line = OneLine(await CliRunner.RunAsync(Args(Path.Combine(Pki, "devices", "doorbell.crt"))), 2);
        Assert.Contains("--coordinator-cert is not a coordinator certificate of this CA (WrongUsage)", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Out, "mosquitto.conf")));
    }

    [Fact]
    public async Task CoordinatorCertificateFromAnotherCa_UsageErrorNamingTheReason()
    {
        await IssueAsync();
        string other = Path.Combine(_dir, "other");
        await Ok("pki", "init", "--dir", other);
        await Ok("pki", "issue", "--server", "coordinator", "--dir", other);
        string line = OneLine(await CliRunner.RunAsync(Args(Path.Combine(other, "servers", "coordinator.crt"))), 2);
        Assert.Contains("(UntrustedIssuer)", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokerKeyReadableByOthers_Refused()
    {
        await IssueAsync();
        File.SetUnixFileMode(Path.Combine(Pki, "servers", "broker.example.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        string line = OneLine(await CliRunner.RunAsync(Args(Path.Combine(Pki, "servers", "coordinator.crt"))), 1);
        Assert.Contains("broker.example.key", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Out, "mosquitto.conf")));
    }

    [Fact]
    public async Task MissingCa_UsageError()
    {
        string line = OneLine(await CliRunner.RunAsync(["mosquitto-config", "--cert", "b.crt", "--key", "b.key", "--coordinator-cert", "c.crt"]), 2);
        Assert.Contains("--ca", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceAndServerOfTheSameName_Refused()
    {
        await IssueAsync();
        string line = OneLine(await CliRunner.RunAsync(["pki", "issue", "--device", "coordinator", "--dir", Pki]), 2);
        Assert.Contains("devices and servers need different names", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Pki, "devices", "coordinator.crt")));
    }
}
