using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Hierarchy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Rows;

/// <summary>Settings of a <see cref="RowUploadListener"/>.</summary>
public sealed class RowUploadListenerOptions
{
    /// <summary>The address to listen on (default: loopback).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>The port (0: the system picks a free one; see <see cref="RowUploadListener.Port"/>).</summary>
    public int Port { get; set; }

    /// <summary>The edge's server certificate, with its private key: the link is TLS with it.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Each device's upload password (device id to password): a device proves who it is with it, inside TLS.</summary>
    public IDictionary<string, string> DevicePasswords { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The largest upload accepted, in bytes (default 64 MiB).</summary>
    public int MaxUploadBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>How long one connection may take to deliver its upload.</summary>
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// An edge's Model-2 row upload endpoint: a TCP listener whose connections must open with TLS. Each connection carries
/// one upload (device id, password, rows) and gets one answer (accepted, or refused with a <see cref="RowUploadRefusal"/>
/// and a reason). A client that speaks plain text is answered in plain text that it was refused, before its rows are read.
/// The rules themselves (TLS only, trusted devices only) are the <see cref="TrustedRowIntake"/>'s.
/// </summary>
public sealed class RowUploadListener : IAsyncDisposable
{
    private const byte TlsHandshakeRecord = 0x16;
    private const int MaxFieldBytes = 256;
    private const string Proceed = "send the rows";
    private readonly RowUploadListenerOptions _options;
    private readonly TrustedRowIntake _intake;
    private readonly ILogger _logger;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private Task? _accepting;

    /// <summary>Creates a listener that hands uploads to <paramref name="intake"/>; <see cref="Start"/> opens it.</summary>
    public RowUploadListener(RowUploadListenerOptions options, TrustedRowIntake intake, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(intake);
        if (options.Certificate is null || !options.Certificate.HasPrivateKey)
        {
            throw new ArgumentException("RowUploadListenerOptions.Certificate must be a server certificate with its private key: rows travel over TLS only.", nameof(options));
        }

        _options = options;
        _intake = intake;
        _logger = (ILogger?)loggerFactory?.CreateLogger<RowUploadListener>() ?? NullLogger.Instance;
        _listener = new TcpListener(options.Address, options.Port);
    }

    /// <summary>The port the listener is bound to (after <see cref="Start"/>).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Starts accepting uploads.</summary>
    public void Start()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        if (_accepting is not null)
        {
            try
            {
                await _accepting.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(_options.ConnectionTimeout);
        CancellationToken token = timeout.Token;
        Stream? stream = null;
        try
        {
            byte[] first = new byte[1];
            if (await socket.ReceiveAsync(first, SocketFlags.Peek, token).ConfigureAwait(false) == 0)
            {
                return;
            }

            var network = new NetworkStream(socket, ownsSocket: true);
            stream = network;
            bool encrypted = first[0] == TlsHandshakeRecord;
            if (encrypted)
            {
                var tls = new SslStream(network, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _options.Certificate, ClientCertificateRequired = false }, token).ConfigureAwait(false);
            }

            string deviceId = await ReadFieldAsync(stream, token).ConfigureAwait(false);
            if (!encrypted)
            {
                // Refused before the password and the rows are read: on a plain-text link they would travel in the clear.
                await AnswerAsync(stream, _intake.Screen(deviceId.Length == 0 ? "(none)" : deviceId, encryptedLink: false)!, token).ConfigureAwait(false);
                return;
            }

            string password = await ReadFieldAsync(stream, token).ConfigureAwait(false);
            byte[] length = new byte[4];
            await stream.ReadExactlyAsync(length, token).ConfigureAwait(false);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(length);
            if (!Authenticated(deviceId, password))
            {
                RowsLog.Unauthenticated(_logger, deviceId);
                await AnswerAsync(stream, accepted: false, refusal: null, "device id or password not recognised", token).ConfigureAwait(false);
                return;
            }

            if (size > _options.MaxUploadBytes)
            {
                await AnswerAsync(stream, accepted: false, RowUploadRefusal.Malformed, $"upload of {size} bytes exceeds the edge's limit of {_options.MaxUploadBytes}", token).ConfigureAwait(false);
                return;
            }

            // The device sends its rows only after this answer: an untrusted device's rows never leave it.
            if (_intake.Screen(deviceId, encryptedLink: true) is { } refused)
            {
                await AnswerAsync(stream, refused, token).ConfigureAwait(false);
                return;
            }

            await AnswerAsync(stream, accepted: false, refusal: null, Proceed, token).ConfigureAwait(false);
            byte[] payload = new byte[size];
            await stream.ReadExactlyAsync(payload, token).ConfigureAwait(false);
            await AnswerAsync(stream, _intake.Offer(deviceId, encryptedLink: true, payload), token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            RowsLog.ConnectionFailed(_logger, ex.Message);
        }
        finally
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    private bool Authenticated(string deviceId, string password) =>
        _options.DevicePasswords.TryGetValue(deviceId, out string? expected)
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(password));

    private static async Task<string> ReadFieldAsync(Stream stream, CancellationToken token)
    {
        byte[] length = new byte[2];
        await stream.ReadExactlyAsync(length, token).ConfigureAwait(false);
        int size = BinaryPrimitives.ReadUInt16LittleEndian(length);
        if (size > MaxFieldBytes)
        {
            throw new InvalidDataException($"a field of {size} bytes is longer than {MaxFieldBytes}");
        }

        byte[] field = new byte[size];
        await stream.ReadExactlyAsync(field, token).ConfigureAwait(false);
        return Encoding.UTF8.GetString(field);
    }

    private static Task AnswerAsync(Stream stream, RowUploadOutcome outcome, CancellationToken token) =>
        AnswerAsync(stream, outcome.Accepted, outcome.Refusal, outcome.Reason ?? string.Empty, token);

    private static async Task AnswerAsync(Stream stream, bool accepted, RowUploadRefusal? refusal, string reason, CancellationToken token)
    {
        byte[] text = Encoding.UTF8.GetBytes(reason.Length > MaxFieldBytes ? reason[..MaxFieldBytes] : reason);
        byte[] answer = new byte[2 + 2 + text.Length];
        answer[0] = accepted ? (byte)0 : ReferenceEquals(reason, Proceed) ? (byte)2 : (byte)1;
        answer[1] = refusal is { } r ? (byte)(r + 1) : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(answer.AsSpan(2), (ushort)text.Length);
        text.CopyTo(answer, 4);
        await stream.WriteAsync(answer, token).ConfigureAwait(false);
        await stream.FlushAsync(token).ConfigureAwait(false);
    }
}

/// <summary>Log messages of the row upload endpoint (event ids 6100-6109).</summary>
internal static partial class RowsLog
{
    [LoggerMessage(6100, LogLevel.Warning, "Model-2 row upload: device {DeviceId} not authenticated")]
    public static partial void Unauthenticated(ILogger logger, string deviceId);

    [LoggerMessage(6101, LogLevel.Debug, "Model-2 row upload connection ended early: {Reason}")]
    public static partial void ConnectionFailed(ILogger logger, string reason);
}
