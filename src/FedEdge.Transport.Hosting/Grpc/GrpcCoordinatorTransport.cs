using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;
using global::Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Grpc;

/// <summary>
/// The coordinator side of FedEdge over gRPC: hosts <c>fededge.wire.v1.FederationService</c> on Kestrel
/// (HTTP/2 over TLS; plain text only when opted in). With <see cref="GrpcCoordinatorOptions.ClientCertificateValidator"/>
/// the listener requires mutual TLS: the client certificate is checked during the handshake (chain to the federation
/// CA, validity period, CRL; refusals are logged and kept in <see cref="RefusedCertificates"/>), and the device id it
/// names is <see cref="InboundContext.AuthenticatedId"/>; a call claiming another id is refused. Without it, workers
/// authenticate with a per-device bearer token. Large messages stream as chunk frames.
/// Each device's inbox is a queue drained by its <c>Subscribe</c> stream; the latest global model is sent first on
/// every new subscription (the gRPC counterpart of MQTT's retained message).
/// </summary>
public sealed class GrpcCoordinatorTransport : ICoordinatorTransport
{
    private readonly GrpcCoordinatorOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IParameterCodec _modelCodec;
    private readonly ConcurrentDictionary<string, Outbox> _outboxes = new(StringComparer.Ordinal);
    private readonly TaskFrameCache _tasks;
    private readonly ModelReferenceSender _references;
    private readonly Dictionary<string, byte[]> _tokenHashes;
    private readonly ConcurrentQueue<CertificateValidation> _refused = new();
    private readonly ConcurrentDictionary<Microsoft.AspNetCore.Http.HttpContext, X509Certificate2> _certificateCalls = new();
    // Frames parsed once per serialized message: the model's frames (and a task's shared frames) go to every device.
    private readonly ConditionalWeakTable<IReadOnlyList<byte[]>, Frame[]> _parsed = new();
    private volatile Frame[] _modelFrames = [];
    private readonly ResendHold _resendHold;
    private long _taskResendsHeld;
    private WebApplication? _app;
    private ICoordinatorHandler? _handler;
    private VerifiedContent _verified;
    private long _digestlessMessages;

    /// <summary>Creates the transport; options are validated here.</summary>
    public GrpcCoordinatorTransport(GrpcCoordinatorOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<GrpcCoordinatorTransport>();
        _time = timeProvider ?? TimeProvider.System;
        _modelCodec = ParameterCodecs.Create(options.ModelCodec);
        _tasks = new TaskFrameCache(_modelCodec, options.ChunkSize);
        _references = new ModelReferenceSender(_modelCodec);
        _tokenHashes = options.DeviceTokens.ToDictionary(p => p.Key, p => SHA256.HashData(Encoding.UTF8.GetBytes(p.Value)), StringComparer.Ordinal);
        _resendHold = new ResendHold(options.TaskResendHold);
    }

    /// <summary>
    /// Re-sends of round tasks this transport did not send: a copy still waited in the device's inbox, or was written
    /// whole to the device's open inbox stream within the re-send hold (see <see cref="GrpcCoordinatorOptions.TaskResendHold"/>).
    /// </summary>
    public long TaskResendsHeld => Interlocked.Read(ref _taskResendsHeld);

    /// <summary>
    /// How long a re-send of a task delivered on a still-open stream is held back now: four times the smoothed time
    /// from a task's last frame written to the device's status acknowledging it, between 100 ms and
    /// <see cref="GrpcCoordinatorOptions.TaskResendHold"/> (that cap until a first acknowledgement was timed).
    /// </summary>
    internal TimeSpan CurrentResendHold => _resendHold.Current;

    /// <inheritdoc />
    public TransportStatistics Statistics { get; } = new();

    /// <summary>
    /// Frame bytes queued in all device inboxes, not yet written to a stream. Bounded per device: a newer model or task
    /// replaces a queued one, and a device away past <see cref="GrpcCoordinatorOptions.AbsentInboxRetention"/> holds none.
    /// </summary>
    public long QueuedBytes => _outboxes.Values.Sum(o => o.QueuedBytes);

    /// <summary>Queued messages dropped: replaced by a newer model or task, or queued for a device away past the retention.</summary>
    public long DroppedQueuedMessages => _outboxes.Values.Sum(o => o.Dropped);

