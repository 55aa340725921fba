using System.Net;
using System.Net.Sockets;
using Xunit;

namespace FedEdge.Testing;

/// <summary>Free 127.0.0.1 ports for test servers, and waiting until a process under test listens on one.</summary>
public static class LoopbackPorts
{
    /// <summary>A port that was free on 127.0.0.1 a moment ago (the kernel's choice for port 0).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>. Fails the test at once when
    /// <paramref name="process"/> ends first (with its output), or after <paramref name="timeout"/> (default 60 s).
    /// </summary>
    public static async Task WaitForListenerAsync(int port, Task<CliResult> process, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(process);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (process.IsCompleted)
            {
                CliResult early = await process.ConfigureAwait(false);
                Assert.Fail($"the process exited before it listened on {port} ({early.ExitCode}): {early.Stdout}{early.Stderr}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, cts.Token).ConfigureAwait(false);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100, cts.Token).ConfigureAwait(false);
            }
        }
    }
}
