using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;
using global::Grpc.Core;
using global::Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Grpc;

/// <summary>
/// The worker side of FedEdge over gRPC (Grpc.Net.Client). Every call carries a deadline; sends retry an
/// unavailable coordinator with back-off; the inbox stream is re-opened after it ends or fails. Statuses and
/// heartbeats share one long-lived <c>Send</c> stream (one HTTP/2 stream on the worker's one connection, opened
/// once and re-opened when it ends), so a heartbeat costs one frame, not a call.
/// </summary>
public sealed class GrpcWorkerTransport : IWorkerTransport, IUpdateEncoder
{
    /// <summary>The request header that marks a <c>Send</c> call as a worker's long-lived status stream.</summary>
    internal const string StreamHeader = "fededge-stream";

    /// <summary>The value of <see cref="StreamHeader"/> for the status stream.</summary>
    internal const string StatusStream = "status";

    // FederationService.Send with request frames that are already serialized (WireFraming.Split's output is a serialized
    // Frame): written as they are, instead of parsed into a Frame and serialized again (two copies of every update).
    private static readonly Method<byte[], Frame> SendFrames = new(
        MethodType.DuplexStreaming,
        FederationService.Descriptor.FullName,
        "Send",
        Marshallers.Create(static (byte[] frame) => frame, static (byte[] frame) => frame),
        Marshallers.Create(static (Frame frame) => frame.ToByteArray(), static (byte[] bytes) => Frame.Parser.ParseFrom(bytes)));

    private readonly GrpcWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IParameterCodec _updateCodec;
    private readonly WorkerUpdateEncoder _encoder;
    private readonly GrpcChannel _channel;
    private readonly FederationService.FederationServiceClient _client;
    private readonly CallInvoker _invoker;
    private readonly InboundDecoder _decoder;
    private readonly PublishedModelCache _models = new();
    private readonly UpdateCoalescer _updates;
    private readonly Metadata _headers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Metadata _statusHeaders;
    private readonly SemaphoreSlim _statusGate = new(1, 1);
    private AsyncDuplexStreamingCall<byte[], Frame>? _statusCall;
    private Task? _statusDrain;
    private Exception? _statusEndedBy;
    private bool _statusStreamUnsupported;
    private IWorkerHandler? _handler;
    private Task? _subscribeLoop;
    private int _disposed;