    /// <summary>Frame bytes queued in one device's inbox (0 for a device without one).</summary>
    internal long QueuedBytesOf(string deviceId) => _outboxes.TryGetValue(deviceId, out Outbox? outbox) ? outbox.QueuedBytes : 0;

    /// <summary>True while a <c>Subscribe</c> stream drains the device's inbox.</summary>
    internal bool IsSubscribed(string deviceId) => _outboxes.TryGetValue(deviceId, out Outbox? outbox) && outbox.IsSubscribed;

    /// <summary>The most recent client certificates refused (at most 256, oldest first), each with its typed reason.</summary>
    public IReadOnlyList<CertificateValidation> RefusedCertificates => [.. _refused];

    /// <summary>The address workers call, once started.</summary>
    public Uri? Address { get; private set; }

    /// <summary>Messages received as chunks without digests (signed updates; tests check that they really travelled so).</summary>
    internal long DigestlessMessagesReceived => Interlocked.Read(ref _digestlessMessages);

    /// <inheritdoc />
    public async ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_handler is not null)
        {
            throw new InvalidOperationException("The transport is already started.");
        }

        _handler = handler;
        _verified = SignedContent.Of(handler);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(_options.BindAddress, _options.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (_options.ServerCertificate is not null)
            {
                var https = new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = _options.ServerCertificate,
                    SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                };
                if (_options.ClientCertificateValidator is { } validator)
                {
                    // The federation CA is private: the platform's chain errors are expected; the shared validator decides.
                    https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
                    https.ClientCertificateValidation = (certificate, _, _) => CheckClientCertificate(validator, certificate);
                }

                listen.UseHttps(https);
            }
        }));
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = GrpcWorkerOptions.MaxMessageSize(_options.ChunkSize);
            grpc.MaxSendMessageSize = GrpcWorkerOptions.MaxMessageSize(_options.ChunkSize);
        });
        builder.Services.AddSingleton(new FederationServiceImpl(this));
        _app = builder.Build();
        _app.MapGrpcService<FederationServiceImpl>();
        if (_options.ClientCertificateValidator is { } crlSource)
        {
            crlSource.CrlReloaded += OnCrlReloaded;
        }

        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(bound);
        Address = new UriBuilder(uri) { Host = _options.BindAddress.Equals(System.Net.IPAddress.Any) ? "127.0.0.1" : uri.Host == "[::]" ? "127.0.0.1" : uri.Host }.Uri;
        Log.GrpcStarted(_logger, Address.ToString());
    }

    /// <inheritdoc />
    /// <remarks>
    /// A re-send of a task that still waits, unsent, in the device's inbox is not queued again: the inbox keeps its
    /// frames across broken streams, so the queued copy reaches the device as soon as it subscribes, and a second copy
    /// would only grow the inbox and delay the device's receipts behind it.
    /// </remarks>
    public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        RequireValidDevice(deviceId);
        string key = TaskKey(task.Round, task.Nonce);
        Outbox outbox = OutboxOf(deviceId);
        if (outbox.Holds(key))
        {
            Interlocked.Increment(ref _taskResendsHeld);
            return ValueTask.CompletedTask;
        }

        // HTTP/2 delivers what was written to a stream that is still open: a re-send soon after adds nothing but bytes
        // (the device is still reading or decoding it). Past the hold, or once that stream ended, the re-send goes out.
        if (outbox.DeliveredOnOpenStream(key) is { } deliveredAt && _time.GetElapsedTime(deliveredAt) < _resendHold.Current)
        {
            Interlocked.Increment(ref _taskResendsHeld);
            return ValueTask.CompletedTask;
        }

        // A device that takes references and was sent the model the task starts from (it precedes the task in its inbox) gets a one-frame reference.
        outbox.Enqueue(Parsed(_tasks.FramesFor(deviceId, task, _references.PublishedHashFor(deviceId)).Frames), key, MessageKind.Task);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) =>
        EnqueueAsync(deviceId, new WireMessage { MessageId = WireMessage.NewId(), Body = receipt ?? throw new ArgumentNullException(nameof(receipt)) });

    /// <inheritdoc />
    /// <remarks>Protocol payloads travel as envelopes in the device's inbox, chunked like tasks and in order with them.</remarks>
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        EnqueueAsync(deviceId, new WireMessage { MessageId = WireMessage.NewId(), Body = new ProtocolPayload(payload.ToArray()) });

    /// <inheritdoc />
    public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var message = new WireMessage { MessageId = WireMessage.NewId(), Body = model };
        byte[] envelope = WireSerializer.Serialize(message, _modelCodec);
        Frame[] frames = Parsed(WireFraming.Split(envelope, _options.ChunkSize, message, _options.OmitDigestsWhenSigned));
        _modelFrames = frames;
        foreach (Outbox outbox in _outboxes.Values)
        {
            outbox.Enqueue(frames, key: null, MessageKind.Model);
        }

        _references.OnPublished(model);

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_options.ClientCertificateValidator is { } crlSource)
        {
            crlSource.CrlReloaded -= OnCrlReloaded;
        }

        foreach (Outbox outbox in _outboxes.Values)
        {
            outbox.Complete();
        }

        // Idempotent: a host may dispose the transport after the engine that owns it already did.
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private ValueTask EnqueueAsync(string deviceId, WireMessage message)
    {
        RequireValidDevice(deviceId);
        OutboxOf(deviceId).Enqueue(ParseAll(WireFraming.Split(WireSerializer.Serialize(message, _modelCodec), _options.ChunkSize)), key: null);
        return ValueTask.CompletedTask;
    }

    /// <summary>The frames as protobuf messages, parsed once per list (a shared list is parsed once for every device).</summary>
    private Frame[] Parsed(IReadOnlyList<byte[]> frames) => _parsed.GetValue(frames, ParseAll);

    private static Frame[] ParseAll(IReadOnlyList<byte[]> frames) => [.. frames.Select(f => Frame.Parser.ParseFrom(f))];

    private static void RequireValidDevice(string deviceId)
    {
        if (!Mqtt.MqttTopicScheme.IsValidSegment(deviceId))
        {
            throw new ArgumentException($"Device id '{deviceId}' is invalid.", nameof(deviceId));
        }
    }

    private Outbox OutboxOf(string deviceId) => _outboxes.GetOrAdd(deviceId, _ => new Outbox(_time, _options.AbsentInboxRetention));

    private static string TaskKey(long round, string? nonce) => $"task/{round}/{nonce}";

    /// <summary>A status naming the task a device holds: the time since the task's delivery feeds the re-send hold.</summary>
    private void OnTaskAcknowledged(string device, DeviceStatus status)
    {
        if (status.ActiveRound is { } round && _outboxes.TryGetValue(device, out Outbox? outbox)
            && outbox.Acknowledge(TaskKey(round, status.ActiveNonce)) is { } deliveredAt)
        {
            _resendHold.Observe(_time.GetElapsedTime(deliveredAt));
        }
    }

    /// <summary>
    /// Keeps a mutual-TLS call (Send or Subscribe stream) with its client certificate while it runs, so that a CRL
    /// reloaded meanwhile can end it (<see cref="OnCrlReloaded"/>).
    /// </summary>
    private CallRegistration Track(ServerCallContext context)
    {
        Microsoft.AspNetCore.Http.HttpContext http = context.GetHttpContext();
        if (_options.ClientCertificateValidator is null || http.Connection.ClientCertificate is not { } certificate)
        {
            return default;
        }

        _certificateCalls[http] = certificate;
        return new CallRegistration(_certificateCalls, http);
    }

    /// <summary>
    /// Ends every running call of a device whose certificate the reloaded CRL revokes (revoked while connected): its
    /// streams are aborted, and its next call is refused (Revoked) in <see cref="AuthenticateByCertificate"/>.
    /// </summary>
    private void OnCrlReloaded(object? sender, EventArgs e)
    {
        CertificateValidator validator = _options.ClientCertificateValidator!;
        var logged = new HashSet<string>(StringComparer.Ordinal);
        foreach ((Microsoft.AspNetCore.Http.HttpContext call, X509Certificate2 certificate) in _certificateCalls)
        {
            if (!validator.IsRevoked(certificate))
            {
                continue;
            }

            string device = FederationPki.ReadDeviceId(certificate) ?? certificate.Subject;
            if (logged.Add(device))
            {
                Refuse(new CertificateValidation(CertificateRefusal.Revoked, $"certificate '{certificate.Subject}' (serial {certificate.SerialNumber}) was revoked by a reloaded CRL; the device's streams were ended", device));
            }

            _certificateCalls.TryRemove(call, out _);
            call.Abort();
        }
    }

    private readonly struct CallRegistration(ConcurrentDictionary<Microsoft.AspNetCore.Http.HttpContext, X509Certificate2>? calls, Microsoft.AspNetCore.Http.HttpContext? call) : IDisposable
    {
        public void Dispose()
        {
            if (calls is not null && call is not null)
            {
                calls.TryRemove(call, out _);
            }
        }
    }

    private bool CheckClientCertificate(CertificateValidator validator, X509Certificate2? certificate)
    {
        CertificateValidation result = validator.Validate(certificate, CertificateRole.Device);
        if (!result.IsValid)
        {
            Refuse(result);
        }

        return result.IsValid;
    }

    private void Refuse(CertificateValidation refusal)
    {
        Log.GrpcCertificateRefused(_logger, refusal.Refusal.ToString(), refusal.Reason);
        _refused.Enqueue(refusal);
        while (_refused.Count > 256 && _refused.TryDequeue(out _))
        {
        }
    }

    private string Authenticate(ServerCallContext context)
    {
        if (_options.ClientCertificateValidator is not null)
        {
            return AuthenticateByCertificate(context);
        }

        string device = context.RequestHeaders.GetValue("fededge-device") ?? string.Empty;
        string authorization = context.RequestHeaders.GetValue("authorization") ?? string.Empty;
        const string Bearer = "Bearer ";
        if (!authorization.StartsWith(Bearer, StringComparison.Ordinal)
            || !_tokenHashes.TryGetValue(device, out byte[]? expected)
            || !CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(authorization[Bearer.Length..])), expected))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Unknown device or wrong token."));
        }

        return device;
    }

    /// <summary>
    /// The handshake verified the client certificate; the caller is the device it names. A call whose header claims
    /// another device is refused (IdentityMismatch) and logged.
    /// </summary>
    private string AuthenticateByCertificate(ServerCallContext context)
    {
        X509Certificate2? certificate = context.GetHttpContext().Connection.ClientCertificate;
        string? device = certificate is null ? null : FederationPki.ReadDeviceId(certificate);
        if (device is null)
        {
            var missing = new CertificateValidation(CertificateRefusal.Missing, "the call carries no device certificate");
            Refuse(missing);
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"{missing.Refusal}: {missing.Reason}"));
        }

        // The handshake checked the certificate against the CRL of its time; a CRL reloaded since applies to every call.
        if (_options.ClientCertificateValidator!.IsRevoked(certificate!))
        {
            var revoked = new CertificateValidation(CertificateRefusal.Revoked, $"certificate '{certificate!.Subject}' (serial {certificate.SerialNumber}) was revoked by a reloaded CRL", device);
            Refuse(revoked);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{revoked.Refusal}: {revoked.Reason}"));
        }

        string? claimed = context.RequestHeaders.GetValue("fededge-device");
        if (claimed is not null && !string.Equals(claimed, device, StringComparison.Ordinal))
        {
            var mismatch = new CertificateValidation(CertificateRefusal.IdentityMismatch, $"the call claims device '{claimed}' but its certificate is device '{device}'", device);
            Refuse(mismatch);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{mismatch.Refusal}: {mismatch.Reason}"));
        }

        return device;
    }

    private async Task ReportMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        Statistics.RecordMalformed();
        Log.Malformed(_logger, source, error.Message);
        await _handler!.OnMalformedAsync(source, error, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Handles one Send call: frames in, at most one join response out.</summary>
    internal async Task SendAsync(IAsyncStreamReader<Frame> requests, IServerStreamWriter<Frame> responses, ServerCallContext context)
    {
        string device = Authenticate(context);
        string source = $"grpc:Send/{device}";
        if (string.Equals(context.RequestHeaders.GetValue(GrpcWorkerTransport.StreamHeader), GrpcWorkerTransport.StatusStream, StringComparison.Ordinal))
        {
            // A worker's long-lived status stream: the early headers (echoing the marker) tell it the call was authenticated,
            // so it may write statuses and heartbeats without waiting for an answer to each.
            await context.WriteResponseHeadersAsync(new Metadata { { GrpcWorkerTransport.StreamHeader, GrpcWorkerTransport.StatusStream } }).ConfigureAwait(false);
        }

        X509Certificate2? certificate = _options.ClientCertificateValidator is null ? null : context.GetHttpContext().Connection.ClientCertificate;
        var reassembler = new FrameReassembler(_time, _options.Reassembly);
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            Frame frame = requests.Current;
            int frameLength = frame.CalculateSize();
            Statistics.RecordReceived(frameLength, device);
            WireMessage message;
            try
            {
                if (!reassembler.TryAccept(source, frame, _verified != VerifiedContent.None, out ReadOnlyMemory<byte> envelope, out bool digestless))
                {
                    continue;
                }

                try
                {
                    message = WireSerializer.Deserialize(envelope.Span);
                    if (digestless)
                    {
                        // Without digests only a signed update goes on, to an engine that verifies the signature first.
                        SignedContent.RequireCovered(message, _verified, message.MessageId);
                        Interlocked.Increment(ref _digestlessMessages);
                    }
                }
                catch (ProtocolVersionException ex) when (WireSerializer.PeekJoinVersion(envelope.Span, out int version, out string id, out string? joining) && joining is not null)
                {
                    await ReportMalformedAsync(source, ex, context.CancellationToken).ConfigureAwait(false);
                    Log.ProtocolMismatch(_logger, device, version, ProtocolVersion.Current);
                    await RespondAsync(responses, device, new WireMessage
                    {
                        MessageId = WireMessage.NewId(),
                        CorrelationId = id,
                        Body = new JoinResponse { Accepted = false, Reasons = [$"This coordinator speaks FedEdge protocol version {ProtocolVersion.Current} but the device sent version {version}; upgrade the worker."] },
                    }).ConfigureAwait(false);
                    continue;
                }
            }
            catch (UpdateFormatException ex)
            {
                // The call authenticated the sender: it gets a refusal receipt (through its inbox), and the call goes on.
                await ReportMalformedAsync(source, new UndecodableUpdateException(device, ex.Round, ex.Message, ex), context.CancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (WireFormatException ex)
            {
                await ReportMalformedAsync(source, ex, context.CancellationToken).ConfigureAwait(false);
                throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
            }

            // A stream can outlive a CRL reload: every message is checked against the current list.
            if (certificate is not null && _options.ClientCertificateValidator!.IsRevoked(certificate))
            {
                var revoked = new CertificateValidation(CertificateRefusal.Revoked, $"certificate '{certificate.Subject}' (serial {certificate.SerialNumber}) was revoked by a reloaded CRL", device);
                Refuse(revoked);
                throw new RpcException(new Status(StatusCode.PermissionDenied, $"{revoked.Refusal}: {revoked.Reason}"));
            }

            if (!string.Equals(message.SenderId, device, StringComparison.Ordinal))
            {
                var spoof = new WireFormatException($"The envelope claims sender '{message.SenderId}' but the call is authenticated as device '{device}'.");
                if (_options.ClientCertificateValidator is not null)
                {
                    Refuse(new CertificateValidation(CertificateRefusal.IdentityMismatch, spoof.Message, device));
                }

                await ReportMalformedAsync(source, spoof, context.CancellationToken).ConfigureAwait(false);
                throw new RpcException(new Status(StatusCode.PermissionDenied, spoof.Message));
            }

            var inbound = new InboundContext { AuthenticatedId = device, WireBytes = frameLength };
            switch (message.Body)
            {
                case JoinRequest join:
                    join = _references.OnJoin(device, join);
                    JoinResponse response = string.Equals(join.DeviceId, device, StringComparison.Ordinal)
                        ? await _handler!.OnJoinAsync(join, inbound, context.CancellationToken).ConfigureAwait(false)
                        : new JoinResponse { Accepted = false, Reasons = [$"The join request names device '{join.DeviceId}' but the call is authenticated as '{device}'."] };
                    await RespondAsync(responses, device, new WireMessage { MessageId = WireMessage.NewId(), CorrelationId = message.MessageId, Body = response }).ConfigureAwait(false);
                    break;
                case DeviceStatus status:
                    OnTaskAcknowledged(device, status);
                    await _handler!.OnStatusAsync(status with { ReceivedAt = _time.GetUtcNow() }, inbound, context.CancellationToken).ConfigureAwait(false);
                    break;
                case ModelUpdate update:
                    await _handler!.OnUpdateAsync(update, inbound, context.CancellationToken).ConfigureAwait(false);
                    break;
                case ProtocolPayload protocol:
                    // The sender is the device the call authenticated (the envelope's sender was checked against it above).
                    await _handler!.OnProtocolAsync(device, protocol.Payload, inbound, context.CancellationToken).ConfigureAwait(false);
                    break;
                default:
                    var wrong = new WireFormatException($"A {message.Body.GetType().Name} cannot be sent to the coordinator.");
                    await ReportMalformedAsync(source, wrong, context.CancellationToken).ConfigureAwait(false);
                    throw new RpcException(new Status(StatusCode.InvalidArgument, wrong.Message));
            }
        }

        foreach ((string _, ChunkIntegrityException incomplete) in reassembler.CollectExpired().Concat(Incomplete(reassembler, source)))
        {
            await ReportMalformedAsync(source, incomplete, context.CancellationToken).ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.DataLoss, incomplete.Message));
        }
    }

    /// <summary>Handles one Subscribe call: the latest model first, then the device's inbox until the call ends.</summary>
    internal async Task SubscribeAsync(SubscribeRequest request, IServerStreamWriter<Frame> responses, ServerCallContext context)
    {
        string device = Authenticate(context);
        if (request.ProtocolVersion != (uint)ProtocolVersion.Current)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, new ProtocolVersionException((int)Math.Min(request.ProtocolVersion, int.MaxValue), ProtocolVersion.Current).Message));
        }

        foreach (Frame frame in _modelFrames)
        {
            await WriteAsync(responses, device, frame).ConfigureAwait(false);
        }

        Outbox outbox = OutboxOf(device);
        int stream = outbox.OpenStream();
        try
        {
            while (await outbox.WaitToReadAsync(context.CancellationToken).ConfigureAwait(false))
            {
                // Peek, write, then advance: a frame is only dropped from the inbox once written to a live stream.
                while (outbox.TryPeekFrame(out Frame? frame))
                {
                    await WriteAsync(responses, device, frame).ConfigureAwait(false);
                    outbox.Advance();
                }
            }
        }
        finally
        {
            // What this stream carried is no longer known to arrive: a re-send after this goes out at once.
            outbox.CloseStream(stream);
        }
    }

    private static IEnumerable<(string, ChunkIntegrityException)> Incomplete(FrameReassembler reassembler, string source) =>
        reassembler.PendingCount == 0 ? [] : [(source, new ChunkIntegrityException("(stream)", $"the call ended with {reassembler.PendingCount} incomplete chunked message(s); they are discarded."))];

    private async Task RespondAsync(IServerStreamWriter<Frame> responses, string device, WireMessage message)
    {
        foreach (byte[] frame in WireFraming.Split(WireSerializer.Serialize(message, _modelCodec), _options.ChunkSize))
        {
            await WriteAsync(responses, device, Frame.Parser.ParseFrom(frame)).ConfigureAwait(false);
        }
    }

    // Every frame goes down one authenticated device's stream (the model too: each device is sent its own copy), so
    // all of it is attributed to that device.
    private async Task WriteAsync(IServerStreamWriter<Frame> responses, string device, Frame frame)
    {
        await responses.WriteAsync(frame).ConfigureAwait(false);
        Statistics.RecordSent(frame.CalculateSize(), device);
    }

    private sealed class FederationServiceImpl(GrpcCoordinatorTransport owner) : FederationService.FederationServiceBase
    {
        public override async Task Send(IAsyncStreamReader<Frame> requestStream, IServerStreamWriter<Frame> responseStream, ServerCallContext context)
        {
            using CallRegistration call = owner.Track(context);
            await owner.SendAsync(requestStream, responseStream, context).ConfigureAwait(false);
        }

        public override async Task Subscribe(SubscribeRequest request, IServerStreamWriter<Frame> responseStream, ServerCallContext context)
        {
            using CallRegistration call = owner.Track(context);
            await owner.SubscribeAsync(request, responseStream, context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One device's inbox: whole messages (their frames) in order, drained frame by frame by the device's single
    /// <c>Subscribe</c> stream. A message stays, with the frames not yet written, until its last frame is written,
    /// and a keyed message (a task) is not queued twice while one copy waits. The inbox is bounded: a newer global model
    /// replaces a queued one not yet started, a newer task replaces queued older ones, and once the device has had no
    /// stream for longer than the retention, everything queued is dropped and nothing more is queued until it subscribes.
    /// </summary>
    private sealed class Outbox
    {
        private readonly TimeProvider _time;
        private readonly TimeSpan _retention;
        private readonly Lock _gate = new();
        private readonly LinkedList<QueuedMessage> _messages = new();
        private readonly HashSet<string> _queuedKeys = new(StringComparer.Ordinal);
        private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _completed;
        private long _queuedBytes;
        private long _dropped;
        private int _next;
        private int _streams;
        private int _openStream;
        // When the inbox last had no stream: its creation, or the end of its last stream.
        private long _streamGoneAt;
        // The last keyed message (a task) written whole: its key, the stream that carried it, when, and whether a status acknowledged it.
        private string? _deliveredKey;
        private int _deliveredOn;
        private long _deliveredAt;
        private bool _deliveredAcknowledged;

        public Outbox(TimeProvider time, TimeSpan retention)
        {
            _time = time;
            _retention = retention;
            _streamGoneAt = time.GetTimestamp();
        }

        /// <summary>Frame bytes queued (not yet written) in this inbox.</summary>
        public long QueuedBytes
        {
            get
            {
                lock (_gate)
                {
                    return _queuedBytes;
                }
            }
        }

        /// <summary>Messages dropped (superseded, or the device stayed away past the retention).</summary>
        public long Dropped
        {
            get
            {
                lock (_gate)
                {
                    return _dropped;
                }
            }
        }

        /// <summary>True while a subscription drains this inbox.</summary>
        public bool IsSubscribed
        {
            get
            {
                lock (_gate)
                {
                    return _openStream != 0;
                }
            }
        }

        /// <summary>A subscription starts draining this inbox; returns its number.</summary>
        public int OpenStream()
        {
            lock (_gate)
            {
                _openStream = ++_streams;
                return _openStream;
            }
        }

        /// <summary>The subscription ended; what it carried may not have arrived.</summary>
        public void CloseStream(int stream)
        {
            lock (_gate)
            {
                if (_openStream == stream)
                {
                    _openStream = 0;
                    _streamGoneAt = _time.GetTimestamp();
                }
            }
        }

        /// <summary>When <paramref name="key"/> was last written whole to the stream that is still open, or null.</summary>
        public long? DeliveredOnOpenStream(string key)
        {
            lock (_gate)
            {
                return _openStream != 0 && _deliveredOn == _openStream && string.Equals(_deliveredKey, key, StringComparison.Ordinal) ? _deliveredAt : null;
            }
        }

        /// <summary>A status acknowledged <paramref name="key"/>: the first time after its delivery, when it was delivered.</summary>
        public long? Acknowledge(string key)
        {
            lock (_gate)
            {
                if (_deliveredAcknowledged || !string.Equals(_deliveredKey, key, StringComparison.Ordinal))
                {
                    return null;
                }

                _deliveredAcknowledged = true;
                return _deliveredAt;
            }
        }

        public bool Holds(string key)
        {
            lock (_gate)
            {
                return _queuedKeys.Contains(key);
            }
        }

        /// <summary>
        /// Queues a message unless the device has been away past the retention (then the inbox is emptied instead). A
        /// message of kind <see cref="MessageKind.Model"/> or <see cref="MessageKind.Task"/> replaces the queued
        /// messages of its kind that no stream has started writing.
        /// </summary>
        public void Enqueue(IReadOnlyList<Frame> frames, string? key, MessageKind kind = MessageKind.Other)
        {
            lock (_gate)
            {
                if (_completed)
                {
                    return;
                }

                if (_openStream == 0 && _time.GetElapsedTime(_streamGoneAt) > _retention)
                {
                    // Gone, lost or never reading: on its return the device is sent the latest model first and its task is re-sent.
                    _dropped += _messages.Count + 1;
                    _messages.Clear();
                    _queuedKeys.Clear();
                    _queuedBytes = 0;
                    _next = 0;
                    return;
                }

                if (key is not null && !_queuedKeys.Add(key))
                {
                    return;
                }

                if (kind != MessageKind.Other)
                {
                    Supersede(kind);
                }

                var message = new QueuedMessage(frames, key, kind, SizeOf(frames));
                _messages.AddLast(message);
                _queuedBytes += message.Bytes;
                _arrived.TrySetResult();
            }
        }

        public void Complete()
        {
            lock (_gate)
            {
                _completed = true;
                _arrived.TrySetResult();
            }
        }

        public async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                Task arrived;
                lock (_gate)
                {
                    if (_messages.Count > 0)
                    {
                        return true;
                    }

                    if (_completed)
                    {
                        return false;
                    }

                    if (_arrived.Task.IsCompleted)
                    {
                        _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    arrived = _arrived.Task;
                }

                await arrived.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>The next frame to write (single reader).</summary>
        public bool TryPeekFrame([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Frame? frame)
        {
            lock (_gate)
            {
                while (_messages.First is { } first)
                {
                    if (_next < first.Value.Frames.Count)
                    {
                        frame = first.Value.Frames[_next];
                        return true;
                    }

                    Finish();
                }
            }

            frame = null;
            return false;
        }

        /// <summary>Marks the peeked frame written.</summary>
        public void Advance()
        {
            lock (_gate)
            {
                _next++;
                if (_messages.First is { } first && _next >= first.Value.Frames.Count)
                {
                    Finish();
                }
            }
        }

        /// <summary>
        /// Drops the queued messages of <paramref name="kind"/>, except a head a stream may be writing and a model that a
        /// queued task follows before the next model (that task may name it by reference instead of carrying its parameters).
        /// </summary>
        private void Supersede(MessageKind kind)
        {
            LinkedListNode<QueuedMessage>? protectedHead = _next > 0 || _openStream != 0 ? _messages.First : null;
            // Walking from the newest: a task was met since the last model (so the next model met is the one it follows).
            bool taskBehind = false;
            LinkedListNode<QueuedMessage>? node = _messages.Last;
            while (node is not null)
            {
                LinkedListNode<QueuedMessage>? previous = node.Previous;
                QueuedMessage queued = node.Value;
                bool referenced = queued.Kind == MessageKind.Model && taskBehind;
                if (queued.Kind == MessageKind.Model)
                {
                    // Only the task that follows a model before the next one can name it.
                    taskBehind = false;
                }

                if (queued.Kind == kind && node != protectedHead && !referenced)
                {
                    _messages.Remove(node);
                    _queuedBytes -= queued.Bytes;
                    _dropped++;
                    if (queued.Key is { } key)
                    {
                        _queuedKeys.Remove(key);
                    }
                }
                else if (queued.Kind == MessageKind.Task)
                {
                    taskBehind = true;
                }

                node = previous;
            }
        }

        private void Finish()
        {
            if (_messages.First is not { } first)
            {
                return;
            }

            QueuedMessage done = first.Value;
            _messages.RemoveFirst();
            _queuedBytes -= done.Bytes;
            if (done.Key is not null)
            {
                _queuedKeys.Remove(done.Key);
                _deliveredKey = done.Key;
                _deliveredOn = _openStream;
                _deliveredAt = _time.GetTimestamp();
                _deliveredAcknowledged = false;
            }

            _next = 0;
        }

        private static long SizeOf(IReadOnlyList<Frame> frames)
        {
            long bytes = 0;
            foreach (Frame frame in frames)
            {
                bytes += frame.CalculateSize();
            }

            return bytes;
        }

        private sealed record QueuedMessage(IReadOnlyList<Frame> Frames, string? Key, MessageKind Kind, long Bytes);
    }

    /// <summary>What a queued message is, for replacing an older one of the same kind.</summary>
    private enum MessageKind
    {
        Other,
        Model,
        Task,
    }

    /// <summary>
    /// The adaptive hold on task re-sends: four times a smoothed acknowledgement time (delivery of a task's last frame
    /// to the status naming it), at least 100 ms and at most the configured cap; the cap until a first sample.
    /// </summary>
    internal sealed class ResendHold(TimeSpan cap)
    {
        private static readonly TimeSpan Floor = TimeSpan.FromMilliseconds(100);
        private readonly Lock _gate = new();
        private double _smoothedTicks = -1;

        public TimeSpan Current
        {
            get
            {
                if (cap <= TimeSpan.Zero)
                {
                    return TimeSpan.Zero;
                }

                lock (_gate)
                {
                    if (_smoothedTicks < 0)
                    {
                        return cap;
                    }

                    var hold = TimeSpan.FromTicks((long)(4 * _smoothedTicks));
                    return hold < Floor ? (Floor < cap ? Floor : cap) : hold > cap ? cap : hold;
                }
            }
        }

        /// <summary>One acknowledgement time (exponentially smoothed, weight 1/8 for the new sample).</summary>
        public void Observe(TimeSpan elapsed)
        {
            lock (_gate)
            {
                _smoothedTicks = _smoothedTicks < 0 ? elapsed.Ticks : _smoothedTicks + ((elapsed.Ticks - _smoothedTicks) / 8);
            }
        }
    }
}
