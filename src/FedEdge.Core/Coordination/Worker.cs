using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Training;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Coordination;

/// <summary>
/// The worker round engine: a device's side of a federation. It restores its persisted state,
/// validates its local data, connects (retrying with back-off while <see cref="WorkerState.Offline"/>),
/// joins, announces its intent, trains each round task through the trainer port (with its governor)
/// and returns the update; in inference mode it scores local data with every new global model.
/// Local data never leave the device.
/// </summary>
/// <remarks>
/// The worker takes ownership of its transport. When it sees the coordinator's session change (a
/// restarted coordinator), it joins again by itself.
/// </remarks>
public sealed partial class Worker : IWorkerHandler, IAsyncDisposable
{
    private readonly WorkerOptions _options;
    private readonly IWorkerTransport _transport;
    private readonly ITrainer _trainer;
    private readonly ILocalDataSource? _dataSource;
    private readonly ITrainingGovernor? _governor;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _joinGate = new(1, 1);
    private Dataset? _data;
    private string? _dataProblem;
    private Task? _training;
    private string? _session;
    private long _lastRound;
    private long _globalVersion;
    private int _disposed;
    private TaskCompletionSource _stateChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a worker from its ports.</summary>
    /// <param name="options">Settings, validated in <see cref="StartAsync"/>.</param>
    /// <param name="transport">The transport (owned and disposed by the worker).</param>
    /// <param name="trainer">The trainer port.</param>
    /// <param name="dataSource">The local data; null when the trainer brings its own (an edge aggregator training through its devices).</param>
    /// <param name="governor">An optional training governor (e.g. thermal).</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="logger">The logger.</param>
    public Worker(
        IOptions<WorkerOptions> options,
        IWorkerTransport transport,
        ITrainer trainer,
        ILocalDataSource? dataSource,
        ITrainingGovernor? governor = null,
        TimeProvider? timeProvider = null,
        ILogger<Worker>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(trainer);
        _options = options.Value;
        _transport = transport;
        _trainer = trainer;
        _dataSource = dataSource;
        _governor = governor;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The device id.</summary>
    public string DeviceId => _options.DeviceId;

    /// <summary>The current state.</summary>
    public WorkerState State { get; private set; } = WorkerState.NotReady;

    /// <summary>Why the worker is in its state (refusal reasons, bad data, a failed round), or null.</summary>
    public string? StateReason { get; private set; }

    /// <summary>The state record found on disk at start (before this run changed it), or null.</summary>
    public WorkerStateRecord? Restored { get; private set; }

    /// <summary>The last round this worker trained.</summary>
    public long LastRound => Interlocked.Read(ref _lastRound);

    /// <summary>The latest global model received, or null.</summary>
    public GlobalModel? LatestGlobalModel { get; private set; }

    /// <summary>The last inference run's result (inference mode), or null.</summary>
    public EvaluationResult? LastInference { get; private set; }

    /// <summary>Receipts for this worker's updates, oldest first.</summary>
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

    private readonly List<UpdateReceipt> _receipts = [];

    /// <summary>The transport's statistics.</summary>
    public TransportStatistics TransportStatistics => _transport.Statistics;

    /// <summary>
    /// Restores the persisted state, loads and checks the local data, connects (retrying while
    /// offline), joins and announces the device's intent. Bad local data or a refusal leave the
    /// worker in <see cref="WorkerState.NotReady"/> with <see cref="StateReason"/> set; the
    /// coordinator is told why.
    /// </summary>
    public async ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        _options.Validate();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_options.StateFile is not null)
        {
            Restored = WorkerStateFile.Read(_options.StateFile);
            if (Restored is not null)
            {
                _lastRound = Restored.LastRound;
                _globalVersion = Restored.GlobalVersion;
            }
        }

        _dataProblem = await LoadDataAsync(cancellationToken).ConfigureAwait(false);
        SetState(WorkerState.NotReady, _dataProblem ?? (Restored is null ? "starting" : $"restarted (was {Restored.State})"));
        await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await JoinAndAnnounceAsync(cancellationToken).ConfigureAwait(false);
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
    public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        lock (_gate)
        {
            if (State != WorkerState.ReadyForLearning)
            {
                Log.WorkerTaskIgnored(_logger, DeviceId, task.Round, $"the worker is {State}");
                return ValueTask.CompletedTask;
            }

            if (_time.GetUtcNow() >= task.Deadline)
            {
                Log.WorkerTaskIgnored(_logger, DeviceId, task.Round, "its deadline has passed");
                return ValueTask.CompletedTask;
            }

            SetStateLocked(WorkerState.Running, $"round {task.Round}");
            Interlocked.Exchange(ref _lastRound, task.Round);
            _training = Task.Run(() => TrainAsync(task, _stop.Token), CancellationToken.None);
        }

        Persist();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        LatestGlobalModel = model;
        Interlocked.Exchange(ref _globalVersion, model.Version);
        bool restartedCoordinator = false;
        if (model.Metadata.TryGetValue(Coordinator.SessionMetadataKey, out string? session))
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

        Persist();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        lock (_gate)
        {
            _receipts.Add(receipt);
        }

