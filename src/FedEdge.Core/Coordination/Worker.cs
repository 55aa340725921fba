using System.Diagnostics;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Privacy;
using FedEdge.Rounds;
using FedEdge.Security;
using FedEdge.Training;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Coordination;

/// <summary>
/// The worker round engine: a device's side of a federation. It restores its persisted state, validates its
/// local data, connects and joins (retrying with back-off), announces its intent and keeps announcing it as a
/// heartbeat, trains each round task through the trainer port (the governor is consulted by the trainer, once
/// per round), passes the result through its update pipeline and round protocol, and re-sends the update until
/// the coordinator's receipt arrives. Duplicate tasks are acknowledged again, never trained twice. In inference
/// mode it scores local data with every new global model. Local data never leave the device.
/// </summary>
/// <remarks>The worker owns its transport. When it sees the coordinator's session change (a restarted coordinator), it joins again by itself.</remarks>
public sealed class Worker : IWorkerHandler, IAsyncDisposable
{
    private readonly WorkerOptions _options;
    private readonly IWorkerTransport _transport;
    private readonly ITrainer _trainer;
    private readonly ILocalDataSource? _dataSource;
    private readonly ITrainingGovernor? _governor;
    private readonly IWorkerRoundProtocol _protocol;
    private readonly IUpdateTransform[] _transforms;
    private readonly IWorkerStateStore? _stateStore;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _joinGate = new(1, 1);
    private readonly List<UpdateReceipt> _receipts = [];
    private readonly WorkerLiveness _liveness;
    private UpdatePipeline? _pipeline;
    private readonly FederationCredentials? _credentials;
    private Dataset? _data;
    private string? _dataProblem;
    private WorkerRound? _round;
    private Task? _heartbeats;
    private string? _session;
    private bool _admitted;
    private long _lastRound;
    private long _globalVersion;
    private long _inferredVersion = -1;
    private int _disposed;
    private TaskCompletionSource _stateChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a worker from its ports (normally through DI: <c>services.AddFedEdgeWorker()</c>).</summary>
    /// <param name="options">Settings, validated in <see cref="StartAsync"/>.</param>
    /// <param name="transport">The transport (owned and disposed by the worker).</param>
    /// <param name="trainer">The trainer port.</param>
    /// <param name="dataSource">The local data; null when the trainer brings its own (an edge aggregator training through its devices).</param>
    /// <param name="governor">An optional training governor (e.g. thermal), handed to the trainer.</param>
    /// <param name="roundProtocol">How the update leaves the device; null sends plaintext updates.</param>
    /// <param name="updateTransforms">Applied in order to the update's delta before it leaves (clipping, noise).</param>
    /// <param name="stateStore">Where the worker's state is kept; null uses <see cref="WorkerOptions.StateFile"/> (or none).</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="credentials">The federation PKI: when given, the worker presents its certificate at join, signs every update with its key and accepts only global models signed by the trusted coordinator.</param>
    public Worker(
        IOptions<WorkerOptions> options,
        IWorkerTransport transport,
        ITrainer trainer,
        ILocalDataSource? dataSource,
        ITrainingGovernor? governor = null,
        IWorkerRoundProtocol? roundProtocol = null,
        IEnumerable<IUpdateTransform>? updateTransforms = null,
        IWorkerStateStore? stateStore = null,
        TimeProvider? timeProvider = null,
        ILogger<Worker>? logger = null,
        FederationCredentials? credentials = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(trainer);
        _options = options.Value;
        _transport = transport;
        _trainer = trainer;
        _dataSource = dataSource;
        _governor = governor;
        _protocol = roundProtocol ?? RoundProtocols.PlaintextWorker();
        _transforms = updateTransforms?.ToArray() ?? [];
        _stateStore = stateStore ?? (_options.StateFile is { } file ? new FileWorkerStateStore(file) : null);
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _liveness = new WorkerLiveness(_options, transport, _time, _logger, _stop.Token);
        _credentials = credentials;
    }

    /// <summary>The device id.</summary>
    public string DeviceId => _options.DeviceId;

    /// <summary>The current state.</summary>
    public WorkerState State { get; private set; } = WorkerState.NotReady;

    /// <summary>Why the worker is in its state (refusal reasons, bad data, a failed round), or null.</summary>
    public string? StateReason { get; private set; }

