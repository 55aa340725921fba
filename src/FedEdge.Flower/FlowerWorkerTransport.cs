using System.Globalization;
using System.Numerics.Tensors;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Flower.Fleet;
using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using FedEdge.Messaging;
using FedEdge.Training;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Flower;

/// <summary>
/// FedEdge's worker transport onto a Flower SuperLink: joining is RegisterNode/ActivateNode, a <c>train</c>
/// message becomes a round task for Core's <see cref="Worker"/> (so its state machine, state file, governor and
/// telemetry work as in a FedEdge federation), the worker's update becomes the Flower reply, and a decline or a
/// failed round becomes an error reply. <c>evaluate</c> messages are scored with the same trainer and data.
/// </summary>
internal sealed class FlowerWorkerTransport : IWorkerTransport
{
    /// <summary>Flower's error code for a failure in the client app (the node's side).</summary>
    public const long ClientAppErrorCode = 2;

    private readonly FlowerNodeOptions _options;
    private readonly ITrainer _trainer;
    private readonly ILocalDataSource? _data;
    private readonly GovernorLog _governor;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private IWorkerHandler? _handler;
    private FleetClient? _client;
    private Task? _loops;
    private PendingTrain? _pending;
    private DeviceStatus? _lastStatus;
    private Data.Dataset? _evaluationData;
    private long _rounds;
    private readonly FlowerNodeStatus _status;
    private bool _registered;
    private int _disposed;

