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
using FedEdge.Rounds;
using FedEdge.Security;
using FedEdge.Selection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Coordination;

/// <summary>
/// The coordinator round engine: lifecycle and the round loop. Each job lives in its own part:
/// who is there (<see cref="DeviceRegistry"/>), who asked to train (<see cref="TrainingRequests"/> over the
/// temporal window), how a round's updates become one model (<see cref="IRoundProtocol"/>), when to stop
/// (<see cref="IStopRule"/>s), and what devices send (<see cref="CoordinatorInbox"/>). Every port arrives
/// through the constructor, so what <c>services.AddFedEdgeCoordinator()</c> and the privacy packages register is what runs.
/// </summary>
/// <remarks>
/// Liveness: tasks are re-sent until acknowledged, devices that miss heartbeats are lost (they leave the window
/// and the round) and return when heard again, and every handler is idempotent. The coordinator owns and
/// disposes its transport. Metrics go to the <c>FedEdge.Core</c> meter.
/// </remarks>
public sealed class Coordinator : IAsyncDisposable
{
    /// <summary>The name of the meter and activity source of FedEdge.Core.</summary>
    public const string TelemetryName = "FedEdge.Core";

    /// <summary>The global-model metadata key that carries the coordinator's session id; a worker that sees it change joins again (the coordinator restarted).</summary>
    public const string SessionMetadataKey = FederationProtocol.SessionMetadataKey;

    private readonly string _session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private readonly CoordinatorOptions _options;
    private readonly ICoordinatorTransport _transport;
    private readonly IAggregationStrategy _strategy;
    private readonly IRoundProtocol _protocol;
    private readonly IClientSelector? _selectorPort;
    private readonly IAggregateTransform[] _aggregateTransforms;
    private readonly IPrivacyAccountant? _accountant;
    private readonly IStopRule[] _customStopRules;
    private readonly ICheckpointStore? _checkpoints;
    private readonly IGlobalModelEvaluator? _evaluator;
    private readonly IRoundAuditLog? _audit;
    private readonly TimeProvider _time;
    private readonly FederationCredentials? _credentials;
    private readonly Transparency.ITransparencyLog? _ledger;
    private readonly Reputation.IReputationPolicy? _reputation;
    private readonly Transparency.TreeHeadCommittee? _committee;
    private StrategyState? _strategyStateBefore;
    private readonly ILogger _logger;
    private readonly CoordinatorTelemetry _telemetry;
    private readonly DeviceRegistry _registry = new();
    private readonly RoundTracker _rounds = new();
    private readonly CancellationTokenSource _disposeCts = new();
    private TrainingRequests? _requests;
    private CoordinatorInbox? _inbox;
    private RoundPipeline? _pipeline;
    private Task? _liveness;
    private ParameterSet? _global;
    private long _completedRound;
    private int _disposed;