    /// <summary>Creates the transport; options are validated here.</summary>
    public GrpcWorkerTransport(GrpcWorkerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<GrpcWorkerTransport>();
        _time = timeProvider ?? TimeProvider.System;
        _updateCodec = ParameterCodecs.Create(options.UpdateCodec, options.TopKFraction);
        _encoder = new WorkerUpdateEncoder(_updateCodec);
        _decoder = new InboundDecoder(_time, options.Reassembly);
        _updates = new UpdateCoalescer();
        // A window of a few chunks (1 MB at least) lets a model or task stream down without waiting for a WINDOW_UPDATE per 64 KB.
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, InitialHttp2StreamWindowSize = Math.Clamp(options.ChunkSize * 4, 1024 * 1024, 16 * 1024 * 1024) };
        if (options.TrustedRoot is { } root)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateAgainstRoot(certificate, errors, root);
        }

        if (options.ClientCertificate is { } own)
        {
            // Mutual TLS: always present the device certificate (the server's list of acceptable issuers may be empty).
            handler.SslOptions.ClientCertificates = [own];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => own;
        }

        _channel = GrpcChannel.ForAddress(options.Address!, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = GrpcWorkerOptions.MaxMessageSize(options.ChunkSize),
            MaxSendMessageSize = GrpcWorkerOptions.MaxMessageSize(options.ChunkSize),
        });
        _client = new FederationService.FederationServiceClient(_channel);
        _invoker = _channel.CreateCallInvoker();
        _headers = new Metadata { { "fededge-device", options.DeviceId } };
        if (options.Token.Length > 0)
        {
            _headers.Add("authorization", "Bearer " + options.Token);
        }

        _statusHeaders = [.. _headers, new Metadata.Entry(StreamHeader, StatusStream)];
    }

    /// <inheritdoc />
    public TransportStatistics Statistics { get; } = new();

    /// <summary>
    /// Encodes the update with the codec the round task announces (or this transport's <c>UpdateCodec</c> when it
    /// names none); the worker signs the result, so the signature covers the bytes this transport sends.
    /// </summary>
    public ModelUpdate Encode(ModelUpdate update, RoundTask task) => _encoder.Encode(update, task);

    /// <summary>Sees, and may change in place, each Send call's frames before they are written: tests corrupt bytes in transit with it.</summary>
    internal Action<WireMessage, IReadOnlyList<byte[]>>? FramesOut { get; set; }

    /// <summary>Messages received as chunks without digests (signed global models; tests check that they really travelled so).</summary>
    internal long DigestlessMessagesReceived => _decoder.DigestlessMessages;

    /// <inheritdoc />
    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_handler is not null)
        {
            throw new InvalidOperationException("The transport is already connected.");
        }

        _handler = handler;
        _decoder.Verified = SignedContent.Of(handler);
        _subscribeLoop = Task.Run(SubscribeLoopAsync, CancellationToken.None);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!string.Equals(request.DeviceId, _options.DeviceId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The request names device '{request.DeviceId}' but this transport is device '{_options.DeviceId}'.", nameof(request));
        }

        var message = new WireMessage { MessageId = WireMessage.NewId(), SenderId = _options.DeviceId, Body = ModelReference.Announce(request) };
        List<WireMessage> answers = await CallAsync(message, cancellationToken).ConfigureAwait(false);
        return answers.Select(a => a.Body).OfType<JoinResponse>().FirstOrDefault()
            ?? throw new TransportException("The coordinator ended the join call without an answer.");
    }

    /// <inheritdoc />
    /// <remarks>
    /// Written to the status stream: the call returns once the frame is handed to the connection, not after the
    /// coordinator handled it (statuses are idempotent and repeated by heartbeats). A refused stream (wrong token,
    /// refused certificate) fails the call that opens it with a <see cref="TransportException"/>.
    /// </remarks>
    public async ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(status);
        var message = new WireMessage { MessageId = WireMessage.NewId(), SenderId = _options.DeviceId, Body = status };
        if (Volatile.Read(ref _statusStreamUnsupported))
        {
            await CallAsync(message, cancellationToken).ConfigureAwait(false);
            return;
        }

        await WriteStatusAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);

        // A re-send while the previous copy is still on its way (MQTT: no PUBACK yet; gRPC: the call has not finished) waits for it.
        await _updates.SendAsync(
            update,
            async (body, token) => await CallAsync(new WireMessage { MessageId = WireMessage.NewId(), SenderId = _options.DeviceId, Body = body }, token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>Protocol payloads travel as envelopes on the Send stream (chunked like updates); the coordinator attributes them to the authenticated device.</remarks>
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public async ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        await CallAsync(new WireMessage { MessageId = WireMessage.NewId(), SenderId = _options.DeviceId, Body = new ProtocolPayload(payload.ToArray()) }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Idempotent: a host may dispose the transport after the engine that owns it already did.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Close the status stream cleanly unless a status write holds it; cancelling below ends it either way.
        if (await _statusGate.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false))
        {
            try
            {
                await CloseStatusStreamAsync(graceful: true).ConfigureAwait(false);
            }
            finally
            {
                _statusGate.Release();
            }
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_subscribeLoop is not null)
        {
            await _subscribeLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _channel.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Writes a status to the status stream, opening it first when there is none (or the last one ended).</summary>
    private async Task WriteStatusAsync(WireMessage message, CancellationToken cancellationToken)
    {
        byte[] envelope = WireSerializer.Serialize(message, null);
        IReadOnlyList<byte[]> frames = WireFraming.Split(envelope, _options.ChunkSize);
        DateTimeOffset giveUp = _time.GetUtcNow() + _options.SendTimeout;
        TimeSpan delay = _options.RetryDelay;
        await _statusGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                try
                {
                    if (_statusCall is null || _statusDrain is { IsCompleted: true })
                    {
                        await CloseStatusStreamAsync(graceful: false).ConfigureAwait(false);
                        if (!await OpenStatusStreamAsync(cancellationToken).ConfigureAwait(false))
                        {
                            break;
                        }
                    }

                    foreach (byte[] frame in frames)
                    {
                        await _statusCall!.RequestStream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                        Statistics.RecordSent(frame.Length);
                    }

                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Exception cause = ex is InvalidOperationException && StatusDrainError() is { } ended ? ended : ex;
                    await CloseStatusStreamAsync(graceful: false).ConfigureAwait(false);
                    if (IsRefusal(cause))
                    {
                        var rpc = (RpcException)cause;
                        throw new TransportException($"The coordinator refused the DeviceStatus: {rpc.StatusCode} {rpc.Status.Detail}", rpc);
                    }

                    // The stream ended under the write (deadline, coordinator restart, lost connection): open a new one.
                    if (_time.GetUtcNow() + delay >= giveUp)
                    {
                        throw new TransportException($"The status stream to the coordinator failed: {cause.Message}", cause);
                    }

                    Log.GrpcRetry(_logger, cause is RpcException r ? r.Status.Detail : cause.Message, delay.TotalMilliseconds);
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                }
            }
        }
        finally
        {
            _statusGate.Release();
        }

        // The coordinator does not open status streams (an older version): one call per status, as it expects.
        await CallAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens the status stream and waits for the coordinator's early response headers, which say it authenticated the
    /// call. False when no headers come within the wait (a coordinator without status streams).
    /// </summary>
    private async Task<bool> OpenStatusStreamAsync(CancellationToken cancellationToken)
    {
        AsyncDuplexStreamingCall<byte[], Frame> call = _invoker.AsyncDuplexStreamingCall(SendFrames, null, new CallOptions(_statusHeaders, _time.GetUtcNow().UtcDateTime + _options.SubscribeDeadline, _stopping.Token));
        TimeSpan wait = _options.CallDeadline < StatusStreamHeaderWait ? _options.CallDeadline : StatusStreamHeaderWait;
        try
        {
            Metadata headers = await call.ResponseHeadersAsync.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
            if (!string.Equals(headers.GetValue(StreamHeader), StatusStream, StringComparison.Ordinal))
            {
                // Headers without the marker end the call at once (a refusal carries its status in them): surface it.
                while (await call.ResponseStream.MoveNext(cancellationToken).WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false))
                {
                }

                throw new RpcException(new Status(StatusCode.Unimplemented, "The coordinator ended the status stream without opening it."));
            }
        }
        catch (TimeoutException)
        {
            call.Dispose();
            Volatile.Write(ref _statusStreamUnsupported, true);
            return false;
        }
        catch
        {
            call.Dispose();
            throw;
        }

        _statusCall = call;
        _statusEndedBy = null;
        _statusDrain = DrainStatusStreamAsync(call);
        return true;
    }

    // How long to wait for the early headers of a status stream before deciding the coordinator does not send them.
    private static readonly TimeSpan StatusStreamHeaderWait = TimeSpan.FromSeconds(10);

    /// <summary>Reads the status stream's (empty) response until the call ends, so an ended stream is noticed; returns why it ended.</summary>
    private async Task DrainStatusStreamAsync(AsyncDuplexStreamingCall<byte[], Frame> call)
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
            }
        }
        catch (Exception ex) when (ex is RpcException or IOException or HttpRequestException or InvalidOperationException or OperationCanceledException or ObjectDisposedException)
        {
            if (ReferenceEquals(_statusCall, call))
            {
                _statusEndedBy = ex;
            }
        }
    }

    private Exception? StatusDrainError() => _statusEndedBy;

    private static bool IsRefusal(Exception error) =>
        error is RpcException { StatusCode: StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.FailedPrecondition };

    private async Task CloseStatusStreamAsync(bool graceful)
    {
        AsyncDuplexStreamingCall<byte[], Frame>? call = _statusCall;
        Task? drain = _statusDrain;
        _statusCall = null;
        _statusDrain = null;
        if (call is null)
        {
            return;
        }

        if (graceful && drain is { IsCompleted: false })
        {
            try
            {
                // End the request side so the coordinator's handler finishes normally, then give it a moment to close.
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                await drain.WaitAsync(TimeSpan.FromSeconds(1), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or OperationCanceledException)
            {
                // The stream is going away either way.
            }
        }

        call.Dispose();
        if (drain is not null)
        {
            await drain.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static bool ValidateAgainstRoot(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2 root)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    /// <summary>Streams one message's frames in a Send call (retrying while the coordinator is unavailable) and returns what came back.</summary>
    private async Task<List<WireMessage>> CallAsync(WireMessage message, CancellationToken cancellationToken)
    {
        byte[] envelope = WireSerializer.Serialize(message, message.Body is ModelUpdate ? _updateCodec : null);
        IReadOnlyList<byte[]> frames = WireFraming.Split(envelope, _options.ChunkSize, message, _options.OmitDigestsWhenSigned);
        FramesOut?.Invoke(message, frames);
        DateTimeOffset giveUp = _time.GetUtcNow() + _options.SendTimeout;
        TimeSpan delay = _options.RetryDelay;
        while (true)
        {
            try
            {
                var answers = new List<WireMessage>();
                using AsyncDuplexStreamingCall<byte[], Frame> call = _invoker.AsyncDuplexStreamingCall(SendFrames, null, new CallOptions(_headers, _time.GetUtcNow().UtcDateTime + _options.CallDeadline, cancellationToken));
                foreach (byte[] frame in frames)
                {
                    await call.RequestStream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                    Statistics.RecordSent(frame.Length);
                }

                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                var reassembler = new FrameReassembler(_time, _options.Reassembly);
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    Frame frame = call.ResponseStream.Current;
                    Statistics.RecordReceived(frame.CalculateSize());
                    if (reassembler.TryAccept("send", frame, out ReadOnlyMemory<byte> whole))
                    {
                        answers.Add(WireSerializer.Deserialize(whole.Span));
                    }
                }

                return answers;
            }
            catch (Exception ex) when (IsUnavailable(ex) && _time.GetUtcNow() + delay < giveUp)
            {
                Log.GrpcRetry(_logger, ex is RpcException rpc ? rpc.Status.Detail : ex.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (RpcException ex)
            {
                throw new TransportException($"The coordinator refused the {message.Body.GetType().Name}: {ex.StatusCode} {ex.Status.Detail}", ex);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                // A connection the server closed mid-call; with mutual TLS also a client certificate the server refused.
                throw new TransportException($"The coordinator closed the connection during the {message.Body.GetType().Name} (with mutual TLS: was the device certificate refused?): {ex.Message}", ex);
            }
        }
    }

    private static bool IsUnavailable(Exception error) =>
        error is RpcException { StatusCode: StatusCode.Unavailable } or IOException or HttpRequestException;

    private async Task SubscribeLoopAsync()
    {
        TimeSpan delay = _options.RetryDelay;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                using AsyncServerStreamingCall<Frame> call = _client.Subscribe(
                    new SubscribeRequest { DeviceId = _options.DeviceId, ProtocolVersion = (uint)ProtocolVersion.Current },
                    _headers,
                    _time.GetUtcNow().UtcDateTime + _options.SubscribeDeadline,
                    _stopping.Token);
                while (await call.ResponseStream.MoveNext(_stopping.Token).ConfigureAwait(false))
                {
                    delay = _options.RetryDelay;
                    Frame frame = call.ResponseStream.Current;
                    Statistics.RecordReceived(frame.CalculateSize());
                    await DeliverAsync(frame).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                if (ex.StatusCode is StatusCode.Unauthenticated or StatusCode.FailedPrecondition or StatusCode.PermissionDenied)
                {
                    Log.Malformed(_logger, "grpc:Subscribe", ex.Status.Detail);
                }

                Log.GrpcRetry(_logger, ex.Status.Detail, delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private async Task DeliverAsync(Frame frame)
    {
        (WireMessage Message, long EnvelopeBytes)? decoded;
        try
        {
            decoded = _decoder.Accept("inbox", frame, "coordinator");
        }
        catch (WireFormatException ex)
        {
            Statistics.RecordMalformed();
            Log.Malformed(_logger, "grpc:Subscribe", ex.Message);
            return;
        }

        if (decoded is not { } item)
        {
            return;
        }

        CancellationToken token = _stopping.Token;
        try
        {
            switch (item.Message.Body)
            {
                case RoundTask task:
                    await _handler!.OnTaskAsync(task, token).ConfigureAwait(false);
                    break;
                case UpdateReceipt receipt:
                        await _handler!.OnReceiptAsync(receipt, token).ConfigureAwait(false);
                    break;
                case ReferencedRoundTask reference:
                    if (_models.TryResolve(reference, out RoundTask? resolved))
                    {
                        await _handler!.OnTaskAsync(resolved!, token).ConfigureAwait(false);
                    }
                    else
                    {
                        Log.TaskReferenceUnresolved(_logger, reference.Round, reference.ModelHash);
                    }

                    break;
                case GlobalModel model:
                    _models.Remember(model);
                    await _handler!.OnGlobalModelAsync(model, token).ConfigureAwait(false);
                    break;
                case ProtocolPayload protocol:
                    await _handler!.OnProtocolAsync(protocol.Payload, token).ConfigureAwait(false);
                    break;
                default:
                    Statistics.RecordMalformed();
                    Log.Malformed(_logger, "grpc:Subscribe", $"a {item.Message.Body.GetType().Name} does not belong in an inbox");
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            Log.HandlerFailed(_logger, "grpc:Subscribe", ex);
        }
    }
}
