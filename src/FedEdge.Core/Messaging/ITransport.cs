using FedEdge.Devices;

namespace FedEdge.Messaging;

/// <summary>
/// The coordinator side of a transport (in-process, MQTT, gRPC). The transport delivers inbound
/// messages to an <see cref="ICoordinatorHandler"/> and sends outbound ones. Malformed inbound bytes
/// are reported to <see cref="ICoordinatorHandler.OnMalformedAsync"/>; they never stop the transport.
/// </summary>
public interface ICoordinatorTransport : IAsyncDisposable
{
    /// <summary>Starts listening and delivering inbound messages to <paramref name="handler"/>.</summary>
    ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default);

    /// <summary>Sends a round task to one device.</summary>
    ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default);

    /// <summary>Sends a receipt for an update to one device.</summary>
    ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default);

    /// <summary>Publishes (and retains, where the transport can) the global model for every device.</summary>
    ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default);

    /// <summary>
    /// True when the transport carries opaque protocol payloads (<see cref="SendProtocolAsync"/>), which
    /// multi-step protocols such as secure aggregation need. False unless an implementation overrides it.
    /// </summary>
    bool SupportsProtocolMessages => false;

    /// <summary>
    /// Sends an opaque protocol payload (e.g. an encoded secure-aggregation message) to one device, which
    /// receives it in <see cref="IWorkerHandler.OnProtocolAsync"/>. Delivery is best effort and in order per device.
    /// </summary>
    /// <exception cref="ProtocolMessagesNotSupportedException">The transport has no protocol channel (the default).</exception>
    ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        throw new ProtocolMessagesNotSupportedException(GetType().Name);

    /// <summary>Bytes and messages so far.</summary>
    TransportStatistics Statistics { get; }
}

/// <summary>Receives what devices send to the coordinator.</summary>
public interface ICoordinatorHandler
{
    /// <summary>A device asks to join; the returned response goes back to it.</summary>
    ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken);

    /// <summary>A device announced its state (or the transport saw it go offline: intent NotReady).</summary>
    ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken);

    /// <summary>A device sent a model update.</summary>
    ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken);

    /// <summary>Inbound bytes could not be decoded; <paramref name="source"/> names the topic, RPC or device.</summary>
    ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken);

    /// <summary>
    /// A device sent an opaque protocol payload (see <see cref="IWorkerTransport.SendProtocolAsync"/>);
    /// <paramref name="deviceId"/> is the sender as the transport knows it (its topic, channel or identity).
    /// The default ignores the payload, for handlers that run no multi-step protocol.
    /// </summary>
    ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// True when this handler verifies every update's device signature against the sender's certificate before it uses
    /// the update, and refuses an unsigned one (a coordinator with federation credentials). A transport then accepts a
    /// chunked update sent without the framing's SHA-256 digests, since the signature check covers the reassembled
    /// values; without it, such frames are refused. False unless an implementation overrides it.
    /// </summary>
    bool VerifiesUpdateSignatures => false;
}

/// <summary>The worker side of a transport.</summary>
public interface IWorkerTransport : IAsyncDisposable
{
    /// <summary>Connects and starts delivering inbound messages to <paramref name="handler"/>; reconnects by itself after failures.</summary>
    ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default);

    /// <summary>Asks to join and waits for the coordinator's answer.</summary>
    ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default);

    /// <summary>Announces the device's state with telemetry.</summary>
    ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default);

    /// <summary>Sends a model update.</summary>
    ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default);

    /// <summary>True when the transport carries opaque protocol payloads (<see cref="SendProtocolAsync"/>). False unless an implementation overrides it.</summary>
    bool SupportsProtocolMessages => false;

    /// <summary>
    /// Sends an opaque protocol payload to the coordinator, which receives it in
    /// <see cref="ICoordinatorHandler.OnProtocolAsync"/> with this device's id.
    /// </summary>
    /// <exception cref="ProtocolMessagesNotSupportedException">The transport has no protocol channel (the default).</exception>
    ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        throw new ProtocolMessagesNotSupportedException(GetType().Name);

    /// <summary>Bytes and messages so far.</summary>
    TransportStatistics Statistics { get; }
}

/// <summary>Receives what the coordinator sends to a worker.</summary>
public interface IWorkerHandler
{
    /// <summary>A round task for this device.</summary>
    ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken);

    /// <summary>A new global model was published.</summary>
    ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken);

    /// <summary>The coordinator's verdict on this device's update.</summary>
    ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken);

    /// <summary>The coordinator sent an opaque protocol payload (see <see cref="ICoordinatorTransport.SendProtocolAsync"/>). The default ignores it.</summary>
    ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// True when this handler accepts only global models signed by the coordinator it trusts, checking the signature and
    /// the parameters' hash before it uses a model (a worker with federation credentials). A transport then accepts a
    /// chunked global model sent without the framing's SHA-256 digests; without it, such frames are refused. False unless
    /// an implementation overrides it.
    /// </summary>
    bool VerifiesModelSignatures => false;
}

/// <summary>A transport was asked to carry protocol payloads (e.g. secure aggregation) but has no protocol channel.</summary>
public sealed class ProtocolMessagesNotSupportedException : NotSupportedException
{
    /// <summary>Creates the error for the named transport type.</summary>
    public ProtocolMessagesNotSupportedException(string transport)
        : base($"The transport {transport} does not carry protocol messages (needed by secure aggregation); use a transport whose SupportsProtocolMessages is true, such as the in-process transport.")
    {
        Transport = transport;
    }

