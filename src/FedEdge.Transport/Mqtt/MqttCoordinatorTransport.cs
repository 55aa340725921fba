using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// The coordinator side of FedEdge over MQTT: either starts a hosted broker (<see cref="IMqttBrokerHost"/>, such as
/// the embedded broker of FedEdge.Transport.Hosting: zero setup) and connects to it, or connects to an external MQTT 3.1.1/5 broker such as Mosquitto whose ACL follows
/// <see cref="MqttTopicScheme.MosquittoAcl"/>. The device id in a topic is the authenticated sender
/// (<see cref="InboundContext.AuthenticatedId"/>); an envelope claiming another sender is reported as malformed.
/// </summary>
/// <remarks>
/// With <see cref="MqttCoordinatorOptions.SeparateUpdateConnection"/> (the default) the coordinator holds two client
/// connections: a control connection (joins, statuses and heartbeats, protocol payloads, and everything the coordinator
/// publishes) and an update connection (<see cref="MqttTopicScheme.CoordinatorUpdatesClientId"/>) that receives only model
/// update frames. Each has its own session, inbound queue and MQTT 5 receive window, so a round's 400 KB uploads arriving
/// together never hold a heartbeat back long enough for its device to be declared lost.
/// </remarks>
public sealed class MqttCoordinatorTransport : ICoordinatorTransport
{
    private readonly MqttCoordinatorOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IParameterCodec _modelCodec;
    private readonly InboundDecoder _decoder;
    private readonly InboundDecoder _updateDecoder;
    private readonly SemaphoreSlim _modelGate = new(1, 1);
    private readonly TaskFrameCache _tasks;
    private readonly ModelReferenceSender _references;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _inFlight = new();
    private MqttConnection? _connection;
    private MqttConnection? _updateConnection;
    private ICoordinatorHandler? _handler;
    private ITimer? _expiryTimer;
    private int _retainedModelChunks;
    private MqttBrokerEndpoint? _hosted;

    /// <summary>
    /// Creates the transport; options are validated here. Without <paramref name="brokerHost"/> it connects to the external broker at
    /// <see cref="MqttTransportOptionsBase.BrokerUri"/>; with one (e.g. <c>EmbeddedMqttBrokerHost</c> of FedEdge.Transport.Hosting) it starts
    /// that broker in <see cref="StartAsync"/>, connects to it and disposes it with itself, and BrokerUri must be null.
    /// </summary>
    public MqttCoordinatorTransport(MqttCoordinatorOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMqttBrokerHost? brokerHost = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options.ValidateBroker(brokerHost is not null);
        BrokerHost = brokerHost;
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<MqttCoordinatorTransport>();
        _time = timeProvider ?? TimeProvider.System;
        _modelCodec = ParameterCodecs.Create(options.ModelCodec);
        _decoder = new InboundDecoder(_time, options.Reassembly);
        _updateDecoder = options.SeparateUpdateConnection ? new InboundDecoder(_time, options.Reassembly) : _decoder;
        _tasks = new TaskFrameCache(_modelCodec, options.ChunkSize);
        _references = new ModelReferenceSender(_modelCodec);
    }

    /// <inheritdoc />
    public TransportStatistics Statistics { get; } = new();

    /// <summary>The hosted broker this transport starts and stops (null with an external broker).</summary>
    public IMqttBrokerHost? BrokerHost { get; }

    /// <summary>The broker workers connect to: the hosted broker's URI once started, else <see cref="MqttTransportOptionsBase.BrokerUri"/>.</summary>
    public Uri? BrokerUri => _hosted?.Uri ?? _options.BrokerUri;

    /// <summary>Messages received as chunks without digests (signed updates; tests check that they really travelled so).</summary>
    internal long DigestlessMessagesReceived => ReferenceEquals(_decoder, _updateDecoder) ? _decoder.DigestlessMessages : _decoder.DigestlessMessages + _updateDecoder.DigestlessMessages;

