using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace FedEdge.Flower.Fleet;

/// <summary>
/// A SuperNode's EC P-384 key pair and the three authentication entries Flower's SuperLink checks on every
/// Fleet call: <c>flwr-public-key-bin</c> (the public key as PEM, byte for byte as Python's
/// <c>cryptography</c> writes it), <c>flwr-timestamp</c> (UTC, Python isoformat with microseconds and
/// <c>+00:00</c>) and <c>flwr-signature-bin</c> (ECDSA-SHA256 over the timestamp's ASCII bytes, DER).
/// </summary>
internal sealed class NodeIdentity : IDisposable
{
    public const string PublicKeyHeader = "flwr-public-key-bin";
    public const string TimestampHeader = "flwr-timestamp";
    public const string SignatureHeader = "flwr-signature-bin";

    private readonly ECDsa _key;

    private NodeIdentity(ECDsa key, bool generated)
    {
        _key = key;
        Generated = generated;
        PublicKeyPem = Encoding.ASCII.GetBytes(key.ExportSubjectPublicKeyInfoPem().ReplaceLineEndings("\n") + "\n");
    }

    /// <summary>The public key as Flower stores and compares it: SubjectPublicKeyInfo PEM ending in a newline.</summary>
    public byte[] PublicKeyPem { get; }

    /// <summary>True when the key was made for this run (the node then registers itself).</summary>
    public bool Generated { get; }

    /// <summary>A fresh P-384 key pair.</summary>
    public static NodeIdentity Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP384), generated: true);

    /// <summary>Loads a P-384 private key from PEM (PKCS#8 or SEC1).</summary>
    /// <exception cref="ArgumentException">Not a PEM EC private key, or not P-384.</exception>
    public static NodeIdentity FromPem(string pem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            ECParameters parameters = key.ExportParameters(false);
            if (parameters.Curve.Oid?.Value != ECCurve.NamedCurves.nistP384.Oid.Value)
            {
                throw new ArgumentException($"The node key must be on curve P-384 (secp384r1), as Flower uses; it is on {parameters.Curve.Oid?.FriendlyName ?? "another curve"}.", nameof(pem));
            }

            return new NodeIdentity(key, generated: false);
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            throw new ArgumentException("The node key is not a PEM EC private key (PKCS#8 'PRIVATE KEY' or SEC1 'EC PRIVATE KEY'; convert an OpenSSH key with 'ssh-keygen -p -m PEM -f KEY').", nameof(pem), ex);
        }
        catch (ArgumentException)
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Python's <c>datetime.isoformat()</c> of a UTC time, always with microseconds.</summary>
    public static string PythonIsoFormat(DateTimeOffset utc)
    {
        DateTimeOffset t = utc.ToUniversalTime();
        long micro = (t.Ticks % TimeSpan.TicksPerSecond) / 10;
        return string.Create(CultureInfo.InvariantCulture, $"{t:yyyy-MM-dd'T'HH:mm:ss}.{micro:D6}+00:00");
    }

    /// <summary>Signs <paramref name="timestamp"/> as Flower expects (ECDSA-SHA256, DER).</summary>
    public byte[] Sign(string timestamp) =>
        _key.SignData(Encoding.ASCII.GetBytes(timestamp), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    /// <summary>The three authentication entries for a call made at <paramref name="now"/>.</summary>
    public void AddHeaders(Metadata headers, DateTimeOffset now)
    {
        string timestamp = PythonIsoFormat(now);
        headers.Add(PublicKeyHeader, PublicKeyPem);
        headers.Add(TimestampHeader, timestamp);
        headers.Add(SignatureHeader, Sign(timestamp));
    }

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();
}

/// <summary>Adds the node's authentication entries to every unary call (the Fleet API has only unary calls).</summary>
internal sealed class NodeAuthInterceptor(NodeIdentity identity, TimeProvider time) : Interceptor
{
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        Metadata headers = context.Options.Headers ?? [];
        identity.AddHeaders(headers, time.GetUtcNow());
        var withAuth = new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
        return continuation(request, withAuth);
    }
}