    /// <summary>The state record found at start (before this run changed it), or null.</summary>
    public WorkerStateRecord? Restored { get; private set; }

    /// <summary>The last round this worker started training.</summary>
    public long LastRound => Interlocked.Read(ref _lastRound);

    /// <summary>The latest global model received, or null.</summary>
    public GlobalModel? LatestGlobalModel { get; private set; }

    /// <summary>
    /// The latest global model this worker refused (not signed by the coordinator it trusts) with the reason, or null.
    /// A refused model is never used; a host can inspect it, e.g. to tell a forgery from a model another server
    /// certificate of the federation signed.
    /// </summary>
    public RefusedGlobalModel? LastRefusedGlobalModel { get; private set; }

    /// <summary>The last inference run's result (inference mode), or null.</summary>
    public EvaluationResult? LastInference { get; private set; }

    /// <summary>Receipts for this worker's updates, oldest first (one per round: re-sent copies are not repeated).</summary>
    public IReadOnlyList<UpdateReceipt> Receipts
    {
        get
        {
            lock (_gate)
            {
                return _receipts.ToArray();
            }
        }
    }

    /// <summary>How many times an update was sent again because its receipt did not come in time.</summary>
    public int UpdateResends => _liveness.UpdateResends;

    /// <summary>The transport's statistics.</summary>
    public TransportStatistics TransportStatistics => _transport.Statistics;

