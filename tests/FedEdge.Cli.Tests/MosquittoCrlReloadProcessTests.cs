using System.Diagnostics;
using System.Globalization;

namespace FedEdge.Cli.Tests;

/// <summary>
/// What Mosquitto 2.0.11 does with <c>crlfile</c> after <c>fededge pki revoke</c>, with a real broker on the
/// configuration <c>fededge mosquitto-config</c> writes. The broker keeps the CRL it loaded until it reloads its
/// configuration: until then the revoked certificate still connects. After SIGHUP, a new connection with the revoked
/// certificate fails in the TLS handshake and the other devices still connect. A connection the revoked device opened
/// before the reload stays open. The coordinator's own CRL reload refuses that device's updates.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MosquittoCrlReloadProcessTests : IDisposable
{
    private const string Pub = "/usr/bin/mosquitto_pub";
    private const string Sub = "/usr/bin/mosquitto_sub";
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-crlreload-").FullName;
    private readonly List<Process> _clients = [];

    private string Pki => Path.Combine(_dir, "pki");

    public void Dispose()
    {
        foreach (Process client in _clients)
        {
            if (!client.HasExited)
            {
                client.Kill();
                client.WaitForExit();
            }

            client.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static async Task Ok(params string[] args)
    {
        CliResult r = await CliRunner.RunAsync(args);
        Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stdout + r.Stderr);
    }

    private string[] Tls(string folder, string id) =>
        ["-h", "localhost", "--cafile", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, folder, id + ".crt"), "--key", Path.Combine(Pki, folder, id + ".key")];

    private Process Start(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        Process process = Process.Start(start)!;
        _clients.Add(process);
        return process;
    }

    /// <summary>A new connection of device <paramref name="id"/> publishing on its own status topic: the exit code of mosquitto_pub (0 = connected and published).</summary>
    private async Task<(int Exit, string Error)> PublishAsDeviceAsync(int port, string id)
    {
        Process pub = Start(Pub, [.. Tls("devices", id), "-p", Text(port), "-i", id + "-" + Guid.NewGuid().ToString("N")[..8], "-t", $"fededge/fededge/devices/{id}/status", "-m", "probe"]);
        Task<string> error = pub.StandardError.ReadToEndAsync();
        await pub.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (pub.ExitCode, await error);
    }

    /// <summary>Device <paramref name="id"/> holds a connection open, waiting for one message on its inbox.</summary>
    private Process Listen(int port, string id) =>
        Start(Sub, [.. Tls("devices", id), "-p", Text(port), "-i", id + "-listening", "-t", $"fededge/fededge/devices/{id}/inbox", "-C", "1", "-W", "60"]);

    [Fact]
    public async Task RevokedCertificate_RefusedOnNewConnectionsOnlyAfterSighup_OtherDevicesAndOpenConnectionsKeepWorking()
    {
        if (!File.Exists(Pub) || !File.Exists(Sub) || !MosquittoBroker.IsInstalled)
        {
            Assert.False(RepoPaths.IsCi, "CI must run the Mosquitto CRL test but mosquitto or its clients are missing; install 'mosquitto' and 'mosquitto-clients'.");
            return;
        }

        await Ok("pki", "init", "--dir", Pki);
        await Ok("pki", "issue", "--server", "localhost", "--dir", Pki);
        await Ok("pki", "issue", "--server", "coordinator", "--dir", Pki);
        await Ok("pki", "issue", "--device", "doorbell", "--dir", Pki);
        await Ok("pki", "issue", "--device", "camera", "--dir", Pki);

        int port = LoopbackPorts.Free();
        string conf = Path.Combine(_dir, "mosquitto");
        await Ok("mosquitto-config", "--ca", Path.Combine(Pki, "ca.crt"), "--cert", Path.Combine(Pki, "servers", "localhost.crt"), "--key", Path.Combine(Pki, "servers", "localhost.key"),
            "--coordinator-cert", Path.Combine(Pki, "servers", "coordinator.crt"), "--crl", Path.Combine(Pki, "crl.pem"), "--port", Text(port), "--out", conf);
        await using MosquittoBroker broker = (await MosquittoBroker.StartFromFileAsync(Path.Combine(conf, "mosquitto.conf"), port))!;

        Assert.Equal(0, (await PublishAsDeviceAsync(port, "doorbell")).Exit);
        Assert.Equal(0, (await PublishAsDeviceAsync(port, "camera")).Exit);
        Process doorbellOpen = Listen(port, "doorbell");
        Process cameraOpen = Listen(port, "camera");
        await WaitForSubscriptionsAsync(broker, "doorbell-listening", "camera-listening");

        // Revoked in crl.pem, but Mosquitto still holds the CRL it loaded at start: the revoked certificate connects.
        await Ok("pki", "revoke", "--device", "doorbell", "--dir", Pki);
        (int stillConnects, string why) = await PublishAsDeviceAsync(port, "doorbell");
        Assert.True(stillConnects == 0, "Mosquitto refused the revoked certificate before any reload: " + why + broker.Log);

        // SIGHUP: Mosquitto reloads its configuration and the CRL with it.
        // The log line comes as the reload starts; the listeners' TLS settings follow in the same pass, so allow it a moment.
        await broker.ReloadAsync();
        (int refused, string error) = await PublishAsDeviceAsync(port, "doorbell");
        for (int attempt = 0; refused == 0 && attempt < 20; attempt++)
        {
            await Task.Delay(250);
            (refused, error) = await PublishAsDeviceAsync(port, "doorbell");
        }

        Assert.True(refused != 0, "the revoked certificate still connects after SIGHUP:\n" + broker.Log);
        Assert.DoesNotContain("probe", error, StringComparison.Ordinal);
        Assert.Contains("certificate verify failed", broker.Log, StringComparison.Ordinal);
        Assert.Equal(0, (await PublishAsDeviceAsync(port, "camera")).Exit);

        // The connections opened before the reload stay open, the revoked device's too: both still receive.
        Process coordinator = Start(Pub, [.. Tls("servers", "coordinator"), "-p", Text(port), "-i", "coordinator", "-t", "fededge/fededge/devices/doorbell/inbox", "-m", "after-reload"]);
        await coordinator.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, coordinator.ExitCode);
        Process coordinatorToCamera = Start(Pub, [.. Tls("servers", "coordinator"), "-p", Text(port), "-i", "coordinator-2", "-t", "fededge/fededge/devices/camera/inbox", "-m", "after-reload"]);
        await coordinatorToCamera.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        foreach (Process open in new[] { doorbellOpen, cameraOpen })
        {
            Task<string> received = open.StandardOutput.ReadToEndAsync();
            await open.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(open.ExitCode == 0, await open.StandardError.ReadToEndAsync() + broker.Log);
            Assert.Equal("after-reload", (await received).Trim());
        }
    }

    /// <summary>Waits until the broker's log shows a SUBACK to each client, so the listeners are subscribed before messages go out.</summary>
    private static async Task WaitForSubscriptionsAsync(MosquittoBroker broker, params string[] clients)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!clients.All(c => broker.Log.Contains("Sending SUBACK to " + c, StringComparison.Ordinal)))
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