    /// <summary>Creates a coordinator from its ports (normally through DI: <c>services.AddFedEdgeCoordinator()</c>).</summary>
    /// <param name="options">Settings, validated in <see cref="StartAsync"/>.</param>
    /// <param name="transport">The transport (owned and disposed by the coordinator).</param>
    /// <param name="strategy">The aggregation strategy.</param>
    /// <param name="admission">The admission policy every joining device passes.</param>
    /// <param name="roundProtocol">How a round's updates become one model; null runs plaintext rounds.</param>
    /// <param name="selector">Picks each round's participants from the window; null uses <see cref="CoordinatorOptions.SelectionFraction"/>.</param>
    /// <param name="aggregateTransforms">Applied in order to each round's model change (central DP noise).</param>
    /// <param name="updateTransforms">Applied in order to each plaintext update's delta before it is folded (central DP clipping); ignored when <paramref name="roundProtocol"/> is given.</param>
    /// <param name="accountant">Tracks the privacy spent (needs <see cref="CoordinatorOptions.DpNoiseMultiplier"/>); stops at its budget.</param>
    /// <param name="stopRules">More stop rules besides the built-in ones.</param>
    /// <param name="checkpoints">Where rounds are checkpointed; null disables checkpoints.</param>
    /// <param name="evaluator">Evaluates each new global model; null skips evaluation.</param>
    /// <param name="audit">An audit log appended after each completed round; null disables it.</param>
    /// <param name="timeProvider">The clock for windows, deadlines and heartbeats.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="meterFactory">Creates the <c>FedEdge.Core</c> meter; null creates a standalone one.</param>
    /// <param name="credentials">The federation PKI: when given, devices join only with a valid certificate naming their id, updates must carry a valid signature by that certificate's key, and global models are signed.</param>
    /// <param name="ledger">The transparency log each round appends to (accepted updates with their signatures, refusals, the round record, reputation changes) before its model is published; null disables it.</param>
    /// <param name="reputation">The reputation policy: scores devices after each round, orders selection by score, weighs updates by it and quarantines (refuses) devices below its threshold; null disables it.</param>
    /// <param name="committee">The committee of witnesses that co-sign each round's tree head (needs <paramref name="ledger"/>): a round's model is published only with its quorum of co-signatures; null disables it.</param>
    public Coordinator(
        IOptions<CoordinatorOptions> options,
        ICoordinatorTransport transport,
        IAggregationStrategy strategy,
        IAdmissionPolicy admission,
        IRoundProtocol? roundProtocol = null,
        IClientSelector? selector = null,
        IEnumerable<IAggregateTransform>? aggregateTransforms = null,
        IEnumerable<IUpdateTransform>? updateTransforms = null,
        IPrivacyAccountant? accountant = null,
        IEnumerable<IStopRule>? stopRules = null,
        ICheckpointStore? checkpoints = null,
        IGlobalModelEvaluator? evaluator = null,
        IRoundAuditLog? audit = null,
        TimeProvider? timeProvider = null,
        ILogger<Coordinator>? logger = null,
        IMeterFactory? meterFactory = null,
        FederationCredentials? credentials = null,
        Transparency.ITransparencyLog? ledger = null,
        Reputation.IReputationPolicy? reputation = null,
        Transparency.TreeHeadCommittee? committee = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(admission);
        _options = options.Value;
        _transport = transport;
        _strategy = strategy;
        Admission = reputation is null ? admission : new Reputation.ReputationAdmission(admission, reputation);
        _protocol = roundProtocol ?? RoundProtocols.Plaintext(updateTransforms);
        _selectorPort = selector;
        _aggregateTransforms = aggregateTransforms?.ToArray() ?? [];
        _accountant = accountant;
        _customStopRules = stopRules?.ToArray() ?? [];
        _checkpoints = checkpoints;
        _evaluator = evaluator;
        _audit = audit;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _telemetry = new CoordinatorTelemetry(meterFactory, _options.Federation);
        _credentials = credentials;
        _ledger = ledger;
        _reputation = reputation;
        _committee = committee;
    }

    /// <summary>The current global parameters (after the last completed round).</summary>
    public ParameterSet GlobalParameters => _global ?? throw new InvalidOperationException("The coordinator has not started.");

    /// <summary>The last completed round.</summary>
    public long CompletedRounds => Interlocked.Read(ref _completedRound);

    /// <summary>The transport's statistics.</summary>
    public TransportStatistics TransportStatistics => _transport.Statistics;

    /// <summary>The round protocol in use (plaintext, secure aggregation, ...).</summary>
    public IRoundProtocol RoundProtocol => _protocol;

    /// <summary>Devices refused at admission, with their reasons.</summary>
    public IReadOnlyList<RefusedDevice> RefusedDevices => _registry.Refused;

    /// <summary>
    /// What the admission policy noted when it last admitted each device (e.g. "MUD URL from the device certificate
    /// (strong)."), by device id; a device refused later is not listed.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> AdmissionNotes => _registry.AdmissionNotes;

    /// <summary>Admitted devices and their last announced state.</summary>
    public IReadOnlyList<DeviceStatus> Devices => _registry.Statuses;

    /// <summary>Raised (synchronously, keep it short) when admissions or device states change.</summary>
    public event Action? DevicesChanged;

    /// <summary>Raised (synchronously, keep it short) when a round enters a new <see cref="RoundPhase"/>, with the round number.</summary>
    public event Action<long, RoundPhase>? PhaseChanged;

    private IAdmissionPolicy Admission { get; }

