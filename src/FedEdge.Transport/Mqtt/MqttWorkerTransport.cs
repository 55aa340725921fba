using System.Collections.Concurrent;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// The worker side of FedEdge over MQTT. Connects as user <see cref="MqttWorkerOptions.DeviceId"/> with a
/// persistent session and a last will (a <see cref="DeviceIntent.NotReady"/> status the broker publishes when the
/// connection is lost), reconnects by itself, receives its inbox and the retained global model.
/// Handler calls are sequential, in arrival order.
/// </summary>
public sealed class MqttWorkerTransport : IWorkerTransport, IUpdateEncoder
{
    private readonly MqttWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IParameterCodec _updateCodec;
    private readonly WorkerUpdateEncoder _encoder;
    private readonly InboundDecoder _decoder;
    private readonly PublishedModelCache _models = new();
    private readonly UpdateCoalescer _updates;
    private readonly MqttResendPacer _pacer;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JoinResponse>> _pendingJoins = new(StringComparer.Ordinal);
    private readonly System.Threading.Channels.Channel<Func<Task>> _deliveries = System.Threading.Channels.Channel.CreateUnbounded<Func<Task>>(new() { SingleReader = true });
    private MqttConnection? _connection;
    private IWorkerHandler? _handler;
    private Task? _deliveryLoop;

    /// <summary>Creates the transport; options are validated here.</summary>
    public MqttWorkerTransport(MqttWorkerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MqttWorkerTransport>();
        _time = timeProvider ?? TimeProvider.System;
        _updateCodec = ParameterCodecs.Create(options.UpdateCodec, options.TopKFraction);
        _encoder = new WorkerUpdateEncoder(_updateCodec);
        _decoder = new InboundDecoder(_time, options.Reassembly);
        _updates = new UpdateCoalescer();
        _pacer = new MqttResendPacer(_time, options.ResendHoldFactor, options.MaxResendHold);
    }

    /// <inheritdoc />
    public TransportStatistics Statistics { get; } = new();

    /// <summary>
    /// Encodes the update with the codec the round task announces (or this transport's <c>UpdateCodec</c> when it
    /// names none); the worker signs the result, so the signature covers the bytes this transport sends.
    /// </summary>
    public ModelUpdate Encode(ModelUpdate update, RoundTask task) => _encoder.Encode(update, task);

    /// <summary>True while connected to the broker.</summary>
    public bool IsConnected => _connection?.IsConnected == true;

    /// <summary>Messages received as chunks without digests (signed global models; tests check that they really travelled so).</summary>
    internal long DigestlessMessagesReceived => _decoder.DigestlessMessages;

