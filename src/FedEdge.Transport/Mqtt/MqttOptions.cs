using System.Security.Cryptography.X509Certificates;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Mqtt;

/// <summary>TLS settings of an MQTT client (mqtts://).</summary>
public sealed class MqttTlsSettings
{
    /// <summary>The client certificate (with private key) for mutual TLS; null for server-only TLS.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>A private root the broker's certificate must chain to; null trusts the system store.</summary>
    public X509Certificate2? TrustedRoot { get; set; }

    /// <summary>The host name expected in the broker's certificate; null uses the URI's host.</summary>
    public string? TargetHost { get; set; }
}

/// <summary>Settings shared by the coordinator and worker MQTT transports.</summary>
public abstract class MqttTransportOptionsBase
{
    /// <summary>The federation's name: the second level of every topic (<c>fededge/{federation}/…</c>).</summary>
    public string Federation { get; set; } = "default";

    /// <summary>The broker, <c>mqtt://host:port</c> or <c>mqtts://host:port</c> (TLS). For a coordinator with an embedded broker, leave null.</summary>
    public Uri? BrokerUri { get; set; }

    /// <summary>The MQTT password.</summary>
    public string? Password { get; set; }

    /// <summary>TLS settings; used when the URI's scheme is <c>mqtts</c>.</summary>
    public MqttTlsSettings? Tls { get; set; }

    /// <summary>Payload bytes per frame; larger messages are chunked (see <see cref="WireFraming"/>).</summary>
    public int ChunkSize { get; set; } = WireFraming.DefaultChunkSize;

    /// <summary>
    /// When true (the default), a chunked message this side signed end to end (a worker's update, the coordinator's
    /// global model, when they have federation credentials) travels without the framing's per-chunk and whole-message
    /// SHA-256 digests: the receiver verifies the signature before using the message, which makes the digests redundant.
    /// Unsigned messages always carry them. Set false only for peers older than the release that added this option, which
    /// refuse chunks without digests.
    /// </summary>
    public bool OmitDigestsWhenSigned { get; set; } = true;

    /// <summary>The first reconnect delay; it doubles per failed attempt up to <see cref="ReconnectMaxDelay"/> (with ±20 % jitter).</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest reconnect delay.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When true, a transport that starts while its broker cannot be reached waits, retrying with the reconnect back-off
    /// until the broker answers or the start is cancelled. When false (the default), the start fails at once with a
    /// <see cref="BrokerUnreachableException"/>, which the worker engine retries by itself. Either way, a broker that
    /// answers and refuses fails the start with a <see cref="TransportException"/>, and after the first connection every
    /// outage, however long, is survived by reconnecting.
    /// </summary>
    public bool WaitForBroker { get; set; }

    /// <summary>
    /// How long one connection attempt may take, from the TCP connect through the TLS handshake to the broker's CONNACK.
    /// An attempt that gets no answer within it (a broker too loaded to answer, a listener that stalls) is treated like an
    /// unreachable broker and retried with the reconnect back-off; a broker that refuses (a CONNACK with a refusal code,
    /// a client certificate refused in the TLS handshake) still fails at once. Default 10 s.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a send waits for a connection (across reconnects) before it fails.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long the broker keeps the persistent session (subscriptions and queued QoS 1 messages) after a disconnect.</summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>MQTT keep-alive; the broker publishes the last will after 1.5 × this without traffic.</summary>
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Limits for reassembling chunked messages.</summary>
    public ReassemblyOptions Reassembly { get; set; } = new();

    /// <summary>
    /// How many received messages may wait for the (single) handler. A message is acknowledged (PUBACK) when the
    /// handler takes it, and the client announces this number as its MQTT 5 Receive Maximum, so the broker holds
    /// further messages back while the queue is full: a device that floods cannot grow this process's memory. Should a
    /// broker ignore Receive Maximum, messages beyond the capacity are dropped and logged.
    /// </summary>
    public int InboundQueueCapacity { get; set; } = 256;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public virtual void Validate()
    {
        if (!MqttTopicScheme.IsValidSegment(Federation))
        {
            throw new ArgumentException($"Federation '{Federation}' cannot be a topic level.", nameof(Federation));
        }

        if (BrokerUri is not null && BrokerUri.Scheme is not ("mqtt" or "mqtts" or "tcp"))
        {
            throw new ArgumentException($"Broker URI '{BrokerUri}' must use mqtt:// or mqtts://.", nameof(BrokerUri));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkSize, 1024, nameof(ChunkSize));
        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay)
        {
            throw new ArgumentException("Reconnect delays must be positive with ReconnectMaxDelay >= ReconnectMinDelay.", nameof(ReconnectMinDelay));
        }

        if (PublishTimeout <= TimeSpan.Zero || SessionExpiry < TimeSpan.Zero || KeepAlive < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException("PublishTimeout must be positive, SessionExpiry non-negative and KeepAlive at least 1 s.", nameof(PublishTimeout));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(InboundQueueCapacity, 1, nameof(InboundQueueCapacity));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(InboundQueueCapacity, ushort.MaxValue, nameof(InboundQueueCapacity));
        Reassembly.Validate();
    }
}