    /// <summary>
    /// Validates the options and the composition (a configuration that cannot work is refused with
    /// <see cref="CoordinatorConfigurationException"/>), resumes from the latest checkpoint when there is one (and
    /// <see cref="CoordinatorOptions.ResumeFromCheckpoint"/> is on), otherwise starts from <paramref name="initialParameters"/>,
    /// starts the transport and publishes the global model.
    /// </summary>
    /// <returns>True when the coordinator resumed from a checkpoint.</returns>
    public async ValueTask<bool> StartAsync(ParameterSet initialParameters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(initialParameters);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_requests is not null)
        {
            throw new InvalidOperationException("The coordinator has already started.");
        }

        _options.Validate();
        CompositionCheck.Validate(_options, _transport, _strategy, _protocol, _accountant);
        if (_committee is not null && _ledger is null)
        {
            throw new CoordinatorConfigurationException("A committee co-signs the transparency log's heads: register a transparency log (AddTransparencyLog) with it.");
        }

        if (_committee is not null && _aggregateTransforms.Length > 0)
        {
            throw new CoordinatorConfigurationException("A committee recomputes each round's aggregate, which coordinator-side aggregate transforms (central DP noise) make impossible: use the committee without them.");
        }
        int seed = _options.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue);
        IClientSelector selector = _selectorPort
            ?? (_options.SelectionFraction >= 1 ? ClientSelectors.All() : ClientSelectors.RandomFraction(_options.SelectionFraction, _options.MinParticipants, seed));
        _requests = new TrainingRequests(_options, _registry, _time, _reputation);
        var patience = new PatienceRule(_options);
        _global = initialParameters.Clone();
        CoordinatorCheckpoint? checkpoint = _checkpoints is not null && _options.ResumeFromCheckpoint
            ? await _checkpoints.LoadAsync(cancellationToken).ConfigureAwait(false)
            : null;
        if (checkpoint is not null)
        {
            string? mismatch = initialParameters.Layout.DescribeMismatch(checkpoint.Parameters.Layout);
            if (mismatch is not null)
            {
                throw new CheckpointException($"The checkpoint's model does not match this coordinator's model: {mismatch}.");
            }

            if (checkpoint.AuditLog is { } anchor && _audit?.Head is { } head
                && (head.Entries < anchor.Entries || (head.Entries == anchor.Entries && !string.Equals(head.HeadHash, anchor.HeadHash, StringComparison.Ordinal))))
            {
                throw new CheckpointException($"The audit log does not continue the one the checkpoint recorded ({anchor.Entries} entries, head {anchor.HeadHash}; the log has {head.Entries}, head {head.HeadHash}): it was truncated or rewritten. Run `fededge audit verify` for details.");
            }

            _global = checkpoint.Parameters;
            _completedRound = checkpoint.Round;
            _rounds.Resume(checkpoint.Round);
            patience.Restore(checkpoint.BestMetric, checkpoint.RoundsWithoutImprovement);
            if (checkpoint.StrategyState is { } state)
            {
                _strategy.ImportState(state);
            }

            _requests.Restore(checkpoint.Window, checkpoint.CarriedOver);
        }

        // A stateful strategy's state before the first round, for the transparency log's round records and the committee.
        _strategyStateBefore = _ledger is null ? null : _strategy.ExportState();
        List<IStopRule> rules = BuiltInStopRules.Create(_options, _accountant, patience);
        rules.AddRange(_customStopRules);
        _pipeline = new RoundPipeline(_options, _strategy, _protocol, selector, _aggregateTransforms, rules, patience, _checkpoints, _evaluator, _audit, _transport, _registry, _requests, _rounds, _telemetry, _time, _logger, seed, _reputation, recordUpdates: _ledger is not null, recordFolded: _committee is not null)
        {
            OnPhase = (round, phase) => PhaseChanged?.Invoke(round, phase),
        };
        _inbox = new CoordinatorInbox(Admission, _registry, _requests, _rounds, _transport, _telemetry, _time, _logger, () => DevicesChanged?.Invoke(), _credentials);
        await _transport.StartAsync(_inbox, cancellationToken).ConfigureAwait(false);
        await PublishGlobalAsync(cancellationToken).ConfigureAwait(false);
        _liveness = Task.Run(() => WatchHeartbeatsAsync(_disposeCts.Token), CancellationToken.None);
        Log.CoordinatorStarted(_logger, _options.Federation, _completedRound + 1, checkpoint is not null);
        return checkpoint is not null;
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
        RoundPipeline pipeline = EnsureStarted();
        while (true)
        {
            RoundResult result = await RunRoundAsync(cancellationToken).ConfigureAwait(false);
            string? stop = pipeline.StopReason(result, CompletedRounds);
            if (stop is not null)
            {
                Log.Stopped(_logger, result.Round, stop);
                yield return result with { IsLast = true, StopReason = stop };
                yield break;
            }

            yield return result;
        }
    }

    /// <summary>Runs one round: window, selection, tasks (re-sent until acknowledged), the round protocol, aggregation, publication, evaluation, audit and checkpoint.</summary>
    public async ValueTask<RoundResult> RunRoundAsync(CancellationToken cancellationToken = default)
    {
        RoundPipeline pipeline = EnsureStarted();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        long round = CompletedRounds + 1;
        using Activity? activity = CoordinatorTelemetry.Activities.StartActivity("fededge.round");
        activity?.SetTag("fededge.round", round);
        RoundResult result = await pipeline.RunAsync(round, GlobalParameters, linked.Token).ConfigureAwait(false);
        result = await AccountAsync(result, linked.Token).ConfigureAwait(false);
        if (result.Completed)
        {
            PhaseChanged?.Invoke(round, RoundPhase.Committing);
            _global = result.GlobalParameters;
            Interlocked.Exchange(ref _completedRound, round);
            using (CoordinatorTelemetry.Activities.StartActivity("fededge.round.publish"))
            {
                await PublishGlobalAsync(linked.Token).ConfigureAwait(false);
                result = await pipeline.AfterCompletedAsync(result, linked.Token).ConfigureAwait(false);
            }
        }

        activity?.SetTag("fededge.round.completed", result.Completed);
        activity?.SetTag("fededge.round.participants", result.Participants);
        _telemetry.Record(result);
        PhaseChanged?.Invoke(round, RoundPhase.Idle);
        return result;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposeCts.CancelAsync().ConfigureAwait(false);
        if (_liveness is not null)
        {
            await _liveness.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
        _requests?.Dispose();
        _disposeCts.Dispose();
        _telemetry.Dispose();
    }

    /// <summary>Marks devices lost when they miss <see cref="CoordinatorOptions.MissedHeartbeats"/> heartbeats.</summary>
    private async Task WatchHeartbeatsAsync(CancellationToken ct)
    {
        TimeSpan timeout = _options.HeartbeatInterval * _options.MissedHeartbeats;
        TimeSpan period = _options.HeartbeatInterval / 2;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(period, _time, ct).ConfigureAwait(false);
                foreach (string lost in _registry.SweepLost(_time.GetUtcNow(), timeout))
                {
                    _inbox!.OnLost(lost, timeout);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private async ValueTask PublishGlobalAsync(CancellationToken ct)
    {
        ParameterSet global = GlobalParameters;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SessionMetadataKey] = _session, [FederationProtocol.FederationMetadataKey] = _options.Federation };
        try
        {
            var model = new GlobalModel { Version = CompletedRounds, Hash = global.ComputeHash(), Parameters = global, Metadata = metadata };
            if (_credentials is not null)
            {
                model = _credentials.SignGlobalModel(model, CompletedRounds);
            }

            await _transport.PublishGlobalModelAsync(model, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The model also travels with every round task; the next publication retries.
            Log.SendFailed(_logger, "every device", $"global model {CompletedRounds}", ex);
        }
    }

    /// <summary>Reputation and the transparency log, before a new model is published: scores change, quarantines take effect, and the round's entries are appended under a new signed head.</summary>
    private async ValueTask<RoundResult> AccountAsync(RoundResult result, CancellationToken ct)
    {
        if (_reputation is not null)
        {
            IReadOnlyList<Reputation.ReputationChange> changes = _reputation.Observe(result);
            foreach (Reputation.ReputationChange change in changes)
            {
                Log.ReputationChanged(_logger, change.DeviceId, change.Round, change.PreviousScore, change.Score, change.Reason);
                if (change.Quarantined && _reputation.QuarantineOf(change.DeviceId) is { } standing)
                {
                    _registry.Refuse(change.DeviceId, [standing.Describe()]);
                    Log.DeviceRefused(_logger, change.DeviceId, standing.Describe());
                    DevicesChanged?.Invoke();
                }
            }

            result = result with { ReputationChanges = changes, ReputationScores = _reputation.Scores };
        }

        if (_ledger is not null)
        {
            long before = _ledger.Head?.Size ?? 0;

            // A stateful strategy (FedAvgM, FedAdam, FedYogi): the round record carries its state's hash before and
            // after the round, so a validator can check the state it recomputes from.
            StrategyState? stateBefore = _strategyStateBefore;
            StrategyState? stateAfter = stateBefore is null ? null : _strategy.ExportState();
            _strategyStateBefore = stateAfter;
            Transparency.SignedTreeHead head = await _ledger.AppendAsync(
                Transparency.RoundEntries.From(result, _strategy.Name, stateBefore is null ? null : Transparency.StrategyStateHash.Compute(stateBefore), stateAfter is null ? null : Transparency.StrategyStateHash.Compute(stateAfter), Transparency.RoundEntries.MixingOf(_strategy)), ct).ConfigureAwait(false);
            result = result with { LedgerHead = head };
            if (_committee is not null)
            {
                result = await CoSignAsync(_committee, _ledger, result, head, before, stateBefore, ct).ConfigureAwait(false);
            }
        }

        return result with { FoldedUpdates = [], Transcript = null };
    }

    /// <summary>The committee's co-signatures for the round's head; without a quorum the round fails and its model is not published.</summary>
    private async ValueTask<RoundResult> CoSignAsync(Transparency.TreeHeadCommittee committee, Transparency.ITransparencyLog ledger, RoundResult result, Transparency.SignedTreeHead head, long before, StrategyState? stateBefore, CancellationToken ct)
    {
        bool plaintext = _protocol.RevealsIndividualUpdates;
        var evidence = new Transparency.RoundEvidence
        {
            PreviousGlobal = plaintext || result.Transcript is not null ? GlobalParameters : null,
            Updates = plaintext && result.Completed ? result.FoldedUpdates : null,
            PreviousStrategyState = stateBefore,
            SecureSum = result.Completed && result.Transcript is { } transcript ? transcript.Sum : ReadOnlyMemory<float>.Empty,
        };
        Transparency.CommitteeResult verdict = await committee.CoSignAsync(ledger, head, before, result.Round, evidence, ct).ConfigureAwait(false);
        await ledger.RecordCoSignaturesAsync(head, verdict.CoSignatures, ct).ConfigureAwait(false);
        foreach (Transparency.WitnessReport report in verdict.Witnesses.Where(w => !w.Signed))
        {
            Log.WitnessFailed(_logger, result.Round, report.Witness, head.Size, report.Problem);
        }

        result = result with { Committee = verdict };
        if (verdict.HasQuorum)
        {
            Log.CommitteeCoSigned(_logger, result.Round, head.Size, verdict.CoSignatures.Count, verdict.Quorum);
            return result;
        }

        string reason = verdict.Describe()!;
        Log.CommitteeRejected(_logger, result.Round, reason);

        // The head stays in the log (it is signed and witnesses may hold it); a withdrawal entry right after it says
        // the round was void. The next round's head, which covers the withdrawal, is what the committee co-signs next.
        await ledger.AppendAsync([new Transparency.LedgerEntry { Kind = Transparency.LedgerEntryKind.Withdrawal, Round = result.Round, Reason = reason }], ct).ConfigureAwait(false);
        return !result.Completed ? result : result with
        {
            Completed = false,
            FailureReason = reason,
            GlobalParameters = GlobalParameters,
            GlobalHash = GlobalParameters.ComputeHash(),
        };
    }

    private RoundPipeline EnsureStarted()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _pipeline ?? throw new InvalidOperationException("Call StartAsync before running rounds.");
    }
}

/// <summary>A device refused at admission.</summary>
/// <param name="DeviceId">The device id it claimed.</param>
/// <param name="Reasons">Every reason for the refusal.</param>
public sealed record RefusedDevice(string DeviceId, IReadOnlyList<string> Reasons);