    /// <inheritdoc />
    public async ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_connection is not null)
        {
            throw new InvalidOperationException("The transport is already connected.");
        }

        _handler = handler;
        _decoder.Verified = SignedContent.Of(handler);
        _deliveryLoop ??= Task.Run(DeliverLoopAsync, CancellationToken.None);
        string federation = _options.Federation;
        string device = _options.DeviceId;
        _connection = new MqttConnection(
            _options,
            _options.BrokerUri!,
            MqttTopicScheme.DeviceClientId(federation, device),
            device,
            [MqttTopicScheme.Inbox(federation, device), MqttTopicScheme.ProtocolInbox(federation, device), MqttTopicScheme.ModelFilter(federation)],
            () => (MqttTopicScheme.Status(federation, device), Frame(new WireMessage
            {
                MessageId = WireMessage.NewId(),
                SenderId = device,
                ProtocolVersion = _options.ProtocolVersion,
                IsLastWill = true,
                Body = new DeviceStatus { DeviceId = device, Intent = DeviceIntent.NotReady },
            })),
            Statistics,
            _time,
            _logger);
        try
        {
            await _connection.StartAsync(OnMessageAsync, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TransportException or BrokerUnreachableException or OperationCanceledException)
        {
            // Unreachable, refused or cancelled: release the client so that ConnectAsync can be called again.
            MqttConnection failed = _connection;
            _connection = null;
            await failed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!string.Equals(request.DeviceId, _options.DeviceId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The request names device '{request.DeviceId}' but this transport is device '{_options.DeviceId}'.", nameof(request));
        }

        string id = WireMessage.NewId();
        var answer = new TaskCompletionSource<JoinResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingJoins[id] = answer;
        try
        {
            await SendAsync(MqttTopicScheme.Join(_options.Federation, _options.DeviceId), new WireMessage
            {
                MessageId = id,
                SenderId = _options.DeviceId,
                ProtocolVersion = _options.ProtocolVersion,
                Body = ModelReference.Announce(request) with { ProtocolVersion = _options.ProtocolVersion },
            }, cancellationToken).ConfigureAwait(false);
            try
            {
                return await answer.Task.WaitAsync(_options.JoinTimeout, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"The coordinator did not answer the join of '{_options.DeviceId}' within {_options.JoinTimeout.TotalSeconds:0.#} s.");
            }
        }
        finally
        {
            _pendingJoins.TryRemove(id, out _);
        }
    }

    /// <inheritdoc />
    public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(status);
        return SendAsync(MqttTopicScheme.Status(_options.Federation, _options.DeviceId), new WireMessage
        {
            MessageId = WireMessage.NewId(),
            SenderId = _options.DeviceId,
            ProtocolVersion = _options.ProtocolVersion,
            Body = status,
        }, cancellationToken);
    }

    /// <inheritdoc />
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public async ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        MqttConnection connection = _connection ?? throw new InvalidOperationException("Call ConnectAsync before sending.");
        await connection.PublishAsync(MqttTopicScheme.Protocol(_options.Federation, _options.DeviceId), payload.ToArray(), retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// A re-send while the previous copy is still on its way to the broker waits for that copy; a re-send soon after the
    /// broker acknowledged a copy is held back for the receipt time this worker last observed (see
    /// <see cref="MqttWorkerOptions.ResendHoldFactor"/>), since that copy is already queued for the coordinator.
    /// </remarks>
    public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        if (_connection is { } current && _pacer.ShouldHold(update, current.ConnectCount))
        {
            Log.UpdateResendHeld(_logger, _options.DeviceId, update.Round);
            return ValueTask.CompletedTask;
        }

        return _updates.SendAsync(
            update,
            async (body, token) =>
            {
                await SendAsync(MqttTopicScheme.Update(_options.Federation, _options.DeviceId), new WireMessage
                {
                    MessageId = WireMessage.NewId(),
                    SenderId = _options.DeviceId,
                    ProtocolVersion = _options.ProtocolVersion,
                    Body = body,
                }, token).ConfigureAwait(false);
                _pacer.OnLeft(body, _connection?.ConnectCount ?? 0);
            },
            cancellationToken);
    }

    /// <summary>Update re-sends held back because a copy had just reached the broker (see <see cref="MqttWorkerOptions.ResendHoldFactor"/>).</summary>
    internal long ResendsHeldBack => _pacer.HeldBack;

    /// <summary>The receipt latency last observed, from the first copy's PUBACK to its receipt.</summary>
    internal TimeSpan? ReceiptLatency => _pacer.ReceiptLatency;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var pending in _pendingJoins.Values)
        {
            pending.TrySetCanceled();
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _deliveries.Writer.TryComplete();
        if (_deliveryLoop is not null)
        {
            await _deliveryLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    // Handler calls run on their own loop, in order, so that a handler which itself awaits JoinAsync
    // (e.g. re-joining when the coordinator restarted) never blocks the decoding of the join response.
    private async Task DeliverLoopAsync()
    {
        await foreach (Func<Task> delivery in _deliveries.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                await delivery().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.HandlerFailed(_logger, "worker handler", ex);
            }
        }
    }

    /// <summary>Drops the connection without a clean DISCONNECT, so the broker publishes the last will (tests, fault drills).</summary>
    internal Task AbortConnectionAsync() => _connection?.AbortAsync() ?? Task.CompletedTask;

    private byte[] Frame(WireMessage message) => WireFraming.Split(WireSerializer.Serialize(message), int.MaxValue)[0];

    private async ValueTask SendAsync(string topic, WireMessage message, CancellationToken cancellationToken)
    {
        MqttConnection connection = _connection ?? throw new InvalidOperationException("Call ConnectAsync before sending.");
        byte[] envelope = WireSerializer.Serialize(message, message.Body is ModelUpdate ? _updateCodec : null);
        await connection.PublishFramesAsync(topic, WireFraming.Split(envelope, _options.ChunkSize, message, _options.OmitDigestsWhenSigned), retain: false, cancellationToken).ConfigureAwait(false);
    }

    private async Task OnMessageAsync(string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        IWorkerHandler handler = _handler!;
        foreach ((string source, ChunkIntegrityException expired) in _decoder.CollectExpired())
        {
            Statistics.RecordMalformed();
            Log.Malformed(_logger, source, expired.Message);
        }

        if (string.Equals(topic, MqttTopicScheme.ProtocolInbox(_options.Federation, _options.DeviceId), StringComparison.Ordinal))
        {
            // Opaque protocol payloads travel unframed, in order with the other deliveries.
            _deliveries.Writer.TryWrite(() => handler.OnProtocolAsync(payload, cancellationToken).AsTask());
            return;
        }

        bool isModel = topic.StartsWith(MqttTopicScheme.ModelFilter(_options.Federation)[..^1], StringComparison.Ordinal);
        if (isModel && payload.Length == 0)
        {
            return; // a cleared retained chunk
        }

        (WireMessage Message, long EnvelopeBytes)? decoded;
        try
        {
            decoded = _decoder.Accept(isModel ? "model" : topic, payload, "coordinator", out _);
        }
        catch (WireFormatException ex)
        {
            Statistics.RecordMalformed();
            Log.Malformed(_logger, topic, ex.Message);
            if (ex is ProtocolVersionException)
            {
                foreach (var pending in _pendingJoins.Values)
                {
                    pending.TrySetException(ex);
                }
            }

            return;
        }

        if (decoded is not { } item)
        {
            return;
        }

        switch (item.Message.Body)
        {
            case JoinResponse response when item.Message.CorrelationId is { } correlation:
                if (_pendingJoins.TryGetValue(correlation, out var waiter))
                {
                    waiter.TrySetResult(response);
                }

                break;
            case RoundTask task when !isModel:
                _deliveries.Writer.TryWrite(() => handler.OnTaskAsync(task, cancellationToken).AsTask());
                break;
            case UpdateReceipt receipt when !isModel:
                _pacer.OnReceipt(receipt.Round);
                _deliveries.Writer.TryWrite(() => handler.OnReceiptAsync(receipt, cancellationToken).AsTask());
                break;
            case ReferencedRoundTask reference when !isModel:
                if (_models.TryResolve(reference, out RoundTask? resolved))
                {
                    _deliveries.Writer.TryWrite(() => handler.OnTaskAsync(resolved!, cancellationToken).AsTask());
                }
                else
                {
                    Log.TaskReferenceUnresolved(_logger, reference.Round, reference.ModelHash);
                }

                break;
            case GlobalModel model when isModel:
                _models.Remember(model);
                _deliveries.Writer.TryWrite(() => handler.OnGlobalModelAsync(model, cancellationToken).AsTask());
                break;
            default:
                Statistics.RecordMalformed();
                Log.Malformed(_logger, topic, $"a {item.Message.Body.GetType().Name} does not belong on this topic");
                break;
        }
    }
}