        if (!receipt.Accepted)
        {
            Log.WorkerUpdateRefused(_logger, DeviceId, receipt.Round, receipt.Reason);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task? training = _training;
        if (training is not null)
        {
            await training.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        CloseSecureContribution();
        await _transport.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _joinGate.Dispose();
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
            string? problem = DescribeProblem(data);
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

    private static string? DescribeProblem(Dataset data)
    {
        if (data.Count == 0)
        {
            return "bad local data: the data set has no rows";
        }

        ReadOnlySpan<float> features = data.Features;
        for (int i = 0; i < features.Length; i++)
        {
            if (!float.IsFinite(features[i]))
            {
                return $"bad local data: row {i / data.FeatureCount} feature {i % data.FeatureCount} is {features[i]}";
            }
        }

        ReadOnlySpan<float> labels = data.Labels;
        for (int i = 0; i < labels.Length; i++)
        {
            if (!float.IsFinite(labels[i]))
            {
                return $"bad local data: the label of row {i} is {labels[i]}";
            }
        }

        return null;
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

    private async ValueTask JoinAndAnnounceAsync(CancellationToken ct)
    {
        await _joinGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var request = new JoinRequest
            {
                DeviceId = DeviceId,
                MudUrl = _options.MudUrl,
                CertificateDer = _options.CertificateDer,
                Task = _options.Task,
                Model = _options.Model,
                Capabilities = new Dictionary<string, string>(_options.Capabilities, StringComparer.Ordinal),
            };
            JoinResponse response = await _transport.JoinAsync(request, ct).ConfigureAwait(false);
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
            Task? training = _training;
            if (training is not null)
            {
                await training.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await JoinAndAnnounceAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed while rejoining.
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or ObjectDisposedException)
        {
            SetState(WorkerState.Offline, "rejoin failed: " + ex.Message);
        }
    }

    private async Task TrainAsync(RoundTask task, CancellationToken ct)
    {
        try
        {
            SecureContribution? secure = await BeginSecureContributionAsync(task, ct).ConfigureAwait(false);
            if (_governor is not null)
            {
                GovernorDecision decision = await _governor.BeforeTrainingAsync(PlannedSteps(task), ct).ConfigureAwait(false);
                if (decision.Declined)
                {
                    string reason = "declined by the governor: " + (decision.Reason ?? "no reason given");
                    AbandonSecureContribution(task.Round, reason);
                    SetState(WorkerState.ReadyForLearning, reason);
                    await PublishAsync(DeviceIntent.NotReady, reason, ct).ConfigureAwait(false);
                    await PublishAsync(DeviceIntent.Training, null, ct).ConfigureAwait(false);
                    return;
                }
            }

            long start = _time.GetTimestamp();
            TrainingResult result = await _trainer.TrainAsync(
                new TrainingRequest { GlobalParameters = task.GlobalParameters, HyperParameters = task.HyperParameters, Data = _data!, Governor = _governor },
                ct).ConfigureAwait(false);
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["loss"] = result.Loss,
                ["steps"] = result.Steps,
                ["seconds"] = _time.GetElapsedTime(start).TotalSeconds,
            };
            if (result.PeakMemoryBytes is long peak)
            {
                metrics["peak_memory_bytes"] = peak;
            }

            foreach (KeyValuePair<string, double> pair in result.Metrics)
            {
                metrics.TryAdd(pair.Key, pair.Value);
            }

            var update = new ModelUpdate
            {
                SenderId = DeviceId,
                Round = task.Round,
                Nonce = task.Nonce,
                SampleCount = result.SampleCount,
                Kind = UpdateKind.Parameters,
                Values = result.Parameters,
                Metrics = metrics,
            };
            await SendOrContributeAsync(task, update, secure, ct).ConfigureAwait(false);
            SetState(WorkerState.ReadyForLearning, null);
            Persist();
            await PublishAsync(DeviceIntent.Training, null, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed mid-round: the persisted state says Running, so a restart knows the round was interrupted.
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A crash in local training (bad data the checks missed, a trainer error): stay out of
            // training, keep the reason and tell the coordinator, which stops waiting for us.
            string reason = $"training failed in round {task.Round}: {ex.GetType().Name}: {ex.Message}";
            Log.WorkerRoundFailed(_logger, DeviceId, task.Round, reason);
            AbandonSecureContribution(task.Round, reason);
            SetState(WorkerState.NotReady, reason);
            Persist();
            await PublishAsync(DeviceIntent.NotReady, reason, CancellationToken.None).ConfigureAwait(false);
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
            LastInference = await _trainer.EvaluateAsync(model.Parameters, _data, ct).ConfigureAwait(false);
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

    private static int PlannedSteps(RoundTask task) => task.HyperParameters.LocalIterations ?? Math.Max(1, task.HyperParameters.LocalEpochs);

    private async ValueTask PublishAsync(DeviceIntent intent, string? reason, CancellationToken ct)
    {
        DeviceTelemetry telemetry = _options.Telemetry is { } source
            ? (await source.ReadAsync(ct).ConfigureAwait(false)) with { SampleCount = _data?.Count }
            : new DeviceTelemetry { SampleCount = _data?.Count };
        await _transport.PublishStatusAsync(
            new DeviceStatus
            {
                DeviceId = DeviceId,
                Intent = intent,
                Reason = reason,
                ReceivedAt = _time.GetUtcNow(),
                Telemetry = telemetry,
            },
            ct).ConfigureAwait(false);
    }

    private void SetState(WorkerState state, string? reason)
    {
        lock (_gate)
        {
            SetStateLocked(state, reason);
        }

        Persist();
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

    private void Persist()
    {
        if (_options.StateFile is null)
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
            WorkerStateFile.Write(_options.StateFile, record);
        }
    }
}
