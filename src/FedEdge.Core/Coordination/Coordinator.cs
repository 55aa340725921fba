using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Privacy;
using FedEdge.Selection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Coordination;

/// <summary>
/// The coordinator round engine. It admits devices through the admission port, collects training
/// requests in a temporal window, selects participants, sends round tasks (round number, fresh
/// nonce, global parameters, hyper-parameters, deadline), validates and folds updates into the
/// aggregation strategy as they stream in, finalises on quorum or deadline, publishes the new
/// global model, evaluates it, checkpoints, and stops on a round budget, a target metric or
/// a lack of improvement.
/// </summary>
/// <remarks>
/// The coordinator takes ownership of its transport and disposes it. Round results are streamed by
/// <see cref="RunAsync"/>; metrics go to the <c>FedEdge.Core</c> meter (<c>fededge.round.duration</c>,
/// <c>fededge.round.participants</c>, <c>fededge.updates.refused</c>, <c>fededge.transport.bytes</c>).
/// </remarks>
public sealed partial class Coordinator : ICoordinatorHandler, IAsyncDisposable
{
    /// <summary>The name of the meter and activity source of FedEdge.Core.</summary>
    public const string TelemetryName = "FedEdge.Core";

    /// <summary>The global-model metadata key that carries the coordinator's session id; a worker that sees it change joins again (the coordinator restarted).</summary>
    public const string SessionMetadataKey = "fededge.session";

    private static readonly ActivitySource Activities = new(TelemetryName);

    private readonly string _session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private readonly CoordinatorOptions _options;
    private readonly ICoordinatorTransport _transport;
    private readonly IAggregationStrategy _strategy;
    private readonly IAdmissionPolicy _admission;
    private readonly ICheckpointStore? _checkpoints;
    private readonly IGlobalModelEvaluator? _evaluator;
    private readonly IRoundAuditLog? _audit;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Histogram<double> _roundDuration;
    private readonly Histogram<int> _participants;
    private readonly Counter<long> _refusedCounter;
    private readonly Counter<long> _bytesCounter;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, DeviceEntry> _devices = new(StringComparer.Ordinal);
    private readonly List<string> _askedDuringRound = [];
    private readonly List<RefusedDevice> _refusedDevices = [];
    private readonly CancellationTokenSource _disposeCts = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RoundState? _current;
    private ParameterSet? _global;
    private long _completedRound;
    private long _highestRoundStarted;
    private double? _bestMetric;
    private int _roundsWithoutImprovement;
    private int _consecutiveFailures;
    private bool _started;
    private int _disposed;
    private Random _random = new();
    private TemporalWindow? _window;
    private IClientSelector _selector = ClientSelectors.All();
    private long _windowInRound = -1;

    /// <summary>Creates a coordinator from its ports.</summary>
    /// <param name="options">Settings, validated in <see cref="StartAsync"/>.</param>
    /// <param name="transport">The transport (owned and disposed by the coordinator).</param>
    /// <param name="strategy">The aggregation strategy.</param>
    /// <param name="admission">The admission policy every joining device passes.</param>
    /// <param name="checkpoints">Where rounds are checkpointed; null disables checkpoints.</param>
    /// <param name="evaluator">Evaluates each new global model; null skips evaluation.</param>
    /// <param name="audit">An audit log appended after each completed round; null disables it.</param>
    /// <param name="timeProvider">The clock for windows and deadlines.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="meterFactory">Creates the <c>FedEdge.Core</c> meter; null creates a standalone one.</param>
    public Coordinator(
        IOptions<CoordinatorOptions> options,
        ICoordinatorTransport transport,
        IAggregationStrategy strategy,
        IAdmissionPolicy admission,
        ICheckpointStore? checkpoints = null,
        IGlobalModelEvaluator? evaluator = null,
        IRoundAuditLog? audit = null,
        TimeProvider? timeProvider = null,
        ILogger<Coordinator>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(admission);
        _options = options.Value;
        _transport = transport;
        _strategy = strategy;
        _admission = admission;
        _checkpoints = checkpoints;
        _evaluator = evaluator;
        _audit = audit;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(TelemetryName) ?? new Meter(TelemetryName);
        _roundDuration = _meter.CreateHistogram<double>("fededge.round.duration", "s", "Wall time of a round from window open to checkpoint.");
        _participants = _meter.CreateHistogram<int>("fededge.round.participants", "{device}", "Updates aggregated per round.");
        _refusedCounter = _meter.CreateCounter<long>("fededge.updates.refused", "{update}", "Updates refused by validation.");
        _bytesCounter = _meter.CreateCounter<long>("fededge.transport.bytes", "By", "Bytes moved per round, tagged with direction up or down.");
    }

