using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Administrator approval of a weakly sourced MUD URL (issue 13), as real processes: with certificates configured, a
/// device whose certificate carries no MUD URL and that asserts one itself (<c>fededge worker --mud-url</c>) is refused
/// as weak; once <c>fededge ups approve --device ID --mud-url URL</c> recorded the approval in the folder the
/// coordinator reads (<c>--user-policy DIR</c>), that device is admitted on that URL, and another device asserting the
/// same URL is still refused.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MudApprovalProcessTests : IAsyncLifetime
{
    private const string Url = "https://mud.fededge.example/nbaiot/Ennio_Doorbell.json";
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-mudapproval-").FullName;
    private readonly List<CliProcess> _processes = [];

    private string Pki => Path.Combine(_dir, "pki");

    private string Ups => Path.Combine(_dir, "ups");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (CliProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static async Task<CliResult> Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
        return r;
    }

    private Task<CliResult> Worker(int port, string id) => CliRunner.RunAsync(
        ["worker", "--device-id", id, "--broker", $"mqtts://localhost:{Port(port)}",
         "--data", Path.Combine(RepoPaths.Root, "samples", "data", "Danmini_Doorbell.csv.gz"), "--exit-after-round", "1", "--connect-timeout", "30",
         "--mud-url", Url,
         "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "devices", id + ".crt"), "--key", Path.Combine(Pki, "devices", id + ".key")],
        timeout: Generous);

    private static void AssertRefusedAsWeak(CliResult worker)
    {
        Assert.True(worker.ExitCode == 3, worker.Stdout + worker.Stderr);
        Assert.Contains($"The MUD URL '{Url}' comes from a weak source (join request), not the device certificate", worker.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WeakMudUrl_RefusedUntilApprovedForThatDevice_ThenAdmitted_AnotherDeviceWithTheSameUrlStillRefused()
    {
        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        await Ok("pki", "issue", "--device", "ennio", "--dir", Pki);
        await Ok("pki", "issue", "--device", "other", "--dir", Pki);

        int port = LoopbackPorts.Free();
        CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--port", Port(port), "--rounds", "1", "--min-devices", "1", "--verbose",
             "--mud", Path.Combine(RepoPaths.Root, "samples", "mud"), "--user-policy", Ups, "--device", "ennio", "--device", "other",
             "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"), "--crl", Path.Combine(Pki, "crl.pem"),
             "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")]);
        _processes.Add(coordinator);
        await coordinator.WaitForLineAsync(l => l.Contains("coordinator listening", StringComparison.Ordinal), Generous, "the coordinator listening");
        Assert.Contains("User Policy Server " + Path.Combine(Ups, "user-policy.json"), coordinator.Stdout, StringComparison.Ordinal);

        // No approval yet: the URL the device asserts itself is weak.
        AssertRefusedAsWeak(await Worker(port, "ennio"));

        // The administrator approves it for ennio only; the store is the owner's alone.
        CliResult approved = await Ok("ups", "approve", "--device", "ennio", "--mud-url", Url, "--dir", Ups);
        Assert.Contains($"approved: {Url} for device 'ennio' by 'admin'", approved.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Ups, "user-policy.json")));
        using (JsonDocument list = JsonDocument.Parse((await Ok("ups", "list", "--json", "--dir", Ups)).Stdout))
        {
            JsonElement entry = Assert.Single(list.RootElement.EnumerateArray());
            Assert.Equal("ennio", entry.GetProperty("device").GetString());
            Assert.Equal(Url, entry.GetProperty("mud_url").GetString());
        }

        // Another device presenting the same URL is not covered by ennio's approval.
        AssertRefusedAsWeak(await Worker(port, "other"));

        CliResult ennio = await Worker(port, "ennio");
        Assert.True(ennio.ExitCode == 0, ennio.Stdout + ennio.Stderr);
        Assert.True(await coordinator.WaitForExitAsync(Generous) == 0, coordinator.Describe());
        Assert.Contains("round 1 completed=True participants=1", coordinator.Stdout, StringComparison.Ordinal);
        string admitted = Assert.Single(coordinator.StderrLines, l => l.Contains("Device ennio admitted", StringComparison.Ordinal));
        Assert.Contains("MUD URL from join request (weak).", admitted, StringComparison.Ordinal);
        Assert.Contains("Weakly sourced MUD URL approved by administrator 'admin' for device 'ennio' (verified certificate)", admitted, StringComparison.Ordinal);
        Assert.DoesNotContain("Device other admitted", coordinator.Stderr, StringComparison.Ordinal);
        Assert.Contains("refused other: The MUD URL", coordinator.Stdout, StringComparison.Ordinal);
    }
}
