using System.Net;
using System.Net.Sockets;

namespace FedEdge.Testing;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a real server, which a test can cut to simulate a network partition.
/// While cut, the relay stays silent: it keeps accepting connections and reading from both sides but forwards nothing,
/// so neither end sees a reset and each must notice the silence by its own keep-alives and heartbeats. When the link
/// heals, every connection that lived through the cut is reset (its byte stream lost data) and new connections pass.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<Link> _links = [];
    private readonly Task _accepting;
    private volatile bool _cut;

    private TcpRelay(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The relay's own port on 127.0.0.1: point the client here instead of at the server.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Whether the link is cut.</summary>
    public bool IsCut => _cut;

    /// <summary>Starts a relay to 127.0.0.1:<paramref name="upstreamPort"/>.</summary>
    public static TcpRelay Start(int upstreamPort) => new(new IPEndPoint(IPAddress.Loopback, upstreamPort));

    /// <summary>Cuts the link: from now on nothing passes in either direction, silently.</summary>
    public void Cut()
    {
        lock (_gate)
        {
            _cut = true;
            foreach (Link link in _links)
            {
                link.Damaged = true;
            }
        }
    }

    /// <summary>Heals the link: connections that lived through the cut are reset, new ones pass again.</summary>
    public void Heal()
    {
        Link[] damaged;
        lock (_gate)
        {
            _cut = false;
            damaged = [.. _links.Where(l => l.Damaged)];
        }

        foreach (Link link in damaged)
        {
            link.Reset();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Link[] all;
        lock (_gate)
        {
            all = [.. _links];
        }

        foreach (Link link in all)
        {
            link.Reset();
        }

        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var link = new Link(client);
        lock (_gate)
        {
            link.Damaged = _cut;
            _links.Add(link);
        }

        try
        {
            if (_cut)
            {
                // A connection made during the cut reaches nothing: its bytes are read and dropped until the link heals.
                await DrainAsync(link).ConfigureAwait(false);
                return;
            }

            link.Server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await link.Server.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
            await Task.WhenAll(PumpAsync(link, client, link.Server), PumpAsync(link, link.Server, client)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // One side went away: the link ends.
        }
        finally
        {
            link.Reset();
            lock (_gate)
            {
                _links.Remove(link);
            }
        }
    }

    private async Task DrainAsync(Link link)
    {
        byte[] buffer = new byte[4096];
        while (await link.Client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false) > 0)
        {
        }
    }

    private async Task PumpAsync(Link link, Socket from, Socket to)
    {
        byte[] buffer = new byte[16384];
        while (true)
        {
            int read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                if (link.Damaged && from == link.Server)
                {
                    // The server gave up on the silent link; the client must not learn of it until the link heals.
                    return;
                }

                link.Reset();
                return;
            }

            if (!link.Damaged)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
        }
    }

    private sealed class Link(Socket client)
    {
        private int _reset;

        public Socket Client { get; } = client;

        public Socket? Server { get; set; }

        public volatile bool Damaged;

        public void Reset()
        {
            if (Interlocked.Exchange(ref _reset, 1) == 1)
            {
                return;
            }

            foreach (Socket? socket in new[] { Client, Server })
            {
                if (socket is null)
                {
                    continue;
                }

                try
                {
                    socket.LingerState = new LingerOption(true, 0); // Close with a reset, as a broken path would end.
                    socket.Close();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
    }
}