    /// <summary>The current global parameters (after the last completed round).</summary>
    public ParameterSet GlobalParameters => _global ?? throw new InvalidOperationException("The coordinator has not started.");

    /// <summary>The last completed round.</summary>
    public long CompletedRounds => Interlocked.Read(ref _completedRound);

    /// <summary>The transport's statistics.</summary>
    public TransportStatistics TransportStatistics => _transport.Statistics;

    /// <summary>Devices refused at admission, with their reasons.</summary>
    public IReadOnlyList<RefusedDevice> RefusedDevices
    {
        get
        {
            lock (_gate)
            {
                return _refusedDevices.ToArray();
            }
        }
    }

    /// <summary>Admitted devices and their last announced state.</summary>
    public IReadOnlyList<DeviceStatus> Devices
    {
        get
        {
            lock (_gate)
            {
                return _devices.Values.Select(d => d.Status).ToArray();
            }
        }
    }

    /// <summary>Raised (synchronously, keep it short) when admissions or device states change.</summary>
    public event Action? DevicesChanged;

    /// <summary>
    /// Validates the options, resumes from the latest checkpoint when there is one (and
    /// <see cref="CoordinatorOptions.ResumeFromCheckpoint"/> is on), otherwise starts from
    /// <paramref name="initialParameters"/>, starts the transport and publishes the global model.
    /// </summary>
    /// <returns>True when the coordinator resumed from a checkpoint.</returns>
    public async ValueTask<bool> StartAsync(ParameterSet initialParameters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(initialParameters);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_started)
        {
            throw new InvalidOperationException("The coordinator has already started.");
        }

