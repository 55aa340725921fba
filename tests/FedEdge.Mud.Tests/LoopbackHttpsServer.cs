using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FedEdge.Mud.Tests;

/// <summary>A minimal real HTTPS/1.1 server on 127.0.0.1 (TcpListener + SslStream) with a BCL-made certificate.</summary>
public sealed class LoopbackHttpsServer : IAsyncDisposable
{
    public sealed record Response(int Status, byte[] Body, string ContentType = "application/mud+json", string? Location = null, bool Hang = false);

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ConcurrentDictionary<string, Response> Routes { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<(string Path, string? Accept)> Requests { get; } = new();

    public X509Certificate2 Certificate { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public LoopbackHttpsServer()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using X509Certificate2 ephemeral = req.CreateSelfSigned(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2040, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public Uri Url(string path) => new($"https://127.0.0.1:{Port}{path}");

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var ssl = new SslStream(client.GetStream(), false);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate }, _stop.Token);
                string head = await ReadHeadAsync(ssl);
                string[] lines = head.Split("\r\n");
                string path = lines[0].Split(' ')[1];
                string? accept = lines.Skip(1).Where(l => l.StartsWith("Accept:", StringComparison.OrdinalIgnoreCase)).Select(l => l[7..].Trim()).FirstOrDefault();
                Requests.Enqueue((path, accept));
                Response r = Routes.TryGetValue(path, out Response? found) ? found : new Response(404, "not found"u8.ToArray(), "text/plain");
                if (r.Hang)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }

                var sb = new StringBuilder();
                sb.Append("HTTP/1.1 ").Append(r.Status).Append(' ').Append(r.Status == 200 ? "OK" : "Status").Append("\r\n");
                sb.Append("Content-Type: ").Append(r.ContentType).Append("\r\n");
                sb.Append("Content-Length: ").Append(r.Body.Length).Append("\r\n");
                if (r.Location is not null)
                {
                    sb.Append("Location: ").Append(r.Location).Append("\r\n");
                }

                sb.Append("Connection: close\r\n\r\n");
                await ssl.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), _stop.Token);
                await ssl.WriteAsync(r.Body, _stop.Token);
                await ssl.FlushAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
            {
                // The client went away, timed out or rejected our certificate: that is what some tests provoke.
                Requests.Enqueue(("!" + ex.GetType().Name, null));
            }
        }
    }

    private static async Task<string> ReadHeadAsync(Stream s)
    {
        var buf = new List<byte>();
        byte[] one = new byte[1];
        while (buf.Count < 16384)
        {
            int n = await s.ReadAsync(one);
            if (n == 0)
            {
                break;
            }

            buf.Add(one[0]);
            if (buf.Count >= 4 && buf[^1] == '\n' && buf[^2] == '\r' && buf[^3] == '\n' && buf[^4] == '\r')
            {
                break;
            }
        }

        return Encoding.ASCII.GetString(buf.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        _listener.Dispose();
        Certificate.Dispose();
        _stop.Dispose();
    }
}