/// <summary>Options of <see cref="MqttCoordinatorTransport"/>.</summary>
public sealed class MqttCoordinatorOptions : MqttTransportOptionsBase
{
    /// <summary>The coordinator's MQTT user name on an external broker (its ACL grants it the whole federation).</summary>
    public string Username { get; set; } = "fededge-coordinator";

    /// <summary>
    /// The MQTT client id (persistent session key) on an external broker; null derives <c>fededge-{federation}-coordinator</c>.
    /// Must be null with an <see cref="IMqttBrokerHost"/> (the embedded broker), which binds the coordinator to its reserved client id.
    /// </summary>
    public string? ClientId { get; set; }

    /// <summary>
    /// True (the default): model updates arrive on a second client connection (<see cref="MqttTopicScheme.CoordinatorUpdatesClientId"/>)
    /// with its own session and inbound queue, so that joins, heartbeats and last wills are never queued behind a round's
    /// uploads. The broker must accept that client id for the coordinator user (the embedded broker does). False: one connection.
    /// </summary>
    public bool SeparateUpdateConnection { get; set; } = true;

    /// <summary>How round tasks and global models encode parameters (float32 by default, exact).</summary>
    public ParameterCodecKind ModelCodec { get; set; } = ParameterCodecKind.Float32;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (ModelCodec == ParameterCodecKind.TopK)
        {
            throw new ArgumentException("Top-k sparsification applies to deltas; global models need float32, float16 or int8.", nameof(ModelCodec));
        }

        if (!MqttTopicScheme.IsValidSegment(Username))
        {
            throw new ArgumentException($"Username '{Username}' is invalid.", nameof(Username));
        }

    }

    /// <summary>Throws unless exactly one broker is given: <see cref="MqttTransportOptionsBase.BrokerUri"/> or a hosted broker.</summary>
    internal void ValidateBroker(bool hosted)
    {
        if ((BrokerUri is null) != hosted)
        {
            throw new ArgumentException("Set exactly one of BrokerUri (external broker such as Mosquitto) and a hosted broker (EmbeddedMqttBrokerHost from FedEdge.Transport.Hosting).", nameof(BrokerUri));
        }

        if (hosted && ClientId is not null)
        {
            throw new ArgumentException("ClientId applies to an external broker; the embedded broker binds the coordinator to its reserved client id.", nameof(ClientId));
        }
    }
}

/// <summary>Options of <see cref="MqttWorkerTransport"/>.</summary>
public sealed class MqttWorkerOptions : MqttTransportOptionsBase
{
    /// <summary>The device id; also the MQTT user name, so the broker's ACL binds topics to it.</summary>
    public string DeviceId { get; set; } = string.Empty;

    /// <summary>How updates encode parameters.</summary>
    public ParameterCodecKind UpdateCodec { get; set; } = ParameterCodecKind.Float32;

    /// <summary>The kept fraction for <see cref="ParameterCodecKind.TopK"/> (with error feedback, deltas only).</summary>
    public double TopKFraction { get; set; } = 0.01;

    /// <summary>How long <see cref="MqttWorkerTransport.JoinAsync"/> waits for the coordinator's answer.</summary>
    public TimeSpan JoinTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A re-send of an update within this many times the last observed receipt latency of the copy the broker last
    /// acknowledged is held back (the copy already waits for the coordinator; another one would queue behind it). 2 by
    /// default; 0 sends every re-send the worker asks for. No hold before the first receipt or after a reconnect.
    /// </summary>
    public double ResendHoldFactor { get; set; } = 2;

    /// <summary>The longest a re-send is held back, however slow receipts were (3 s by default).</summary>
    public TimeSpan MaxResendHold { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The protocol version announced (tests use another value to play an old worker).</summary>
    internal int ProtocolVersion { get; set; } = Messaging.ProtocolVersion.Current;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!MqttTopicScheme.IsValidSegment(DeviceId))
        {
            throw new ArgumentException($"DeviceId '{DeviceId}' cannot be a topic level.", nameof(DeviceId));
        }

        if (BrokerUri is null)
        {
            throw new ArgumentException("A worker needs BrokerUri (the coordinator's embedded broker or an external one).", nameof(BrokerUri));
        }

        if (!(TopKFraction >= Messaging.UpdateCodecSpec.MinTopKFraction && TopKFraction <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopKFraction), TopKFraction, "TopKFraction must be in [0.0001, 1].");
        }

        if (JoinTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(JoinTimeout), JoinTimeout, "JoinTimeout must be positive.");
        }

        if (!(ResendHoldFactor >= 0 && ResendHoldFactor <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(ResendHoldFactor), ResendHoldFactor, "ResendHoldFactor must be in [0, 100] (0 turns the hold off).");
        }

        if (MaxResendHold < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResendHold), MaxResendHold, "MaxResendHold must not be negative.");
        }
    }
}