        _options.Validate();
        ValidatePrivacySetup();
        int seed = _options.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue);
        _random = new Random(seed);
        _selector = _options.ClientSelector
            ?? (_options.SelectionFraction >= 1 ? ClientSelectors.All() : ClientSelectors.RandomFraction(_options.SelectionFraction, _options.MinParticipants, seed));
        _window?.Dispose();
        _window = new TemporalWindow(
            new TemporalWindowOptions
            {
                // A zero T means "close as soon as a quorum asked", which the collection loop does by force-closing.
                MaxDevices = _options.WindowSize ?? (_options.WindowDuration > TimeSpan.Zero ? null : int.MaxValue),
                Duration = _options.WindowDuration > TimeSpan.Zero ? _options.WindowDuration : null,
                LatePolicy = _options.LateRequests,
            },
            _time);
        bool resumed = false;
        _global = initialParameters.Clone();
        if (_checkpoints is not null && _options.ResumeFromCheckpoint)
        {
            CoordinatorCheckpoint? checkpoint = await _checkpoints.LoadAsync(cancellationToken).ConfigureAwait(false);
            if (checkpoint is not null)
            {
                string? mismatch = initialParameters.Layout.DescribeMismatch(checkpoint.Parameters.Layout);
                if (mismatch is not null)
                {
                    throw new CheckpointException($"The checkpoint's model does not match this coordinator's model: {mismatch}.");
                }

                _global = checkpoint.Parameters;
                _completedRound = checkpoint.Round;
                _highestRoundStarted = checkpoint.Round;
                _bestMetric = checkpoint.BestMetric;
                _roundsWithoutImprovement = checkpoint.RoundsWithoutImprovement;
                if (checkpoint.StrategyState is { } state)
                {
                    _strategy.ImportState(state);
                }

                if (checkpoint.Window is { } window)
                {
                    // Admissions do not survive a restart: every device rejoins and asks again, so only the
                    // window's numbering, T and arrival history carry over (the requests themselves do not).
                    _window.ImportState(new TemporalWindowState { Phase = WindowPhase.Idle, Sequence = window.Sequence, Duration = window.Duration, ArrivalHistory = window.ArrivalHistory });
                }

                resumed = true;
            }
        }

        await _transport.StartAsync(this, cancellationToken).ConfigureAwait(false);
        _started = true;
        await PublishGlobalAsync(cancellationToken).ConfigureAwait(false);
        Log.CoordinatorStarted(_logger, _options.Federation, _completedRound + 1, resumed);
        return resumed;
    }

    /// <summary>Replaces the global parameters (an edge aggregator does this when its cloud sends a new model).</summary>
    public void ResetGlobalParameters(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        string? mismatch = GlobalParameters.Layout.DescribeMismatch(parameters.Layout);
        if (mismatch is not null)
        {
            throw new ArgumentException($"The parameters do not match the federation's model: {mismatch}.", nameof(parameters));
        }

        _global = parameters.Clone();
    }

    /// <summary>Runs rounds until a stop rule fires, streaming each round's result.</summary>
    public async IAsyncEnumerable<RoundResult> RunAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        while (CompletedRounds < _options.MaxRounds)
        {
            RoundResult result = await RunRoundAsync(cancellationToken).ConfigureAwait(false);
            string? stop = StopReason(result);
            if (stop is not null)
            {
                Log.Stopped(_logger, result.Round, stop);
                yield return result with { IsLast = true, StopReason = stop };
                yield break;
            }

            yield return result;
        }
    }

    /// <summary>Runs one round: window, selection, tasks, aggregation, publication, evaluation, checkpoint.</summary>
    public async ValueTask<RoundResult> RunRoundAsync(CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        CancellationToken ct = linked.Token;
        long round = CompletedRounds + 1;
        using Activity? activity = Activities.StartActivity("fededge.round");
        activity?.SetTag("fededge.round", round);
        long startTicks = _time.GetTimestamp();
        long sentBefore = _transport.Statistics.BytesSent;
        long receivedBefore = _transport.Statistics.BytesReceived;
        ParameterSet global = GlobalParameters;

        List<DeviceStatus>? window = await CollectWindowAsync(ct).ConfigureAwait(false);
        if (window is null)
        {
            return Fail(round, [], [], [], $"no device asked to train within {_options.JoinTimeout}", startTicks, sentBefore, receivedBefore);
        }

        List<string> selected = Select(window, round);
        string? notRun = selected.Count == 0
            ? $"the client selector '{_selector.Name}' chose none of the {window.Count} devices in the window"
            : CheckPrivacyBudget(selected.Count);
        if (notRun is not null)
        {
            lock (_gate)
            {
                // Nobody got a task: every member of the window stays in the next one.
                CompleteWindow([]);
            }

            return Fail(round, [], [], [], notRun, startTicks, sentBefore, receivedBefore);
        }

        string nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        DateTimeOffset deadline = _time.GetUtcNow() + _options.RoundTimeout;
        var expectations = new RoundExpectations { Round = round, Nonce = nonce, Layout = global.Layout, ExpectedSenders = new HashSet<string>(selected, StringComparer.Ordinal) };
        var state = new RoundState(round, nonce, selected, _strategy.BeginRound(global, new AggregationRoundOptions { Round = round, ExpectedParticipants = selected.Count }), new UpdateValidator(expectations));
        lock (_gate)
        {
            _current = state;
            _highestRoundStarted = Math.Max(_highestRoundStarted, round);
        }

        SecureRound? secure = BeginSecureRound(round, nonce, global.Length, selected, ct);
        Log.RoundStarted(_logger, round, selected.Count, deadline);
        var task = new RoundTask { Round = round, Nonce = nonce, GlobalParameters = global, HyperParameters = _strategy.ConfigureTraining(_options.HyperParameters), Deadline = deadline };
        foreach (string device in selected)
        {
            await _transport.SendTaskAsync(device, task, ct).ConfigureAwait(false);
        }

        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            Task delay = Task.Delay(_options.RoundTimeout, _time, timeout.Token);
            await Task.WhenAny(secure?.Run ?? state.Done.Task, delay).ConfigureAwait(false);
            await timeout.CancelAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }

        (SecureSum? secureSum, string? secureFailure) = await FinishSecureRoundAsync(secure, ct).ConfigureAwait(false);

        List<RefusedUpdate> failed;
        List<RefusedUpdate> refused;
        List<string> contributors;
        lock (_gate)
        {
            _current = null;
            CompleteWindow(selected);
            if (secure is not null)
            {
                secureFailure = ApplySecureSum(state, secureSum, secureFailure, global);
            }

            foreach (string device in selected)
            {
                if (!state.Received.Contains(device) && !state.Failed.ContainsKey(device))
                {
                    state.Failed[device] = "no update before the deadline";
                }
            }

            failed = state.Failed.Select(p => new RefusedUpdate(p.Key, round, p.Value)).ToList();
            refused = [.. state.Refused];
            contributors = [.. state.Contributors];
        }

        using IAggregationRound aggregation = state.Aggregation;
        if (secureFailure is not null)
        {
            return Fail(round, selected, failed, refused, secureFailure, startTicks, sentBefore, receivedBefore);
        }

        if (contributors.Count < _options.MinParticipants)
        {
            return Fail(round, selected, failed, refused, $"quorum not met: {contributors.Count} of the {_options.MinParticipants} required updates arrived", startTicks, sentBefore, receivedBefore);
        }

        double failedFraction = (double)failed.Count / selected.Count;
        if (failedFraction > _options.AcceptFailuresFraction)
        {
            return Fail(round, selected, failed, refused, $"{failed.Count} of {selected.Count} participants failed, more than the accepted fraction {_options.AcceptFailuresFraction:0.##}", startTicks, sentBefore, receivedBefore);
        }

        AggregationResult aggregated = aggregation.Complete();
        var privacyMetrics = new Dictionary<string, double>(StringComparer.Ordinal);
        _global = ApplyAggregateTransforms(global, aggregated.Parameters, round, contributors.Count, privacyMetrics);
        PrivacySpent? privacy = StepAccountant(selected.Count);
        Interlocked.Exchange(ref _completedRound, round);
        _consecutiveFailures = 0;
        await PublishGlobalAsync(ct).ConfigureAwait(false);

        IReadOnlyDictionary<string, double> evaluation = _evaluator is null
            ? new Dictionary<string, double>()
            : await _evaluator.EvaluateAsync(_global, round, ct).ConfigureAwait(false);
        double? loss = state.WeightSum > 0 ? state.LossSum / state.WeightSum : null;
        UpdateImprovement(evaluation, loss);

        if (_checkpoints is not null)
        {
            TemporalWindowState windowState = Window.ExportState();
            string[] carried = [.. windowState.Pending.Concat(windowState.CarriedOver).Select(r => r.DeviceId).Distinct(StringComparer.Ordinal)];

            await _checkpoints.SaveAsync(
                new CoordinatorCheckpoint
                {
                    Round = round,
                    Parameters = _global,
                    StrategyState = _strategy.ExportState(),
                    CarriedOver = carried,
                    Window = windowState,
                    BestMetric = _bestMetric,
                    RoundsWithoutImprovement = _roundsWithoutImprovement,
                    SavedAt = _time.GetUtcNow(),
                },
                ct).ConfigureAwait(false);
        }

        TimeSpan duration = _time.GetElapsedTime(startTicks);
        var result = new RoundResult
        {
            Round = round,
            Completed = true,
            Selected = selected,
            Contributors = contributors,
            Failed = failed,
            Refused = refused,
            TrainingLoss = loss,
            SampleCount = state.SampleSum,
            Evaluation = evaluation,
            Duration = duration,
            BytesUp = _transport.Statistics.BytesReceived - receivedBefore,
            BytesDown = _transport.Statistics.BytesSent - sentBefore,
            GlobalParameters = _global,
            GlobalHash = _global.ComputeHash(),
            Privacy = privacy,
            SecureAggregation = secure is not null,
            RecoveredDropouts = secureSum?.RecoveredDropouts ?? [],
            SecureAggregationErrorBound = SecureMeanErrorBound(secureSum, global.Length),
            PrivacyMetrics = privacyMetrics,
        };
        if (_audit is not null)
        {
            await _audit.AppendAsync(result, ct).ConfigureAwait(false);
        }

        Record(result);
        Log.RoundCompleted(_logger, round, contributors.Count, loss, duration.TotalSeconds);
        return result;
    }

    /// <inheritdoc />
    public async ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reasons = new List<string>();
        if (request.ProtocolVersion != ProtocolVersion.Current)
        {
            reasons.Add($"protocol version {request.ProtocolVersion} is not supported; this coordinator speaks version {ProtocolVersion.Current}");
        }

        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, request.DeviceId, StringComparison.Ordinal))
        {
            reasons.Add($"the device claims id '{request.DeviceId}' but authenticated as '{context.AuthenticatedId}'");
        }

        if (reasons.Count == 0)
        {
            AdmissionDecision decision = await _admission.EvaluateAsync(
                new AdmissionRequest
                {
                    DeviceId = request.DeviceId,
                    MudUrl = request.MudUrl,
                    MudUrlSource = request.MudUrl is null ? null : "join request",
                    CertificateDer = request.CertificateDer,
                    Task = request.Task,
                    Model = request.Model,
                    Attributes = request.Capabilities,
                },
                cancellationToken).ConfigureAwait(false);
            if (!decision.Admitted)
            {
                reasons.AddRange(decision.Reasons.Count > 0 ? decision.Reasons : ["refused by the admission policy"]);
            }
        }

        if (reasons.Count > 0)
        {
            lock (_gate)
            {
                _refusedDevices.RemoveAll(r => r.DeviceId == request.DeviceId);
                _refusedDevices.Add(new RefusedDevice(request.DeviceId, reasons));
                _devices.Remove(request.DeviceId);
                WithdrawRequest(request.DeviceId);
            }

            Log.DeviceRefused(_logger, request.DeviceId, string.Join("; ", reasons));
            DevicesChanged?.Invoke();
            return new JoinResponse { Accepted = false, Reasons = reasons };
        }

        lock (_gate)
        {
            _refusedDevices.RemoveAll(r => r.DeviceId == request.DeviceId);
            _devices[request.DeviceId] = new DeviceEntry(new DeviceStatus { DeviceId = request.DeviceId, Intent = DeviceIntent.NotReady, ReceivedAt = _time.GetUtcNow() });

            // A (re)joining device starts NotReady: any request it had is void until it asks again.
            WithdrawRequest(request.DeviceId);
            Signal();
        }

        Log.DeviceAdmitted(_logger, request.DeviceId);
        DevicesChanged?.Invoke();
        return new JoinResponse { Accepted = true };
    }

    /// <inheritdoc />
    public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, status.DeviceId, StringComparison.Ordinal))
        {
            Log.StatusFromUnknown(_logger, status.DeviceId);
            return ValueTask.CompletedTask;
        }

        lock (_gate)
        {
            if (!_devices.TryGetValue(status.DeviceId, out DeviceEntry? entry))
            {
                Log.StatusFromUnknown(_logger, status.DeviceId);
                return ValueTask.CompletedTask;
            }

            entry.Status = status;
            if (status.Intent == DeviceIntent.Training)
            {
                bool busyInRound = _current is { } open && open.Selected.Contains(status.DeviceId)
                    && !open.Received.Contains(status.DeviceId) && !open.Failed.ContainsKey(status.DeviceId);
                if (!busyInRound && _window is { } window && Volatile.Read(ref _disposed) == 0)
                {
                    WindowRequestResult asked = window.Request(status.DeviceId);
                    Log.TrainingRequest(_logger, status.DeviceId, asked.Outcome);
                    if (asked.Outcome == WindowRequestOutcome.AlreadyPending && window.Phase == WindowPhase.Closed
                        && _current is { } running && running.Selected.Contains(status.DeviceId) && !_askedDuringRound.Contains(status.DeviceId))
                    {
                        // A participant that delivered (or left) asks again while its round runs: a late request.
                        _askedDuringRound.Add(status.DeviceId);
                    }
                }
            }
            else
            {
                WithdrawRequest(status.DeviceId);
                if (_current is { } round && round.Selected.Contains(status.DeviceId) && !round.Received.Contains(status.DeviceId) && !round.Failed.ContainsKey(status.DeviceId))
                {
                    string reason = status.Reason ?? (status.Intent == DeviceIntent.NotReady ? "went offline or not ready" : "switched to " + status.Intent);
                    round.Failed[status.DeviceId] = reason;
                    Log.ParticipantLeft(_logger, status.DeviceId, round.Round, reason);
                    round.CheckDone();
                }
            }

            Signal();
        }

        DevicesChanged?.Invoke();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        string? reason;
        lock (_gate)
        {
            reason = Precheck(update, context);
            RoundState? round = _current;
            if (reason is null && round is not null)
            {
                if (round.Failed.TryGetValue(update.SenderId, out string? why))
                {
                    reason = $"the device already left round {round.Round} ({why})";
                }
                else
                {
                    UpdateValidationResult verdict = round.Validator.ValidateAndAdd(update, round.Aggregation);
                    if (verdict.IsAccepted)
                    {
                        round.Received.Add(update.SenderId);
                        round.Contributors.Add(update.SenderId);
                        round.SampleSum += update.SampleCount;
                        if (update.Metrics.TryGetValue("loss", out double loss) && double.IsFinite(loss))
                        {
                            round.LossSum += loss * update.SampleCount;
                            round.WeightSum += update.SampleCount;
                        }

                        round.CheckDone();
                    }
                    else
                    {
                        reason = verdict.Message;
                        bool ownOnlyUpdate = verdict.Reason is UpdateRejectionReason.LayoutMismatch or UpdateRejectionReason.NonFiniteValue
                            or UpdateRejectionReason.NonPositiveSampleCount or UpdateRejectionReason.UnsupportedKind;
                        if (ownOnlyUpdate && round.Selected.Contains(update.SenderId) && !round.Received.Contains(update.SenderId))
                        {
                            // A participant's update for this round was unusable: it counts as failed.
                            round.Failed[update.SenderId] = reason;
                            round.CheckDone();
                        }
                    }
                }
            }

            if (reason is not null)
            {
                _current?.Refused.Add(new RefusedUpdate(update.SenderId, update.Round, reason));
            }
        }

        if (reason is not null)
        {
            _refusedCounter.Add(1);
            Log.UpdateRefused(_logger, update.SenderId, update.Round, reason);
        }

        await _transport.SendReceiptAsync(update.SenderId, new UpdateReceipt { Round = update.Round, Accepted = reason is null, Reason = reason }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        _refusedCounter.Add(1);
        Log.Malformed(_logger, source, error);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposeCts.CancelAsync().ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        lock (_gate)
        {
            _current?.Aggregation.Dispose();
            _current = null;
            _window?.Dispose();
        }

        _disposeCts.Dispose();
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private string? Precheck(ModelUpdate update, InboundContext context)
    {
        if (_options.SecureAggregation is not null)
        {
            return "this federation uses secure aggregation: plaintext updates are refused";
        }

        if (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, update.SenderId, StringComparison.Ordinal))
        {
            return $"the sender id '{update.SenderId}' does not match the authenticated identity '{context.AuthenticatedId}'";
        }

        if (!_devices.ContainsKey(update.SenderId))
        {
            return "unknown sender: the device was not admitted";
        }

        RoundState? round = _current;
        if (round is null || update.Round < round.Round)
        {
            return update.Round <= _highestRoundStarted
                ? $"late update: round {update.Round} is closed"
                : $"round {update.Round} has not started";
        }

        return update.Round > round.Round ? $"round {update.Round} has not started (round {round.Round} is open)" : null;
    }

    private TemporalWindow Window => _window ?? throw new InvalidOperationException("The coordinator has not started.");

    /// <summary>
    /// Waits until CoLearn's temporal window closes holding at least <see cref="CoordinatorOptions.MinParticipants"/>
    /// training devices and returns their latest statuses (arrival order), or null after <see cref="CoordinatorOptions.JoinTimeout"/>.
    /// The window closes by itself on N or T; the coordinator force-closes it once T has passed since the first
    /// request of this collection and a quorum asked, or (without N) as soon as every admitted training device asked.
    /// </summary>
    private async ValueTask<List<DeviceStatus>?> CollectWindowAsync(CancellationToken ct)
    {
        TemporalWindow window = Window;
        DateTimeOffset giveUp = _time.GetUtcNow() + _options.JoinTimeout;
        DateTimeOffset? opened = null;
        while (true)
        {
            Task changed;
            Task? closing = null;
            TimeSpan wait;
            lock (_gate)
            {
                DateTimeOffset now = _time.GetUtcNow();
                if (window.Phase == WindowPhase.Closed && window.LastClosure is { } stale && stale.Sequence == _windowInRound)
                {
                    // The previous round stopped before ending its window cycle (it was cancelled): end it now.
                    CompleteWindow([]);
                }

                if (window.Phase == WindowPhase.Closed && window.LastClosure is { } closure)
                {
                    List<DeviceStatus> members = Candidates(closure.Participants);
                    if (members.Count >= _options.MinParticipants)
                    {
                        _windowInRound = closure.Sequence;
                        return members;
                    }

                    // Too few for a quorum (members left, or have not rejoined yet): reopen with those still asking.
                    window.CompleteRound();
                    foreach (DeviceStatus member in members)
                    {
                        window.Request(member.DeviceId);
                    }

                    continue;
                }

                int readyCount = 0;
                if (window.Phase == WindowPhase.Open)
                {
                    List<DeviceStatus> ready = Candidates(window.Pending);
                    readyCount = ready.Count;
                    if (readyCount > 0)
                    {
                        opened ??= now;
                    }

                    if (opened is not null && readyCount >= _options.MinParticipants)
                    {
                        bool expired = now - opened.Value >= _options.WindowDuration;

                        // Without a size rule, close as soon as every admitted device that wants to train has asked.
                        bool everyoneIn = _options.WindowSize is null
                            && _devices.Values.All(d => ready.Exists(r => r.DeviceId == d.Status.DeviceId) || (d.Announced && d.Status.Intent != DeviceIntent.Training));
                        if ((expired || everyoneIn) && window.CloseNow() is not null)
                        {
                            continue;
                        }
                    }

                    closing = window.WaitForCloseAsync(CancellationToken.None);
                }

                if (now >= giveUp)
                {
                    return null;
                }

                changed = _changed.Task;
                wait = opened is null || readyCount < _options.MinParticipants
                    ? giveUp - now
                    : Min(opened.Value + _options.WindowDuration - now, giveUp - now);
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task delay = Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, cts.Token);
            await (closing is null ? Task.WhenAny(changed, delay) : Task.WhenAny(changed, delay, closing)).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private bool IsTrainingCandidate(string deviceId) =>
        _devices.TryGetValue(deviceId, out DeviceEntry? d) && d.Status.Intent == DeviceIntent.Training;

    private List<DeviceStatus> Candidates(IReadOnlyList<WindowRequest> requests) =>
        requests.Where(r => IsTrainingCandidate(r.DeviceId)).Select(r => _devices[r.DeviceId].Status).ToList();

    private void WithdrawRequest(string deviceId)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _window?.Withdraw(deviceId);
        }

        _askedDuringRound.Remove(deviceId);
    }

    /// <summary>
    /// Ends the window cycle of the round that ran (call under the gate): carried-over requests open the next
    /// window, then the members of the closed window that were not selected rejoin it, then (with
    /// <see cref="LateRequestPolicy.CarryOver"/>) the participants that asked again during the round.
    /// </summary>
    private void CompleteWindow(List<string> selected)
    {
        TemporalWindow window = Window;
        if (Volatile.Read(ref _disposed) != 0 || window.Phase != WindowPhase.Closed)
        {
            _askedDuringRound.Clear();
            return;
        }

        IReadOnlyList<WindowRequest> members = window.LastClosure?.Participants ?? [];
        window.CompleteRound();
        _windowInRound = -1;
        var again = members.Select(m => m.DeviceId).Where(id => !selected.Contains(id)).ToList();
        if (_options.LateRequests == LateRequestPolicy.CarryOver)
        {
            again.AddRange(_askedDuringRound);
        }

        _askedDuringRound.Clear();
        foreach (string id in again.Distinct(StringComparer.Ordinal))
        {
            if (IsTrainingCandidate(id))
            {
                window.Request(id);
            }
        }

        Signal();
    }

    private List<string> Select(List<DeviceStatus> window, long round)
    {
        IReadOnlyList<DeviceStatus> chosen = _selector.Select(window, new ClientSelectionContext { Round = round });
        var inWindow = new HashSet<string>(window.Select(d => d.DeviceId), StringComparer.Ordinal);
        List<string> selected = chosen.Select(d => d.DeviceId).Where(inWindow.Contains).Distinct(StringComparer.Ordinal).ToList();
        if (_options.MaxParticipants is int max && selected.Count > max)
        {
            string[] shuffled = [.. selected];
            _random.Shuffle(shuffled);
            selected = [.. shuffled.Take(max)];
        }

        return selected;
    }

    private RoundResult Fail(long round, List<string> selected, List<RefusedUpdate> failed, List<RefusedUpdate> refused, string reason, long startTicks, long sentBefore, long receivedBefore)
    {
        _consecutiveFailures++;
        Log.RoundFailed(_logger, round, reason);
        var result = new RoundResult
        {
            Round = round,
            Completed = false,
            FailureReason = reason,
            Selected = selected,
            Failed = failed,
            Refused = refused,
            Duration = _time.GetElapsedTime(startTicks),
            BytesUp = _transport.Statistics.BytesReceived - receivedBefore,
            BytesDown = _transport.Statistics.BytesSent - sentBefore,
            GlobalParameters = GlobalParameters,
            GlobalHash = GlobalParameters.ComputeHash(),
        };
        Record(result);
        return result;
    }

    private void Record(RoundResult result)
    {
        var tags = new KeyValuePair<string, object?>("fededge.federation", _options.Federation);
        _roundDuration.Record(result.Duration.TotalSeconds, tags, new("fededge.round.completed", result.Completed));
        _participants.Record(result.Participants, tags);
        _bytesCounter.Add(result.BytesUp, tags, new("direction", "up"));
        _bytesCounter.Add(result.BytesDown, tags, new("direction", "down"));
    }

    private void UpdateImprovement(IReadOnlyDictionary<string, double> evaluation, double? loss)
    {
        double? value = _options.MonitorMetric is null ? loss : evaluation.TryGetValue(_options.MonitorMetric, out double v) ? v : null;
        bool higherIsBetter = _options.MonitorMetric is not null && _options.MonitorHigherIsBetter;
        if (value is not double current)
        {
            return;
        }

        bool improved = _bestMetric is not double best || (higherIsBetter ? current > best : current < best);
        if (improved)
        {
            _bestMetric = current;
            _roundsWithoutImprovement = 0;
        }
        else
        {
            _roundsWithoutImprovement++;
        }
    }

    private string? StopReason(RoundResult result)
    {
        if (_privacyBudgetStop is not null)
        {
            return _privacyBudgetStop;
        }

        if (result.Completed && _options.TargetMetric is double target && _options.MonitorMetric is string name
            && result.Evaluation.TryGetValue(name, out double value)
            && (_options.MonitorHigherIsBetter ? value >= target : value <= target))
        {
            return $"target reached: {name} = {value:0.####}";
        }

        if (result.Completed && _options.Patience is int patience && _roundsWithoutImprovement >= patience)
        {
            return $"no improvement for {patience} rounds";
        }

        if (_consecutiveFailures >= 3)
        {
            return $"{_consecutiveFailures} rounds in a row failed (last: {result.FailureReason})";
        }

        return CompletedRounds >= _options.MaxRounds ? $"round budget of {_options.MaxRounds} reached" : null;
    }

    private async ValueTask PublishGlobalAsync(CancellationToken ct)
    {
        ParameterSet global = GlobalParameters;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SessionMetadataKey] = _session, ["fededge.federation"] = _options.Federation };
        await _transport.PublishGlobalModelAsync(new GlobalModel { Version = CompletedRounds, Hash = global.ComputeHash(), Parameters = global, Metadata = metadata }, ct).ConfigureAwait(false);
    }

    private void Signal()
    {
        TaskCompletionSource previous = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }

    private void EnsureStarted()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_started)
        {
            throw new InvalidOperationException("Call StartAsync before running rounds.");
        }
    }

    private sealed class DeviceEntry(DeviceStatus status)
    {
        private DeviceStatus _status = status;

        public DeviceStatus Status
        {
            get => _status;
            set
            {
                _status = value;
                Announced = true;
            }
        }

        public bool Announced { get; private set; }
    }

    private sealed class RoundState(long round, string nonce, List<string> selected, IAggregationRound aggregation, UpdateValidator validator)
    {
        public UpdateValidator Validator { get; } = validator;

        public long Round { get; } = round;

        public string Nonce { get; } = nonce;

        public HashSet<string> Selected { get; } = new(selected, StringComparer.Ordinal);

        public IAggregationRound Aggregation { get; } = aggregation;

        public HashSet<string> Received { get; } = new(StringComparer.Ordinal);

        public List<string> Contributors { get; } = [];

        public Dictionary<string, string> Failed { get; } = new(StringComparer.Ordinal);

        public List<RefusedUpdate> Refused { get; } = [];

        public double LossSum { get; set; }

        public long SampleSum { get; set; }

        public double WeightSum { get; set; }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void CheckDone()
        {
            if (Received.Count + Failed.Count >= Selected.Count)
            {
                Done.TrySetResult();
            }
        }
    }
}

/// <summary>A device refused at admission.</summary>
/// <param name="DeviceId">The device id it claimed.</param>
/// <param name="Reasons">Every reason for the refusal.</param>
public sealed record RefusedDevice(string DeviceId, IReadOnlyList<string> Reasons);
