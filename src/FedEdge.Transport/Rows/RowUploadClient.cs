using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Hierarchy;

namespace FedEdge.Transport.Rows;

/// <summary>Where and as whom a device uploads its rows to its edge (Model-2).</summary>
public sealed class RowUploadClientOptions
{
    /// <summary>The edge's host name (it must match the edge certificate's name).</summary>
    public required string Host { get; init; }

    /// <summary>The edge's row upload port.</summary>
    public required int Port { get; init; }

    /// <summary>The device's id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The device's upload password at its edge.</summary>
    public required string Password { get; init; }

    /// <summary>The root the edge's certificate must chain to; null: the system's roots.</summary>
    public X509Certificate2? TrustedRoot { get; init; }
}

/// <summary>
/// A device's side of a Model-2 row upload. It speaks TLS only: there is no way to send rows in plain text, and an edge
/// whose certificate does not check out gets nothing.
/// </summary>
public static class RowUploadClient
{
    /// <summary>
    /// Uploads <paramref name="payload"/> (from <see cref="RowUploadCodec.Encode"/>) and returns the edge's answer.
    /// </summary>
    /// <exception cref="TransportException">The edge cannot be reached, its certificate is not trusted, or it did not answer.</exception>
    public static async Task<RowUploadOutcome> UploadAsync(RowUploadClientOptions options, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(options.Host, options.Port, cancellationToken).ConfigureAwait(false);
            await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            var authentication = new SslClientAuthenticationOptions { TargetHost = options.Host };
            if (options.TrustedRoot is { } root)
            {
                authentication.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                authentication.CertificateChainPolicy.CustomTrustStore.Add(root);
            }

            await tls.AuthenticateAsClientAsync(authentication, cancellationToken).ConfigureAwait(false);
            byte[] id = Encoding.UTF8.GetBytes(options.DeviceId);
            byte[] password = Encoding.UTF8.GetBytes(options.Password);
            byte[] header = new byte[2 + id.Length + 2 + password.Length + 4];
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)id.Length);
            id.CopyTo(header, 2);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2 + id.Length), (ushort)password.Length);
            password.CopyTo(header, 4 + id.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4 + id.Length + password.Length), (uint)payload.Length);
            await tls.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await tls.FlushAsync(cancellationToken).ConfigureAwait(false);

            // The rows go only once the edge said it will take them: a refused device keeps them.
            if (await ReadAnswerAsync(tls, options.DeviceId, 0, cancellationToken).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            await tls.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            await tls.FlushAsync(cancellationToken).ConfigureAwait(false);
            return await ReadAnswerAsync(tls, options.DeviceId, payload.Length, cancellationToken).ConfigureAwait(false)
                ?? throw new TransportException($"the edge at {options.Host}:{options.Port} asked for {options.DeviceId}'s rows twice");
        }
        catch (Exception ex) when (ex is SocketException or IOException or AuthenticationException)
        {
            throw new TransportException($"row upload of {options.DeviceId} to {options.Host}:{options.Port} failed: {ex.Message}", ex);
        }
    }

    /// <summary>Reads an edge's answer to an upload (also what a plain-text client is told); null when the edge asks for the rows.</summary>
    internal static async Task<RowUploadOutcome?> ReadAnswerAsync(Stream stream, string deviceId, long bytes, CancellationToken cancellationToken)
    {
        byte[] head = new byte[4];
        await stream.ReadExactlyAsync(head, cancellationToken).ConfigureAwait(false);
        byte[] reason = new byte[BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(2))];
        await stream.ReadExactlyAsync(reason, cancellationToken).ConfigureAwait(false);
        if (head[0] == 2)
        {
            return null;
        }

        if (head[0] == 0)
        {
            return new RowUploadOutcome { DeviceId = deviceId, Bytes = bytes };
        }

        RowUploadRefusal refusal = head[1] is > 0 and <= (byte)RowUploadRefusal.Malformed + 1 ? (RowUploadRefusal)(head[1] - 1) : RowUploadRefusal.Malformed;
        string text = Encoding.UTF8.GetString(reason);
        if (head[1] == 0)
        {
            throw new TransportException($"the edge refused {deviceId}'s row upload: {text}");
        }

        return new RowUploadOutcome { DeviceId = deviceId, Refusal = refusal, Reason = text, Bytes = bytes };
    }
}