    /// <summary>
    /// Restores the persisted state, loads and checks the local data, connects and joins (retrying while offline),
    /// announces the device's intent and starts the heartbeats. Bad local data or a refusal leave the worker in
    /// <see cref="WorkerState.NotReady"/> with <see cref="StateReason"/> set; the coordinator is told why.
    /// </summary>
    public async ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        _options.Validate();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_protocol.RequiresProtocolChannel && !_transport.SupportsProtocolMessages)
        {
            throw new ProtocolMessagesNotSupportedException(_transport.GetType().Name);
        }

        _pipeline = new UpdatePipeline(_transforms, _protocol, _options.UniformAggregationWeight, _credentials?.Certificate, _transport as IUpdateEncoder);
        if (_stateStore is not null)
        {
            Restored = await _stateStore.LoadAsync(cancellationToken).ConfigureAwait(false);
            if (Restored is not null)
            {
                _lastRound = Restored.LastRound;
                _globalVersion = Restored.GlobalVersion;
            }
        }

        _dataProblem = await LoadDataAsync(cancellationToken).ConfigureAwait(false);
        SetState(WorkerState.NotReady, _dataProblem ?? (Restored is null ? "starting" : $"restarted (was {Restored.State})"));
        await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await JoinWithRetryAsync(cancellationToken).ConfigureAwait(false);
        _heartbeats ??= Task.Run(() => _liveness.RunHeartbeatsAsync(CurrentAnnouncement, PublishAsync, _stop.Token), CancellationToken.None);
    }

    /// <summary>Waits until the worker is in <paramref name="state"/>.</summary>
    public async Task WaitForStateAsync(WorkerState state, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (State == state)
                {
                    return;
                }

                changed = _stateChanged.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        WorkerRound? duplicate = null;
        WorkerRound? started = null;
        string? ignored = null;
        lock (_gate)
        {
            if (_round is { } current && current.Task.Round == task.Round && string.Equals(current.Task.Nonce, task.Nonce, StringComparison.Ordinal))
            {
                duplicate = current;
            }
            else if (_round is { } older && older.Task.Round > task.Round)
            {
                ignored = $"it is older than round {older.Task.Round}";
            }
            else if (State != WorkerState.ReadyForLearning)
            {
                ignored = $"the worker is {State}";
            }
            else if (_time.GetUtcNow() >= task.Deadline)
            {
                ignored = "its deadline has passed";
            }
            else
            {
                started = new WorkerRound(task, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token));
                _round?.Retire();
                _round = started;
                SetStateLocked(WorkerState.Running, $"round {task.Round}");
                Interlocked.Exchange(ref _lastRound, task.Round);
                started.Session = _protocol.Begin(new WorkerRoundContext
                {
                    DeviceId = DeviceId,
                    Task = task,
                    SendProtocolAsync = (payload, ct) => _transport.SendProtocolAsync(payload, ct),
                    SendUpdateAsync = (update, ct) => _liveness.SendUpdateAsync(started, update, ct),
                    TimeProvider = _time,
                });
                started.Training = Task.Run(() => TrainAsync(started), CancellationToken.None);
            }
        }

        if (ignored is not null)
        {
            Log.WorkerTaskIgnored(_logger, DeviceId, task.Round, ignored);
            return;
        }

        // Acknowledge the task (again, for a re-sent one) so the coordinator stops re-sending it.
        await PublishAsync(DeviceIntent.Training, null, cancellationToken).ConfigureAwait(false);
        if (duplicate?.PendingUpdate is { } pending && !duplicate.Receipt.Task.IsCompleted)
        {
            // The coordinator still waits for our update: our copy was lost on the way.
            await _liveness.TrySendAsync(pending, cancellationToken).ConfigureAwait(false);
        }

        if (started is not null)
        {
            await PersistAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <remarks>True exactly when the worker has federation credentials: it then accepts only models the trusted coordinator signed.</remarks>
    public bool VerifiesModelSignatures => _credentials is not null;

    /// <inheritdoc />
    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (_credentials?.CheckGlobalModel(model) is { } untrusted)
        {
            // A model not signed by the trusted coordinator (e.g. forged by a client with broker write access) is ignored.
            Log.GlobalModelRefused(_logger, DeviceId, model.Version, untrusted);
            LastRefusedGlobalModel = new RefusedGlobalModel(model, untrusted);
            return ValueTask.CompletedTask;
        }

        LatestGlobalModel = model;
        Interlocked.Exchange(ref _globalVersion, model.Version);
        bool restartedCoordinator = false;
        if (model.Metadata.TryGetValue(FederationProtocol.SessionMetadataKey, out string? session))
        {
            string? previous = Interlocked.Exchange(ref _session, session);
            restartedCoordinator = previous is not null && !string.Equals(previous, session, StringComparison.Ordinal);
        }

        if (restartedCoordinator)
        {
            // The coordinator restarted and forgot us: join again in the background (never block the inbox).
            _ = Task.Run(() => RejoinAsync(_stop.Token), CancellationToken.None);
        }
        else if (State == WorkerState.Inference)
        {
            _ = Task.Run(() => InferAsync(model, _stop.Token), CancellationToken.None);
        }

        return PersistAsync();
    }

    /// <inheritdoc />
    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        bool first;
        lock (_gate)
        {
            WorkerRound? round = _round is { } r && r.Task.Round == receipt.Round ? r : null;
            first = round is null || round.Receipt.TrySetResult(receipt);
            if (first)
            {
                _receipts.Add(receipt);
            }
        }

        if (first && !receipt.Accepted)
        {
            Log.WorkerUpdateRefused(_logger, DeviceId, receipt.Round, receipt.Reason);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        WorkerRound? round;
        lock (_gate)
        {
            round = _round;
        }

        if (round?.Session is { } session)
        {
            await session.OnProtocolAsync(payload, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        WorkerRound? round;
        lock (_gate)
        {
            round = _round;
        }

        if (round?.Training is { } training)
        {
            await training.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        round?.Retire();
        if (_heartbeats is not null)
        {
            await _heartbeats.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _joinGate.Dispose();
    }

    private async Task TrainAsync(WorkerRound round)
    {
        RoundTask task = round.Task;
        CancellationToken ct = round.Cancellation.Token;
        ActivityContext.TryParse(task.Config.GetValueOrDefault(RoundPipeline.TraceParentKey), null, isRemote: true, out ActivityContext roundContext);
        using Activity? activity = CoordinatorTelemetry.Activities.StartActivity("fededge.round.train", ActivityKind.Internal, roundContext);
        activity?.SetTag("fededge.round", task.Round);
        activity?.SetTag("fededge.device", DeviceId);
        try
        {
            await round.Session!.StartAsync(ct).ConfigureAwait(false);
            long start = _time.GetTimestamp();
            TrainingResult result = await _trainer.TrainAsync(
                new TrainingRequest { GlobalParameters = task.GlobalParameters, HyperParameters = task.HyperParameters, Data = _data!, Governor = _governor, Round = task.Round, Config = task.Config },
                ct).ConfigureAwait(false);
            if (result.CutByGovernor && result.SampleCount == 0)
            {
                string reason = "declined by the governor: " + (result.GovernorReason ?? "no reason given");
                round.Session.Abandon(reason);
                SetState(WorkerState.ReadyForLearning, reason);
                await PublishAsync(DeviceIntent.NotReady, reason, ct).ConfigureAwait(false);
                await PublishAsync(DeviceIntent.Training, null, ct).ConfigureAwait(false);
                return;
            }

            ModelUpdate update = _pipeline!.Build(DeviceId, task, result, _time.GetElapsedTime(start).TotalSeconds);
            await round.Session.SubmitAsync(update, ct).ConfigureAwait(false);
            SetState(WorkerState.ReadyForLearning, null);
            await PersistAsync().ConfigureAwait(false);
            await PublishAsync(DeviceIntent.Training, null, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed mid-round: the persisted state says Running, so a restart knows the round was interrupted.
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // A crash in local training (bad data the checks missed, a trainer error) or a round that ended first:
            // stay out of training, keep the reason and tell the coordinator, which stops waiting for us.
            string reason = $"training failed in round {task.Round}: {ex.GetType().Name}: {ex.Message}";
            Log.WorkerRoundFailed(_logger, DeviceId, task.Round, reason);
            round.Session?.Abandon(reason);
            SetState(WorkerState.NotReady, reason);
            await PersistAsync().ConfigureAwait(false);
            await PublishAsync(DeviceIntent.NotReady, reason, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async ValueTask<string?> LoadDataAsync(CancellationToken ct)
    {
        if (_dataSource is null)
        {
            _data = new Dataset([], [], 1);
            return null;
        }

        try
        {
            Dataset data = await _dataSource.LoadAsync(ct).ConfigureAwait(false);
            string? problem = LocalDataCheck.Describe(data);
            if (problem is null)
            {
                _data = data;
            }

            return problem;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or FormatException or ArgumentException or UnauthorizedAccessException)
        {
            return "bad local data: " + ex.Message;
        }
    }

    private async ValueTask ConnectAsync(CancellationToken ct)
    {
        TimeSpan delay = _options.ReconnectDelay;
        while (true)
        {
            try
            {
                await _transport.ConnectAsync(this, ct).ConfigureAwait(false);
                SetState(WorkerState.Online, null);
                return;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException)
            {
                SetState(WorkerState.Offline, ex.Message);
                Log.WorkerConnectFailed(_logger, DeviceId, delay, ex);
                await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
            }
        }
    }

    /// <summary>Joins, retrying with back-off while the join request or its answer is lost.</summary>
    private async ValueTask JoinWithRetryAsync(CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await JoinAndAnnounceAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is TimeoutException or IOException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                TimeSpan delay = Backoff.Delay(_options.ReconnectDelay, _options.MaxReconnectDelay, attempt, Random.Shared);
                SetState(WorkerState.Offline, "join failed: " + ex.Message);
                Log.WorkerJoinRetry(_logger, DeviceId, ex.Message, delay);
                await Task.Delay(delay, _time, ct).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask JoinAndAnnounceAsync(CancellationToken ct)
    {
        await _joinGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var request = new JoinRequest
            {
                DeviceId = DeviceId,
                MudUrl = _options.MudUrl,
                CertificateDer = _credentials is not null ? _credentials.Certificate.RawData : _options.CertificateDer,
                Task = _options.Task,
                Model = _options.Model,
                Capabilities = new Dictionary<string, string>(_options.Capabilities, StringComparer.Ordinal),
            };
            JoinResponse response = await _transport.JoinAsync(request, ct).ConfigureAwait(false);
            lock (_gate)
            {
                _admitted = response.Accepted;
            }

            if (!response.Accepted)
            {
                SetState(WorkerState.NotReady, "refused: " + string.Join("; ", response.Reasons));
                return;
            }

            if (_data is null)
            {
                // Admitted but unable to train: stay NotReady and tell the coordinator why.
                SetState(WorkerState.NotReady, _dataProblem);
                await PublishAsync(DeviceIntent.NotReady, _dataProblem, ct).ConfigureAwait(false);
                return;
            }

            if (_options.Intent == DeviceIntent.Inference)
            {
                SetState(WorkerState.Inference, null);
                await PublishAsync(DeviceIntent.Inference, null, ct).ConfigureAwait(false);
                if (LatestGlobalModel is { } model)
                {
                    await InferAsync(model, ct).ConfigureAwait(false);
                }

                return;
            }

            SetState(WorkerState.ReadyForLearning, null);
            await PublishAsync(DeviceIntent.Training, null, ct).ConfigureAwait(false);
        }
        finally
        {
            _joinGate.Release();
        }
    }

    private async Task RejoinAsync(CancellationToken ct)
    {
        try
        {
            Task? training;
            lock (_gate)
            {
                training = _round?.Training;
            }

            if (training is not null)
            {
                await training.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await JoinWithRetryAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed while rejoining.
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            SetState(WorkerState.Offline, "rejoin failed: " + ex.Message);
        }
    }

    private async Task InferAsync(GlobalModel model, CancellationToken ct)
    {
        if (_data is null)
        {
            return;
        }

        try
        {
            EvaluationResult result = await _trainer.EvaluateAsync(model.Parameters, _data, ct).ConfigureAwait(false);
            lock (_gate)
            {
                // Scorings of two models can finish out of order: an older model's never replaces a newer one's.
                if (model.Version >= _inferredVersion)
                {
                    _inferredVersion = model.Version;
                    LastInference = result;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed while scoring.
        }
        catch (ArgumentException ex)
        {
            SetState(WorkerState.Inference, "inference failed: " + ex.Message);
        }
    }

    private async ValueTask PublishAsync(DeviceIntent intent, string? reason, CancellationToken ct)
    {
        try
        {
            DeviceTelemetry telemetry = _options.Telemetry is { } source
                ? (await source.ReadAsync(ct).ConfigureAwait(false)) with { SampleCount = _data?.Count }
                : new DeviceTelemetry { SampleCount = _data?.Count };
            RoundTask? active;
            lock (_gate)
            {
                active = State == WorkerState.Running || (_round is { } r && !r.Receipt.Task.IsCompleted && r.PendingUpdate is not null) ? _round?.Task : null;
            }

            await _transport.PublishStatusAsync(
                new DeviceStatus { DeviceId = DeviceId, Intent = intent, Reason = reason, ReceivedAt = _time.GetUtcNow(), Telemetry = telemetry, ActiveRound = active?.Round, ActiveNonce = active?.Nonce },
                ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException)
        {
            // The next heartbeat announces the state again.
            Log.SendFailed(_logger, "the coordinator", $"status {intent}", ex);
        }
    }

    /// <summary>What a heartbeat announces now: the intent of the worker's state, or nothing before admission.</summary>
    private (DeviceIntent? Intent, string? Reason) CurrentAnnouncement()
    {
        lock (_gate)
        {
            return !_admitted ? (null, null) : State switch
            {
                WorkerState.ReadyForLearning or WorkerState.Running => (DeviceIntent.Training, null),
                WorkerState.Inference => (DeviceIntent.Inference, null),
                WorkerState.NotReady => (DeviceIntent.NotReady, StateReason),
                _ => (null, null),
            };
        }
    }

    private void SetState(WorkerState state, string? reason)
    {
        lock (_gate)
        {
            SetStateLocked(state, reason);
        }
    }

    private void SetStateLocked(WorkerState state, string? reason)
    {
        WorkerState previous = State;
        State = state;
        StateReason = reason;
        Log.WorkerState(_logger, DeviceId, previous, state, reason);
        TaskCompletionSource changed = _stateChanged;
        _stateChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    /// <summary>Saves the state record: built under the lock, written outside it.</summary>
    private async ValueTask PersistAsync()
    {
        if (_stateStore is null)
        {
            return;
        }

        WorkerStateRecord record;
        lock (_gate)
        {
            record = new WorkerStateRecord
            {
                DeviceId = DeviceId,
                State = State,
                Reason = StateReason,
                LastRound = LastRound,
                GlobalVersion = Interlocked.Read(ref _globalVersion),
                UpdatedAt = _time.GetUtcNow(),
            };
        }

        await _stateStore.SaveAsync(record).ConfigureAwait(false);
    }
}