    /// <inheritdoc />
    public async ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_handler is not null)
        {
            throw new InvalidOperationException("The transport is already started.");
        }

        _handler = handler;
        _decoder.Verified = SignedContent.Of(handler);
        _updateDecoder.Verified = _decoder.Verified;
        Uri broker;
        string username;
        string? password;
        string clientId;
        if (BrokerHost is not null)
        {
            _hosted = await BrokerHost.StartAsync(_options.Federation, cancellationToken).ConfigureAwait(false);
            broker = _hosted.Uri;
            username = _hosted.Username;
            password = _hosted.Password;
            clientId = _hosted.ClientId;
        }
        else
        {
            broker = _options.BrokerUri!;
            username = _options.Username;
            password = _options.Password;
            clientId = _options.ClientId ?? MqttTopicScheme.CoordinatorClientId(_options.Federation);
        }

        var connectionOptions = new ConnectionSettings(_options, password);
        bool separate = _options.SeparateUpdateConnection;
        _connection = new MqttConnection(
            connectionOptions,
            broker,
            clientId,
            username,
            separate ? MqttTopicScheme.CoordinatorControlFilters(_options.Federation) : MqttTopicScheme.CoordinatorFilters(_options.Federation),
            () => null,
            Statistics,
            _time,
            _logger,
            DeviceOfTopic);
        if (separate)
        {
            _updateConnection = new MqttConnection(
                connectionOptions,
                broker,
                MqttTopicScheme.CoordinatorUpdatesClientId(clientId),
                username,
                MqttTopicScheme.CoordinatorUpdateFilters(_options.Federation),
                () => null,
                Statistics,
                _time,
                _logger,
                DeviceOfTopic);
        }

        TimeSpan period = _options.Reassembly.Timeout / 4;
        _expiryTimer = _time.CreateTimer(_ => _ = ReportExpiredAsync(), null, period, period);
        await _connection.StartAsync((topic, payload, token) => OnMessageAsync(_decoder, topic, payload, token), cancellationToken).ConfigureAwait(false);
        if (_updateConnection is not null)
        {
            await _updateConnection.StartAsync((topic, payload, token) => OnMessageAsync(_updateDecoder, topic, payload, token), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <inheritdoc />
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public async ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        MqttConnection connection = RequireStarted();
        await connection.PublishAsync(MqttTopicScheme.ProtocolInbox(_options.Federation, deviceId), payload.ToArray(), retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The round's task is serialized and chunked once; every selected device gets the same frames (a re-send gets fresh
    /// ones). A device that takes task references and was sent the model the task starts from gets a one-frame reference
    /// instead of the parameters; it is handed to the connection without waiting for the PUBACK, so that the tasks of a
    /// round reach every device at about the same time instead of one broker round trip after another (a reference the
    /// device never gets is re-sent, complete, by the coordinator's re-send timer).
    /// </remarks>
    public async ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        MqttConnection connection = RequireStarted();
        string topic = MqttTopicScheme.Inbox(_options.Federation, deviceId);
        (IReadOnlyList<byte[]> frames, bool isReference) = _tasks.FramesFor(deviceId, task, _references.PublishedHashFor(deviceId));
        if (isReference)
        {
            PublishWithoutWaiting(connection, topic, frames);
            return;
        }

        await connection.PublishFramesAsync(topic, frames, retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Returns once the receipt is handed to the connection, without waiting for the broker's PUBACK: receipts are sent
    /// while an update is being handled, and waiting there would hold every other device's message (heartbeats
    /// included) behind one round trip per update. The publish still retries across reconnects; a receipt that never
    /// arrives makes the worker re-send its update, which gets the same receipt again.
    /// </remarks>
    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        MqttConnection connection = RequireStarted();
        string topic = MqttTopicScheme.Inbox(_options.Federation, deviceId);
        byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), Body = receipt }, _modelCodec);
        PublishWithoutWaiting(connection, topic, WireFraming.Split(envelope, _options.ChunkSize));
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Hands frames to the connection without waiting for the broker's PUBACK: the publish is tracked in flight (so
    /// disposal waits for it) and a failure is logged, never thrown at the caller.
    /// </summary>
    private void PublishWithoutWaiting(MqttConnection connection, string topic, IReadOnlyList<byte[]> frames)
    {
        Task publish = connection.PublishFramesAsync(topic, frames, retain: false, CancellationToken.None);
        _inFlight.TryAdd(publish, 0);
        _ = publish.ContinueWith(
            (done, state) =>
            {
                var self = (MqttCoordinatorTransport)state!;
                self._inFlight.TryRemove(done, out _);
                if (done.Exception is { } error)
                {
                    Log.HandlerFailed(self._logger, topic, error.GetBaseException());
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <inheritdoc />
    public async ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        MqttConnection connection = RequireStarted();
        var message = new WireMessage { MessageId = WireMessage.NewId(), Body = model };
        byte[] envelope = WireSerializer.Serialize(message, _modelCodec);
        IReadOnlyList<byte[]> frames = WireFraming.Split(envelope, _options.ChunkSize, message, _options.OmitDigestsWhenSigned);
        await _modelGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _references.Forget();
            await Task.WhenAll(frames.Select((frame, i) => connection.PublishAsync(MqttTopicScheme.ModelChunk(_options.Federation, i), frame, retain: true, cancellationToken))).ConfigureAwait(false);

            // Clear retained chunks a larger earlier model left behind (an empty retained payload deletes it).
            for (int i = frames.Count; i < _retainedModelChunks; i++)
            {
                await connection.PublishAsync(MqttTopicScheme.ModelChunk(_options.Federation, i), [], retain: true, cancellationToken).ConfigureAwait(false);
            }

            _retainedModelChunks = frames.Count;
            _references.OnPublished(model);
        }
        finally
        {
            _modelGate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_expiryTimer is not null)
        {
            await _expiryTimer.DisposeAsync().ConfigureAwait(false);
        }

        if (_updateConnection is not null)
        {
            await _updateConnection.DisposeAsync().ConfigureAwait(false);
        }

        if (_connection is not null)
        {
            // Receipts still on their way: disposing the connection ends them (they end with its stopping token).
            await _connection.DisposeAsync().ConfigureAwait(false);
            await Task.WhenAll(_inFlight.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (BrokerHost is not null)
        {
            await BrokerHost.DisposeAsync().ConfigureAwait(false);
        }

        _modelGate.Dispose();
    }

    private async ValueTask SendToDeviceAsync(string deviceId, WireMessage message, CancellationToken cancellationToken)
    {
        MqttConnection connection = RequireStarted();
        string topic = MqttTopicScheme.Inbox(_options.Federation, deviceId);
        byte[] envelope = WireSerializer.Serialize(message, _modelCodec);
        await connection.PublishFramesAsync(topic, WireFraming.Split(envelope, _options.ChunkSize), retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Bytes of incomplete chunked transfers held for one inbound topic (bounded by <see cref="ReassemblyOptions.MaxPendingBytesPerSource"/>).</summary>
    internal long PendingBytes(string topic) => ReferenceEquals(_decoder, _updateDecoder) ? _decoder.PendingBytes(topic) : _decoder.PendingBytes(topic) + _updateDecoder.PendingBytes(topic);

    /// <summary>Received messages waiting for the handler (bounded by <see cref="MqttTransportOptionsBase.InboundQueueCapacity"/> per connection).</summary>
    internal int InboundQueued => (_connection?.InboundQueued ?? 0) + (_updateConnection?.InboundQueued ?? 0);

    /// <summary>Received update frames waiting on the update connection (zero without <see cref="MqttCoordinatorOptions.SeparateUpdateConnection"/>).</summary>
    internal int UpdatesQueued => _updateConnection?.InboundQueued ?? 0;

    /// <summary>Received messages waiting on the control connection.</summary>
    internal int ControlQueued => _connection?.InboundQueued ?? 0;

    // The device a topic belongs to: the broker lets only that device publish on its device-to-coordinator topics, and
    // only that device read its inbox, so traffic is attributed to the authenticated device; model chunks (retained,
    // for every device) and foreign topics belong to no device.
    private string? DeviceOfTopic(string topic) =>
        MqttTopicScheme.TryParseDeviceTopic(_options.Federation, topic, out string device, out _) ? device : null;

    private MqttConnection RequireStarted() => _connection ?? throw new InvalidOperationException("Call StartAsync before sending.");

    private async Task ReportExpiredAsync()
    {
        foreach ((string source, ChunkIntegrityException error) in _decoder.CollectExpired())
        {
            await ReportMalformedAsync(source, error, CancellationToken.None).ConfigureAwait(false);
        }

        if (!ReferenceEquals(_decoder, _updateDecoder))
        {
            foreach ((string source, ChunkIntegrityException error) in _updateDecoder.CollectExpired())
            {
                await ReportMalformedAsync(source, error, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task ReportMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        Statistics.RecordMalformed();
        Log.Malformed(_logger, source, error.Message);
        if (_handler is not null)
        {
            await _handler.OnMalformedAsync(source, error, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task OnMessageAsync(InboundDecoder decoder, string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        ICoordinatorHandler handler = _handler!;
        if (!MqttTopicScheme.TryParseDeviceTopic(_options.Federation, topic, out string device, out string kind) || kind is "inbox" or "protocol-inbox")
        {
            await ReportMalformedAsync(topic, new WireFormatException($"Topic '{topic}' is not a device-to-coordinator topic of federation '{_options.Federation}'."), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (kind == "protocol")
        {
            // Opaque protocol payloads travel unframed; the topic names the authenticated sender.
            await handler.OnProtocolAsync(device, payload, new InboundContext { AuthenticatedId = device, WireBytes = payload.Length }, cancellationToken).ConfigureAwait(false);
            return;
        }

        (WireMessage Message, long EnvelopeBytes)? decoded;
        try
        {
            decoded = decoder.Accept(topic, payload, device, out ReadOnlyMemory<byte> envelope);
        }
        catch (ProtocolVersionException ex) when (kind == "join")
        {
            await RefuseOtherVersionAsync(topic, payload, device, ex, cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (UpdateFormatException ex) when (kind == "update")
        {
            // The topic names the authenticated sender: it gets a refusal receipt, not silence.
            await ReportMalformedAsync(topic, new UndecodableUpdateException(device, ex.Round, ex.Message, ex), cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (WireFormatException ex)
        {
            await ReportMalformedAsync(topic, ex, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (decoded is not { } item)
        {
            return;
        }

        WireMessage message = item.Message;
        if (!string.Equals(message.SenderId, device, StringComparison.Ordinal))
        {
            await ReportMalformedAsync(topic, new WireFormatException($"The envelope claims sender '{message.SenderId}' but arrived on the topic of authenticated device '{device}'."), cancellationToken).ConfigureAwait(false);
            return;
        }

        var context = new InboundContext { AuthenticatedId = device, WireBytes = item.EnvelopeBytes };
        switch (kind, message.Body)
        {
            case ("join", JoinRequest join):
                join = _references.OnJoin(device, join);
                JoinResponse response = string.Equals(join.DeviceId, device, StringComparison.Ordinal)
                    ? await handler.OnJoinAsync(join, context, cancellationToken).ConfigureAwait(false)
                    : new JoinResponse { Accepted = false, Reasons = [$"The join request names device '{join.DeviceId}' but the connection is authenticated as '{device}'."] };
                await SendToDeviceAsync(device, new WireMessage { MessageId = WireMessage.NewId(), CorrelationId = message.MessageId, Body = response }, cancellationToken).ConfigureAwait(false);
                break;
            case ("status", DeviceStatus status):
                await handler.OnStatusAsync(status with { ReceivedAt = _time.GetUtcNow() }, context, cancellationToken).ConfigureAwait(false);
                break;
            case ("update", ModelUpdate update):
                await handler.OnUpdateAsync(update, context, cancellationToken).ConfigureAwait(false);
                break;
            default:
                await ReportMalformedAsync(topic, new WireFormatException($"A {message.Body.GetType().Name} does not belong on a '{kind}' topic."), cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private async Task RefuseOtherVersionAsync(string topic, ReadOnlyMemory<byte> payload, string device, ProtocolVersionException error, CancellationToken cancellationToken)
    {
        await ReportMalformedAsync(topic, error, cancellationToken).ConfigureAwait(false);
        if (WireSerializer.PeekJoinVersion(EnvelopeOf(payload), out int version, out string messageId, out _) && messageId.Length > 0)
        {
            Log.ProtocolMismatch(_logger, device, version, ProtocolVersion.Current);
            var refusal = new JoinResponse
            {
                Accepted = false,
                Reasons = [$"This coordinator speaks FedEdge protocol version {ProtocolVersion.Current} but the device sent version {version}; upgrade the worker."],
            };
            await SendToDeviceAsync(device, new WireMessage { MessageId = WireMessage.NewId(), CorrelationId = messageId, Body = refusal }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static ReadOnlySpan<byte> EnvelopeOf(ReadOnlyMemory<byte> frame)
    {
        (ReadOnlyMemory<byte> envelope, _) = WireFraming.Read(frame);
        return envelope.Span;
    }
}

/// <summary>Connection settings with the password to use (the embedded broker's coordinator secret or the configured one).</summary>
internal sealed class ConnectionSettings : MqttTransportOptionsBase
{
    public ConnectionSettings(MqttTransportOptionsBase source, string? password)
    {
        Federation = source.Federation;
        BrokerUri = source.BrokerUri;
        Password = password;
        Tls = source.Tls;
        ChunkSize = source.ChunkSize;
        OmitDigestsWhenSigned = source.OmitDigestsWhenSigned;
        ReconnectMinDelay = source.ReconnectMinDelay;
        ReconnectMaxDelay = source.ReconnectMaxDelay;
        PublishTimeout = source.PublishTimeout;
        SessionExpiry = source.SessionExpiry;
        KeepAlive = source.KeepAlive;
        WaitForBroker = source.WaitForBroker;
        Reassembly = source.Reassembly;
        InboundQueueCapacity = source.InboundQueueCapacity;
    }
}
