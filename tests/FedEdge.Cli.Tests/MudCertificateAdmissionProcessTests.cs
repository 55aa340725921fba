using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// MUD admission with a certificate-sourced URL (issue 13), as real processes: <c>fededge pki issue --device ID
/// --mud-url URL</c> writes the device's MUD URL into its certificate (RFC 8520 id-pe-mud-url), and
/// <c>fededge coordinator --mud samples/mud --ca --cert --key</c> admits the device on that URL as a strong source.
/// With certificates configured, a URL the device only asserts itself (<c>fededge worker --mud-url</c>) is weak and
/// refused, and so is a device that presents a MUD URL other than its certificate's (another device's profile).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class MudCertificateAdmissionProcessTests : IAsyncLifetime
{
    private const string MudBase = "https://mud.fededge.example/nbaiot/";
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-mudcert-").FullName;
    private readonly List<CliProcess> _processes = [];

    private string Pki => Path.Combine(_dir, "pki");

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

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private CliProcess StartCoordinator(int port, params string[] devices)
    {
        CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--port", Port(port), "--rounds", "1", "--min-devices", "1", "--verbose",
             "--mud", Path.Combine(RepoPaths.Root, "samples", "mud"),
             .. devices.SelectMany(d => new[] { "--device", d }),
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")]);
        _processes.Add(coordinator);
        return coordinator;
    }

    /// <summary>A worker over mqtts:// with its certificate; <paramref name="selfAsserted"/> is a MUD URL it presents itself.</summary>
    private Task<CliResult> Worker(int port, string id, string? selfAsserted) => CliRunner.RunAsync(
        ["worker", "--device-id", id, "--broker", $"mqtts://localhost:{Port(port)}",
         "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--exit-after-round", "1", "--connect-timeout", "30",
         .. (selfAsserted is null ? Array.Empty<string>() : ["--mud-url", selfAsserted]),
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "devices", id + ".crt"), "--key", Path.Combine(Pki, "devices", id + ".key")],
        timeout: Generous);

    private static void AssertRefusedAtJoin(CliResult worker, string reason)
    {
        Assert.True(worker.ExitCode == 3, worker.Stdout + worker.Stderr);
        Assert.Contains("refused", worker.Stdout, StringComparison.Ordinal);
        Assert.Contains(reason, worker.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CertificateMudUrl_AdmittedAsStrong_SelfAssertedAndMismatchedUrlsRefusedWithReasons()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);

        // The doorbell's certificate carries its MUD URL; the self-asserting device's carries none; the impostor's
        // certificate names the camera's profile, but it presents the doorbell's.
        await Ok("pki", "issue", "--device", "doorbell", "--mud-url", MudBase + "Danmini_Doorbell.json", "--dir", Pki);
        await Ok("pki", "issue", "--device", "selfasserted", "--dir", Pki);
        await Ok("pki", "issue", "--device", "impostor", "--mud-url", MudBase + "Provision_PT_737E_Security_Camera.json", "--dir", Pki);

        int port = LoopbackPorts.Free();
        CliProcess coordinator = StartCoordinator(port, "doorbell", "selfasserted", "impostor");
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), Generous, "the coordinator listening");
        Assert.Contains("MUD admission:", coordinator.Stdout, StringComparison.Ordinal);

        // The refused devices first, so both are judged before the doorbell's round completes.
        CliResult selfAsserted = await Worker(port, "selfasserted", MudBase + "Ennio_Doorbell.json");
        AssertRefusedAtJoin(selfAsserted, $"The MUD URL '{MudBase}Ennio_Doorbell.json' comes from a weak source (join request), not the device certificate");
        CliResult impostor = await Worker(port, "impostor", MudBase + "Danmini_Doorbell.json");
        AssertRefusedAtJoin(impostor, $"The presented MUD URL '{MudBase}Danmini_Doorbell.json' differs from the one in the device certificate '{MudBase}Provision_PT_737E_Security_Camera.json'");

        // The doorbell presents no URL of its own: admission reads it from the certificate.
        CliResult doorbell = await Worker(port, "doorbell", null);
        Assert.True(doorbell.ExitCode == 0, doorbell.Stdout + doorbell.Stderr);
        Assert.True(await coordinator.WaitForExitAsync(Generous) == 0, coordinator.Describe());

        Assert.Contains("round 1 completed=True participants=1", coordinator.Stdout, StringComparison.Ordinal);
        string admitted = Assert.Single(coordinator.StderrLines, l => l.Contains("Device doorbell admitted", StringComparison.Ordinal));
        Assert.Contains("MUD URL from the device certificate (strong).", admitted, StringComparison.Ordinal);
        Assert.DoesNotContain("Device selfasserted admitted", coordinator.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Device impostor admitted", coordinator.Stderr, StringComparison.Ordinal);
        Assert.Contains("refused selfasserted: The MUD URL", coordinator.Stdout, StringComparison.Ordinal);
        Assert.Contains("refused impostor: The presented MUD URL", coordinator.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("refused doorbell", coordinator.Stdout, StringComparison.Ordinal);

        // The run report keeps both: the admitted device with where its URL came from, the refused ones with their reasons.
        string runId = RunRecorded().Match(coordinator.Stdout).Groups["id"].Value;
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "runs", runId, "report.json")));
        JsonElement admittedDevice = Assert.Single(report.RootElement.GetProperty("admitted").EnumerateArray());
        Assert.Equal("doorbell", admittedDevice.GetProperty("device").GetString());
        Assert.Contains("MUD URL from the device certificate (strong).", admittedDevice.GetProperty("notes").GetString(), StringComparison.Ordinal);
        Dictionary<string, string> refused = report.RootElement.GetProperty("refused").EnumerateArray()
            .ToDictionary(d => d.GetProperty("device").GetString()!, d => d.GetProperty("reasons").GetString()!);
        Assert.Equal(["impostor", "selfasserted"], refused.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("comes from a weak source", refused["selfasserted"], StringComparison.Ordinal);
        Assert.Contains("differs from the one in the device certificate", refused["impostor"], StringComparison.Ordinal);
    }

    [GeneratedRegex(@"run recorded: (?<id>\S+)")]
    private static partial Regex RunRecorded();
}