    public FlowerWorkerTransport(IOptions<FlowerNodeOptions> options, ITrainer trainer, GovernorLog governor, FlowerNodeStatus status, ILocalDataSource? data = null, TimeProvider? time = null, ILogger<FlowerWorkerTransport>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _trainer = trainer;
        _governor = governor;
        _status = status;
        _data = data;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public TransportStatistics Statistics { get; } = new();

    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _options.Validate();
        _handler = handler;
        if (_client is null)
        {
            NodeIdentity identity = _options.NodeKeyPath is { } path ? NodeIdentity.FromPem(File.ReadAllText(path)) : NodeIdentity.Generate();
            var http = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
            if (_options.RootCertificatePath is { } roots)
            {
                var trust = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                trust.ImportFromPemFile(roots);
                http.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    certificate is not null && TlsTrust.ChainsTo(certificate, trust, errors);
            }

            GrpcChannel channel = GrpcChannel.ForAddress(_options.SuperLink!, new GrpcChannelOptions { HttpHandler = http, MaxReceiveMessageSize = 512 * 1024 * 1024 });
            _client = new FleetClient(channel, identity, _time, _options.CallTimeout, TimeSpan.FromMilliseconds(200), _options.ObjectWait);
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        FleetClient client = _client ?? throw new InvalidOperationException("ConnectAsync first.");
        try
        {
            if (client.Identity.Generated || _options.Register)
            {
                await client.RegisterAsync(cancellationToken).ConfigureAwait(false);
                _registered = true;
            }

            ulong node = await client.ActivateAsync(_options.HeartbeatInterval.TotalSeconds, cancellationToken).ConfigureAwait(false);
            _status.Activated(node);
            Log.NodeActive(_logger, node, _options.SuperLink!, _options.HeartbeatInterval.TotalSeconds, _registered);
        }
        catch (RpcException ex) when (TlsFailure(ex) is { } tls)
        {
            // An untrusted certificate does not heal by retrying: say so.
            return new JoinResponse { Accepted = false, Reasons = [$"TLS with the SuperLink failed (check --root-cert / RootCertificatePath): {tls.Message}"] };
        }
        catch (RpcException ex) when (IsNetwork(ex) || ex.Status.DebugException is not null)
        {
            throw new IOException($"SuperLink {_options.SuperLink} unreachable: {ex.Status.Detail}", ex);
        }
        catch (RpcException ex)
        {
            return new JoinResponse { Accepted = false, Reasons = [$"the SuperLink refused the node ({ex.StatusCode}: {ex.Status.Detail})"] };
        }

        _loops ??= Task.WhenAll(
            Task.Run(() => HeartbeatLoopAsync(_stop.Token), CancellationToken.None),
            Task.Run(() => PullLoopAsync(_stop.Token), CancellationToken.None));
        return new JoinResponse { Accepted = true };
    }

    public async ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(status);
        PendingTrain? pending;
        lock (_gate)
        {
            _lastStatus = status;
            pending = _pending;
        }

        // The worker announces NotReady with its reason when the governor declines or training fails: reply so.
        if (status.Intent == DeviceIntent.NotReady && pending is not null && status.ActiveRound is null)
        {
            await ReplyErrorAsync(pending, status.Reason ?? "the device is not ready", cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        PendingTrain? pending;
        lock (_gate)
        {
            pending = _pending is { } p && p.Task.Nonce == update.Nonce ? p : null;
        }

        if (pending is null)
        {
            // A re-sent update whose reply went out already: confirm it again so the worker stops re-sending.
            await _handler!.OnReceiptAsync(new UpdateReceipt { Round = update.Round, Accepted = true }, cancellationToken).ConfigureAwait(false);
            return;
        }

        ParameterSet values = update.Values;
        if (update.Kind == UpdateKind.Delta)
        {
            // Flower's strategies average full arrays: add the round's global parameters back.
            values = update.Values.Clone();
            TensorPrimitives.Add(values.Values, pending.Task.GlobalParameters.Values, values.Values);
        }

        var metrics = new List<KeyValuePair<string, MetricValue>>
        {
            new("train_loss", FlowerValues.Metric(update.Metrics.TryGetValue(FederationProtocol.LossMetric, out double loss) ? loss : double.NaN)),
            new("num-examples", FlowerValues.Metric(update.SampleCount)),
        };
        var records = new List<KeyValuePair<string, FlowerRecord>>
        {
            new("arrays", ParameterMapping.ToArrayRecord(values, pending.Binding)),
            new("metrics", new FlowerMetricRecord(metrics)),
        };
        records.Add(new("fededge", new FlowerConfigRecord(DeviceRecord())));
        try
        {
            double seconds = update.Metrics.TryGetValue("seconds", out double s) && double.IsFinite(s) && s >= 0 ? s : 0;
            await ReplyAsync(pending, new FlowerRecordDict(records), null, seconds, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            throw new IOException($"pushing the reply failed: {ex.StatusCode}: {ex.Status.Detail}", ex);
        }

        await _handler!.OnReceiptAsync(new UpdateReceipt { Round = update.Round, Accepted = true }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// What the device side says beside the model, in a ConfigRecord (Flower's strategies require the same metric keys
    /// from every node, and ignore ConfigRecords): whether the governor shortened training, the steps done, and the
    /// telemetry of the worker's last status report.
    /// </summary>
    private List<KeyValuePair<string, ConfigValue>> DeviceRecord()
    {
        var items = new List<KeyValuePair<string, ConfigValue>>();
        TrainingResult? last = _governor.Last;
        items.Add(new("governor", FlowerValues.Config(last is { CutByGovernor: true } cut ? "shortened: " + (cut.GovernorReason ?? "steps capped") : "proceeded")));
        if (last is not null)
        {
            items.Add(new("steps", FlowerValues.Config((long)last.Steps)));
        }

        DeviceTelemetry? telemetry;
        lock (_gate)
        {
            telemetry = _lastStatus?.Telemetry;
        }

        if (telemetry?.TemperatureCelsius is double celsius)
        {
            items.Add(new("temperature-c", new ConfigValue { Double = celsius }));
        }

        if (telemetry?.Throttled is bool throttled)
        {
            items.Add(new("throttled", FlowerValues.Config(throttled)));
        }

        if (telemetry?.LoadAverage is double load)
        {
            items.Add(new("load-average", new ConfigValue { Double = load }));
        }

        return items;
    }

    private async Task HeartbeatLoopAsync(CancellationToken ct)
    {
        TimeSpan period = _options.HeartbeatInterval * 0.8;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!await _client!.HeartbeatAsync(_options.HeartbeatInterval.TotalSeconds, ct).ConfigureAwait(false))
                {
                    Log.CallFailed(_logger, "SendNodeHeartbeat", "the SuperLink does not recognise this node");
                }

                await Task.Delay(period, _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                Log.CallFailed(_logger, "SendNodeHeartbeat", $"{ex.StatusCode}: {ex.Status.Detail}");
                await DelayQuietly(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task PullLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                PendingTrain? pending;
                lock (_gate)
                {
                    pending = _pending;
                }

                if (pending is not null)
                {
                    // One instruction at a time: wait for the worker's answer or the instruction's expiry.
                    await Task.WhenAny(pending.Done.Task, Task.Delay(_options.PollInterval, _time, ct)).ConfigureAwait(false);
                    if (!pending.Done.Task.IsCompleted && _time.GetUtcNow() >= pending.Task.Deadline)
                    {
                        Log.ReplyExpired(_logger, pending.Metadata.MessageId);
                        Finish(pending);
                    }

                    continue;
                }

                PulledMessage? pulled = await _client!.PullAsync(ct).ConfigureAwait(false);
                if (pulled is null)
                {
                    await Task.Delay(_options.PollInterval, _time, ct).ConfigureAwait(false);
                    continue;
                }

                Statistics.RecordReceived(pulled.WireBytes);
                await HandleAsync(pulled, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or FlowerProtocolException or TimeoutException or IOException)
            {
                Statistics.RecordMalformed();
                Log.CallFailed(_logger, "PullMessages", ex.Message);
                await DelayQuietly(_options.PollInterval, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task HandleAsync(PulledMessage pulled, CancellationToken ct)
    {
        Envelope meta = pulled.Metadata;
        Log.MessageReceived(_logger, meta.MessageType, meta.MessageId, meta.RunId);
        var instruction = new Instruction(meta);
        if (pulled.Problem is { } problem)
        {
            Log.MessageRefused(_logger, meta.MessageId, problem);
            await ReplyErrorAsync(instruction, "refused by the FedEdge node: " + problem, ct).ConfigureAwait(false);
            return;
        }

        FlowerMessage message = pulled.Message!;
        try
        {
            switch (meta.MessageType)
            {
                case "train":
                    await StartTrainAsync(meta, message, ct).ConfigureAwait(false);
                    break;
                case "evaluate":
                    await EvaluateAsync(instruction, message, ct).ConfigureAwait(false);
                    break;
                default:
                    await ReplyErrorAsync(instruction, $"message type '{meta.MessageType}' is not supported by the FedEdge node (train and evaluate are)", ct).ConfigureAwait(false);
                    break;
            }
        }
        catch (FlowerProtocolException ex)
        {
            Log.MessageRefused(_logger, meta.MessageId, ex.Message);
            await ReplyErrorAsync(instruction, "refused by the FedEdge node: " + ex.Message, ct).ConfigureAwait(false);
        }
    }

    private async Task StartTrainAsync(Envelope meta, FlowerMessage message, CancellationToken ct)
    {
        (FlowerArrayRecord arrays, FlowerConfigRecord? config) = TrainInputs(message);
        (ParameterSet global, ArrayBinding binding) = ParameterMapping.ToParameterSet(arrays, _trainer.Layout);
        TrainingHyperParameters hyper = ParameterMapping.ToHyperParameters(config, new TrainingHyperParameters());
        long round = Interlocked.Increment(ref _rounds);
        var task = new RoundTask
        {
            Round = round,
            Nonce = meta.MessageId,
            GlobalParameters = global,
            HyperParameters = hyper,
            Deadline = Deadline(meta),
            Config = new Dictionary<string, string>(hyper.Extra, StringComparer.Ordinal),
        };
        var pending = new PendingTrain(meta, task, binding);
        DeviceStatus? last;
        lock (_gate)
        {
            _pending = pending;
            last = _lastStatus;
        }

        if (last is { Intent: DeviceIntent.NotReady })
        {
            await ReplyErrorAsync(pending, last.Reason ?? "the device is not ready", ct).ConfigureAwait(false);
            return;
        }

        string version = hyper.Extra.TryGetValue("server-round", out string? r) ? r : round.ToString(CultureInfo.InvariantCulture);
        await _handler!.OnGlobalModelAsync(new GlobalModel { Version = round, Hash = global.ComputeHash(), Parameters = global, Metadata = new Dictionary<string, string> { ["flower.server-round"] = version } }, ct).ConfigureAwait(false);
        await _handler.OnTaskAsync(task, ct).ConfigureAwait(false);
    }

    private async Task EvaluateAsync(Instruction instruction, FlowerMessage message, CancellationToken ct)
    {
        (FlowerArrayRecord arrays, _) = TrainInputs(message);
        (ParameterSet parameters, _) = ParameterMapping.ToParameterSet(arrays, _trainer.Layout);
        if (_data is null)
        {
            await ReplyErrorAsync(instruction, "the node has no local data to evaluate on", ct).ConfigureAwait(false);
            return;
        }

        Data.Dataset? data = Volatile.Read(ref _evaluationData);
        if (data is null)
        {
            try
            {
                data = await _data.LoadAsync(ct).ConfigureAwait(false);
                Volatile.Write(ref _evaluationData, data);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or FormatException or ArgumentException or UnauthorizedAccessException)
            {
                await ReplyErrorAsync(instruction, "bad local data: " + ex.Message, ct).ConfigureAwait(false);
                return;
            }
        }

        EvaluationResult result = await _trainer.EvaluateAsync(parameters, data, ct).ConfigureAwait(false);
        double accuracy = result.Metrics.TryGetValue("accuracy", out double a) ? a : double.NaN;
        var metrics = new List<KeyValuePair<string, MetricValue>>
        {
            new("eval_loss", FlowerValues.Metric(result.Loss)),
            new("eval_acc", FlowerValues.Metric(accuracy)),
            new("num-examples", FlowerValues.Metric((long)result.Count)),
        };
        await ReplyAsync(instruction, new FlowerRecordDict([new("metrics", new FlowerMetricRecord(metrics))]), null, 0, ct).ConfigureAwait(false);
    }

    private static (FlowerArrayRecord Arrays, FlowerConfigRecord? Config) TrainInputs(FlowerMessage message)
    {
        if (message.Content is null)
        {
            throw new FlowerProtocolException("The instruction carries an error instead of content.");
        }

        FlowerArrayRecord[] arrays = message.Content.Items.Select(i => i.Value).OfType<FlowerArrayRecord>().ToArray();
        if (arrays.Length != 1)
        {
            throw new FlowerProtocolException($"The instruction must carry exactly one ArrayRecord (the global model), not {arrays.Length}.");
        }

        return (arrays[0], message.Content.Items.Select(i => i.Value).OfType<FlowerConfigRecord>().FirstOrDefault());
    }

    private DateTimeOffset Deadline(Envelope meta)
    {
        double end = meta.CreatedAt + meta.Ttl;
        return double.IsFinite(end) && end > 0 && end < 253402300799
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(end * 1000))
            : _time.GetUtcNow();
    }

    private async Task ReplyErrorAsync(Instruction instruction, string reason, CancellationToken ct)
    {
        try
        {
            await ReplyAsync(instruction, null, new FlowerError { Code = ClientAppErrorCode, Reason = reason }, 0, ct).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            Log.CallFailed(_logger, "PushMessages", $"{ex.StatusCode}: {ex.Status.Detail}");
            Finish(instruction);
        }
    }

    /// <summary>Builds the reply as Flower does (routing reversed, TTL within the instruction's lifetime), pushes it and its objects.</summary>
    private async Task ReplyAsync(Instruction instruction, FlowerRecordDict? content, FlowerError? error, double runtimeSeconds, CancellationToken ct)
    {
        Envelope to = instruction.Metadata;
        double now = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        double ttl = to.CreatedAt + to.Ttl - now;
        if (ttl <= 0)
        {
            Log.ReplyExpired(_logger, to.MessageId);
            Finish(instruction);
            return;
        }

        var metadata = new Envelope
        {
            RunId = to.RunId,
            SrcNodeId = to.DstNodeId,
            DstNodeId = to.SrcNodeId,
            ReplyToMessageId = to.MessageId,
            GroupId = to.GroupId,
            CreatedAt = now,
            Ttl = ttl,
            MessageType = to.MessageType,
        };
        DeflatedMessage reply = ObjectTreeWriter.Deflate(new FlowerMessage(metadata, content, error));
        Envelope sent = metadata.Clone();
        sent.MessageId = reply.MessageId;
        long bytes = await _client!.PushAsync(reply, sent, error, runtimeSeconds, ct).ConfigureAwait(false);
        Statistics.RecordSent(bytes);
        string kind = error is null ? "content" : "error: " + error.Reason;
        Log.ReplyPushed(_logger, reply.MessageId, to.MessageId, kind);
        _status.Replied(to.MessageType, error?.Reason);
        Finish(instruction);
    }

    private void Finish(Instruction instruction)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_pending, instruction))
            {
                _pending = null;
            }
        }

        instruction.Done.TrySetResult();
    }

    private static System.Security.Authentication.AuthenticationException? TlsFailure(RpcException ex)
    {
        for (Exception? e = ex.Status.DebugException; e is not null; e = e.InnerException)
        {
            if (e is System.Security.Authentication.AuthenticationException tls)
            {
                return tls;
            }
        }

        return null;
    }

    private static bool IsNetwork(RpcException ex) => ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled;

    private async Task DelayQuietly(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loops is not null)
        {
            await _loops.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_client is { NodeId: > 0 } client)
        {
            ulong node = client.NodeId;
            using var leaving = new CancellationTokenSource(TimeSpan.FromSeconds(10), _time);
            try
            {
                await client.DeactivateAsync(leaving.Token).ConfigureAwait(false);
                if (_registered)
                {
                    await client.UnregisterAsync(leaving.Token).ConfigureAwait(false);
                }

                Log.NodeLeft(_logger, node, _registered);
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException)
            {
                Log.CallFailed(_logger, "DeactivateNode/UnregisterNode", ex.Message);
            }
        }

        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
            _client.Identity.Dispose();
        }

        _stop.Dispose();
    }

    /// <summary>An instruction from the SuperLink that needs one reply.</summary>
    private class Instruction(Envelope metadata)
    {
        public Envelope Metadata { get; } = metadata;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A train instruction handed to the worker as a round task.</summary>
    private sealed class PendingTrain(Envelope metadata, RoundTask task, ArrayBinding binding) : Instruction(metadata)
    {
        public RoundTask Task { get; } = task;

        public ArrayBinding Binding { get; } = binding;
    }
}
