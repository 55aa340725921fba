using System.Net;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Grpc;

/// <summary>Options of <c>GrpcCoordinatorTransport</c> (FedEdge.Transport.Hosting).</summary>
public sealed class GrpcCoordinatorOptions
{
    /// <summary>The address Kestrel binds; loopback by default.</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>The port; 0 picks a free one (read <c>GrpcCoordinatorTransport.Address</c> after start).</summary>
    public int Port { get; set; } = 50051;

    /// <summary>The server certificate (with private key) for TLS (e.g. from <c>fededge pki issue --server HOST</c>). Required unless <see cref="AllowPlainText"/>.</summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Mutual TLS: every device must present a client certificate that this validator accepts (chain to the federation CA,
    /// validity period, CRL). The device id is the one the certificate names; a call that claims another id is refused.
    /// Needs <see cref="ServerCertificate"/>; <see cref="DeviceTokens"/> must then be empty.
    /// </summary>
    public CertificateValidator? ClientCertificateValidator { get; set; }

    /// <summary>Opt-in: serve plain-text HTTP/2 when <see cref="ServerCertificate"/> is null (loopback tests only). Off by default: the listener is TLS-only.</summary>
    public bool AllowPlainText { get; set; }

    /// <summary>Device ids and their access tokens, sent by workers in the <c>authorization: Bearer</c> header (without <see cref="ClientCertificateValidator"/>). Compared in constant time.</summary>
    public IDictionary<string, string> DeviceTokens { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Payload bytes per streamed frame (256 KB by default). Received messages may be as large as this or 256 KB,
    /// whichever is larger, plus 64 KB, so a peer with a different chunk size is still understood.
    /// </summary>
    public int ChunkSize { get; set; } = WireFraming.DefaultChunkSize;

    /// <summary>
    /// When true (the default), a chunked global model the coordinator signed (it has federation credentials) travels
    /// without the framing's per-chunk and whole-message SHA-256 digests: workers verify the signature and the parameters'
    /// hash before using it, which makes the digests redundant. Unsigned messages always carry them. Set false only for
    /// workers older than the release that added this option, which refuse chunks without digests.
    /// </summary>
    public bool OmitDigestsWhenSigned { get; set; } = true;

    /// <summary>
    /// The longest a re-send of a round task is held back after a copy of it was written whole to the device's open
    /// inbox stream (HTTP/2 delivers it unless the stream breaks, so a re-send soon after only repeats the bytes).
    /// Within this cap the hold adapts: four times the smoothed time devices take to acknowledge a delivered task,
    /// at least 100 ms. A stream that ended since lets the next re-send out at once. Default 2 s; zero turns the hold off.
    /// </summary>
    public TimeSpan TaskResendHold { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a device's inbox keeps queuing after its last <c>Subscribe</c> stream ended (or, for a device that never
    /// subscribed, after its inbox was created). Past it, everything queued for the device is dropped and nothing more
    /// is queued until it subscribes again; on its return it is sent the latest global model first, as every new
    /// subscription is, and the coordinator's re-sends bring its task. Default 2 minutes.
    /// </summary>
    public TimeSpan AbsentInboxRetention { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How round tasks and global models encode parameters.</summary>
    public ParameterCodecKind ModelCodec { get; set; } = ParameterCodecKind.Float32;

    /// <summary>Limits for reassembling streamed chunks.</summary>
    public ReassemblyOptions Reassembly { get; set; } = new();

    /// <summary>Throws when a setting is invalid.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(BindAddress);
        ArgumentOutOfRangeException.ThrowIfNegative(Port, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1024, nameof(ChunkSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(TaskResendHold, TimeSpan.Zero, nameof(TaskResendHold));
        ArgumentOutOfRangeException.ThrowIfLessThan(AbsentInboxRetention, TimeSpan.Zero, nameof(AbsentInboxRetention));
        if (ServerCertificate is null && !AllowPlainText)
        {
            throw new ArgumentException("The gRPC listener is TLS-only: set ServerCertificate (and ClientCertificateValidator for mutual TLS), or opt in to plain text with AllowPlainText for a loopback test.", nameof(ServerCertificate));
        }

        if (ClientCertificateValidator is not null && ServerCertificate is null)
        {
            throw new ArgumentException("ClientCertificateValidator (mutual TLS) needs a ServerCertificate.", nameof(ClientCertificateValidator));
        }

        if (ClientCertificateValidator is not null && DeviceTokens.Count > 0)
        {
            throw new ArgumentException("With ClientCertificateValidator the device id comes from the client certificate; remove the DeviceTokens.", nameof(DeviceTokens));
        }

        if (ModelCodec == ParameterCodecKind.TopK)
        {
            throw new ArgumentException("Top-k applies to deltas; global models need float32, float16 or int8.", nameof(ModelCodec));
        }

        Reassembly.Validate();
    }
}

/// <summary>Options of <see cref="GrpcWorkerTransport"/>.</summary>
public sealed class GrpcWorkerOptions
{
    /// <summary>The largest gRPC message either side accepts for a frame of <paramref name="chunkSize"/> payload bytes (a peer may use the 256 KB default).</summary>
    internal static int MaxMessageSize(int chunkSize) => Math.Max(chunkSize, WireFraming.DefaultChunkSize) + (64 * 1024);

    /// <summary>The coordinator's address, <c>http://host:port</c> (plaintext HTTP/2) or <c>https://host:port</c>.</summary>
    public Uri? Address { get; set; }

    /// <summary>The device id.</summary>
    public string DeviceId { get; set; } = string.Empty;

    /// <summary>The device's access token (not needed with <see cref="ClientCertificate"/>).</summary>
    public string Token { get; set; } = string.Empty;

    /// <summary>The device certificate (with private key) presented for mutual TLS; needs an <c>https://</c> address.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>A private root the coordinator's certificate must chain to; null trusts the system store.</summary>
    public X509Certificate2? TrustedRoot { get; set; }

    /// <summary>Payload bytes per streamed frame (256 KB by default; a smaller size such as 64 KB keeps frames off the large-object heap and lowers peak memory, at some CPU per round).</summary>
    public int ChunkSize { get; set; } = WireFraming.DefaultChunkSize;

    /// <summary>
    /// When true (the default), a chunked update this device signed (it has federation credentials) travels without the
    /// framing's per-chunk and whole-message SHA-256 digests: the coordinator verifies the signature over the update
    /// before using it, which makes the digests redundant. Unsigned messages always carry them. Set false only for a
    /// coordinator older than the release that added this option, which refuses chunks without digests.
    /// </summary>
    public bool OmitDigestsWhenSigned { get; set; } = true;

    /// <summary>How updates encode parameters.</summary>
    public ParameterCodecKind UpdateCodec { get; set; } = ParameterCodecKind.Float32;

    /// <summary>The kept fraction for top-k.</summary>
    public double TopKFraction { get; set; } = 0.01;

    /// <summary>The deadline of each unary-like call (join, status, update).</summary>
    public TimeSpan CallDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The deadline of each inbox stream; it is renewed when it ends.</summary>
    public TimeSpan SubscribeDeadline { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a send keeps retrying an unavailable coordinator.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The first retry delay (doubles up to 5 s).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Limits for reassembling streamed chunks.</summary>
    public ReassemblyOptions Reassembly { get; set; } = new();

    /// <summary>Throws when a setting is invalid.</summary>
    public void Validate()
    {
        if (Address is null || Address.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException("Address must be an http:// or https:// URI.", nameof(Address));
        }

        if (!Mqtt.MqttTopicScheme.IsValidSegment(DeviceId))
        {
            throw new ArgumentException($"DeviceId '{DeviceId}' is invalid.", nameof(DeviceId));
        }

        if (ClientCertificate is null)
        {
            ArgumentException.ThrowIfNullOrEmpty(Token, nameof(Token));
        }
        else if (Address.Scheme != "https")
        {
            throw new ArgumentException("A client certificate needs an https:// address (mutual TLS).", nameof(Address));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1024, nameof(ChunkSize));
        if (CallDeadline <= TimeSpan.Zero || SubscribeDeadline <= TimeSpan.Zero || SendTimeout <= TimeSpan.Zero || RetryDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException("Deadlines, timeouts and the retry delay must be positive.", nameof(CallDeadline));
        }

        if (!(TopKFraction >= Messaging.UpdateCodecSpec.MinTopKFraction && TopKFraction <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopKFraction), TopKFraction, "TopKFraction must be in [0.0001, 1].");
        }

        Reassembly.Validate();
    }
}