    /// <summary>Creates the error with a default message.</summary>
    public ProtocolMessagesNotSupportedException()
        : this("(unknown)")
    {
    }

    /// <summary>Creates the error with a message and an inner error.</summary>
    public ProtocolMessagesNotSupportedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Transport = "(unknown)";
    }

    /// <summary>The transport type that lacks the channel.</summary>
    public string Transport { get; }
}

/// <summary>Counters a transport keeps; thread-safe snapshots.</summary>
public sealed class TransportStatistics
{
    private long _bytesSent;
    private long _bytesReceived;
    private long _messagesSent;
    private long _messagesReceived;
    private long _malformed;

    /// <summary>Bytes sent on the wire.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Bytes received on the wire.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Messages sent.</summary>
    public long MessagesSent => Interlocked.Read(ref _messagesSent);

    /// <summary>Messages received.</summary>
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);

    /// <summary>Inbound messages that could not be decoded.</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Records one sent message.</summary>
    public void RecordSent(long bytes)
    {
        Interlocked.Add(ref _bytesSent, bytes);
        Interlocked.Increment(ref _messagesSent);
    }

    /// <summary>Records one received message.</summary>
    public void RecordReceived(long bytes)
    {
        Interlocked.Add(ref _bytesReceived, bytes);
        Interlocked.Increment(ref _messagesReceived);
    }

    /// <summary>Records one malformed inbound message.</summary>
    public void RecordMalformed() => Interlocked.Increment(ref _malformed);

    /// <summary>
    /// The key under which traffic of devices beyond <see cref="MaxTrackedDevices"/> is pooled. It is not a valid
    /// device id (device ids carry no parentheses), so it never collides with a real device.
    /// </summary>
    public const string OtherDevices = "(other)";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DeviceCounters> _perDevice = new(StringComparer.Ordinal);
    private readonly Lock _perDeviceGate = new();

    /// <summary>
    /// How many distinct devices get their own row in <see cref="PerDevice"/> (default 4096); traffic of further
    /// devices is pooled under <see cref="OtherDevices"/>, so a flood of made-up device ids cannot grow the table.
    /// </summary>
    public int MaxTrackedDevices { get; init; } = 4096;

    /// <summary>
    /// Records one message sent to <paramref name="deviceId"/> (counted in the totals too). A null device records a
    /// message addressed to no device in particular (a broadcast), which only the totals count.
    /// </summary>
    public void RecordSent(long bytes, string? deviceId)
    {
        RecordSent(bytes);
        if (deviceId is not null)
        {
            DeviceCounters counters = CountersOf(deviceId);
            Interlocked.Add(ref counters.BytesSent, bytes);
            Interlocked.Increment(ref counters.MessagesSent);
        }
    }

    /// <summary>
    /// Records one message received from the authenticated device <paramref name="deviceId"/> (counted in the totals
    /// too). A null device records a message whose sender is unknown, which only the totals count.
    /// </summary>
    public void RecordReceived(long bytes, string? deviceId)
    {
        RecordReceived(bytes);
        if (deviceId is not null)
        {
            DeviceCounters counters = CountersOf(deviceId);
            Interlocked.Add(ref counters.BytesReceived, bytes);
            Interlocked.Increment(ref counters.MessagesReceived);
        }
    }

    /// <summary>
    /// A snapshot of the traffic per device, as the transport attributed it: bytes received from the authenticated
    /// sender and bytes addressed to one device. Bytes published once for every device (a retained MQTT model) are
    /// in <see cref="BytesSent"/> but in no device's row. Costs O(devices).
    /// </summary>
    public IReadOnlyDictionary<string, DeviceTraffic> PerDevice
    {
        get
        {
            var snapshot = new Dictionary<string, DeviceTraffic>(_perDevice.Count, StringComparer.Ordinal);
            foreach ((string device, DeviceCounters counters) in _perDevice)
            {
                snapshot[device] = new DeviceTraffic(
                    Interlocked.Read(ref counters.BytesSent),
                    Interlocked.Read(ref counters.BytesReceived),
                    Interlocked.Read(ref counters.MessagesSent),
                    Interlocked.Read(ref counters.MessagesReceived));
            }

            return snapshot;
        }
    }

    private DeviceCounters CountersOf(string deviceId)
    {
        if (_perDevice.TryGetValue(deviceId, out DeviceCounters? found))
        {
            return found;
        }

        lock (_perDeviceGate)
        {
            if (_perDevice.TryGetValue(deviceId, out found))
            {
                return found;
            }

            string key = _perDevice.Count < Math.Max(0, MaxTrackedDevices) ? deviceId : OtherDevices;
            return _perDevice.GetOrAdd(key, _ => new DeviceCounters());
        }
    }

    private sealed class DeviceCounters
    {
        public long BytesSent;
        public long BytesReceived;
        public long MessagesSent;
        public long MessagesReceived;
    }
}

/// <summary>One device's traffic as its coordinator's transport counted it.</summary>
/// <param name="BytesSent">Bytes the transport sent to the device (tasks, receipts, protocol messages; models where delivered to it).</param>
/// <param name="BytesReceived">Bytes the transport received from the device as its authenticated sender.</param>
/// <param name="MessagesSent">Messages (frames) sent to the device.</param>
/// <param name="MessagesReceived">Messages (frames) received from the device.</param>
public readonly record struct DeviceTraffic(long BytesSent, long BytesReceived, long MessagesSent, long MessagesReceived);
