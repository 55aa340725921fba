using System.Numerics.Tensors;
using System.Security.Cryptography;
using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Privacy;
using FedEdge.Rounds;
using FedEdge.Selection;
using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>
/// The steps of one round, in order: collect the window, select, check the strategy's and the stop rules'
/// preconditions, run the round protocol (tasks re-sent until acknowledged), aggregate, apply aggregate
/// transforms; after a completed round: step the accountant, evaluate, audit, checkpoint.
/// </summary>
internal sealed class RoundPipeline(
    CoordinatorOptions options,
    IAggregationStrategy strategy,
    IRoundProtocol protocol,
    IClientSelector selector,
    IAggregateTransform[] aggregateTransforms,
    List<IStopRule> stopRules,
    PatienceRule patience,
    ICheckpointStore? checkpoints,
    IGlobalModelEvaluator? evaluator,
    IRoundAuditLog? audit,
    ICoordinatorTransport transport,
    DeviceRegistry registry,
    TrainingRequests requests,
    RoundTracker rounds,
    CoordinatorTelemetry telemetry,
    TimeProvider time,
    ILogger logger,
    int seed,
    Reputation.IReputationPolicy? reputation = null,
    bool recordUpdates = false,
    bool recordFolded = false)
{
    private readonly Random _random = new(seed);
    private readonly TaskDispatcher _dispatcher = new(transport, options, time, telemetry, logger);
    private int _consecutiveFailures;
    private double? _referenceNorm;

    /// <summary>Told of each phase change (the coordinator raises <see cref="Coordinator.PhaseChanged"/> from it).</summary>
    public Action<long, RoundPhase>? OnPhase { get; init; }

    /// <summary>The task configuration key carrying the round activity's W3C traceparent, so a worker's train activity joins the round's trace.</summary>
    internal const string TraceParentKey = "fededge.traceparent";

    /// <summary>
    /// A streaming strategy's round holds its accepted updates until it closes and folds them in sender order (the same
    /// bits whatever the arrival order) while they fit in this many bytes; a larger round folds each update as it
    /// arrives, so the coordinator's memory stays flat in the number of devices (the order is then the arrival order,
    /// recorded for a committee that recomputes the aggregate).
    /// </summary>
    internal const long HeldUpdatesBudgetBytes = 256L * 1024 * 1024;

    public async ValueTask<RoundResult> RunAsync(long round, ParameterSet global, CancellationToken ct)
    {
        var start = new RoundStart(time.GetTimestamp(), transport.Statistics.BytesSent, transport.Statistics.BytesReceived, global);
        OnPhase?.Invoke(round, RoundPhase.WindowOpen);
        List<DeviceStatus>? window;
        using (CoordinatorTelemetry.Activities.StartActivity("fededge.round.window"))
        {
            window = await requests.CollectAsync(ct).ConfigureAwait(false);
        }

        if (window is null)
        {
            return Fail(round, start, requests.DescribeShortfall());
        }

        List<string> selected = Select(window, round);
        int quarantined = QuarantinedCount();
        string? notRun = selected.Count == 0
            ? $"the client selector '{selector.Name}' chose none of the {window.Count} devices in the window"
            : strategy.Requirements.CheckAfterQuarantine(selected.Count, quarantined) ?? BeforeRound(selected.Count);
        if (notRun is not null)
        {
            // Nobody got a task: every member of the window stays in the next one.
            requests.CompleteRound([]);
            return Fail(round, start, notRun, selected);
        }

        string nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        DateTimeOffset deadline = time.GetUtcNow() + options.RoundTimeout;
        using IAggregationRound aggregation = strategy.BeginRound(global, new AggregationRoundOptions { Round = round, ExpectedParticipants = selected.Count, QuarantinedDevices = quarantined });
        var expectations = new RoundExpectations { Round = round, Nonce = nonce, Layout = global.Layout, ExpectedSenders = new HashSet<string>(selected, StringComparer.Ordinal) };
        using var roundCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        IRoundSession session = protocol.Begin(new RoundSessionContext
        {
            Round = round,
            Nonce = nonce,
            GlobalParameters = global,
            Selected = selected,
            Aggregation = aggregation,
            Validator = new UpdateValidator(expectations),
            Deadline = deadline,
            Bounds = options.UpdateBounds,
            ReferenceDeltaNorm = _referenceNorm,
            SendProtocolAsync = (device, payload, token) => transport.SendProtocolAsync(device, payload, token),
            Cancellation = roundCts.Token,
            RecordUpdates = recordUpdates || reputation is not null,
            RecordDeltas = reputation is not null,
            RecordFolded = recordFolded,
            FoldAtClose = strategy.IsStreaming && (long)selected.Count * global.Length * sizeof(float) <= HeldUpdatesBudgetBytes,
            WeightOf = reputation is null ? null : reputation.WeightOf,
        });
        RoundContribution contribution;
        IReadOnlyList<RefusedUpdate> otherRefusals;
        IReadOnlyList<SignedUpdate> signatures;
        int resends;
        await using (session.ConfigureAwait(false))
        {
            var task = new RoundTask { Round = round, Nonce = nonce, GlobalParameters = global, HyperParameters = strategy.ConfigureTraining(options.HyperParameters), Deadline = deadline, UpdateCodec = options.UpdateCodec is null ? null : Messaging.UpdateCodecSpec.Normalize(options.UpdateCodec) };
            if (options.TaskConfig?.Invoke(round) is { Count: > 0 } extra)
            {
                task = task with { Config = new Dictionary<string, string>(extra, StringComparer.Ordinal) };
            }
            if (System.Diagnostics.Activity.Current is { Id: { } traceParent, IdFormat: System.Diagnostics.ActivityIdFormat.W3C })
            {
                task = task with { Config = new Dictionary<string, string>(task.Config, StringComparer.Ordinal) { [TraceParentKey] = traceParent } };
            }

            OnPhase?.Invoke(round, RoundPhase.Training);
            var active = new ActiveRound(task, selected, session);
            rounds.Begin(active);
            Log.RoundStarted(logger, round, selected.Count, deadline);
            try
            {
                resends = await _dispatcher.RunAsync(active, deadline, ct).ConfigureAwait(false);
                await roundCts.CancelAsync().ConfigureAwait(false);
                contribution = await session.FinishAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                rounds.End(active);
                throw;
            }

            rounds.End(active);
            requests.CompleteRound(selected);
            otherRefusals = active.OtherRefusals;
            signatures = active.Signatures;
        }

        var failed = contribution.Failed.Select(p => new RefusedUpdate(p.Key, round, p.Value)).ToList();
        foreach (string device in selected)
        {
            if (!contribution.Contributors.Contains(device) && !contribution.Failed.ContainsKey(device))
            {
                failed.Add(new RefusedUpdate(device, round, "no update before the deadline"));
            }
        }

        var outcome = new RoundOutcome(selected, failed, contribution with { Refused = [.. contribution.Refused, .. otherRefusals] }, resends, signatures);
        if (contribution.FailureReason is { } protocolFailure)
        {
            return Fail(round, start, protocolFailure, outcome);
        }

        if (contribution.Contributors.Count < options.MinParticipants)
        {
            return Fail(round, start, $"quorum not met: {contribution.Contributors.Count} of the {options.MinParticipants} required updates arrived", outcome);
        }

        if ((double)failed.Count / selected.Count > options.AcceptFailuresFraction)
        {
            return Fail(round, start, $"{failed.Count} of {selected.Count} participants failed, more than the accepted fraction {options.AcceptFailuresFraction:0.##}", outcome);
        }

        OnPhase?.Invoke(round, RoundPhase.Aggregating);
        AggregationResult aggregated;
        var privacyMetrics = new Dictionary<string, double>(StringComparer.Ordinal);
        ParameterSet next;
        using (CoordinatorTelemetry.Activities.StartActivity("fededge.round.aggregate"))
        {
            try
            {
                aggregated = aggregation.Complete();
            }
            catch (InsufficientUpdatesException ex)
            {
                return Fail(round, start, ex.Message, outcome);
            }

            if (aggregated.ByzantineCount is int effective && effective < strategy.Requirements.ByzantineTolerance)
            {
                Log.ByzantineCountLowered(logger, round, strategy.Name, effective, strategy.Requirements.ByzantineTolerance, contribution.Contributors.Count, quarantined);
            }

            next = ApplyAggregateTransforms(global, aggregated.Parameters, round, contribution.Contributors.Count, privacyMetrics);
        }

        if (GlobalModelProblem(next) is { } diverged)
        {
            // Never commit a diverged model: it is neither published nor checkpointed, and the previous one stays.
            return Fail(round, start, "the new global model was not committed: " + diverged, outcome);
        }

        _consecutiveFailures = 0;
        if (contribution.DeltaNorms.Count > 0)
        {
            _referenceNorm = options.UpdateBounds.Reference(contribution.DeltaNorms) ?? _referenceNorm;
        }

        return Result(round, start, outcome, completed: true, null) with
        {
            Updates = reputation is null
                ? [.. contribution.Accepted.Select(a => new AcceptedUpdate(a.DeviceId, a.Digest, a.SampleCount))]
                : Measure(contribution.Accepted, global, aggregated.Parameters),
            GlobalParameters = next,
            GlobalHash = next.ComputeHash(),
            FoldedUpdates = contribution.Folded,
            Transcript = contribution.Transcript,
            TrainingLoss = contribution.LossWeight > 0 ? contribution.LossSum / contribution.LossWeight : null,
            SampleCount = contribution.SampleCount,
            SecureAggregation = !protocol.RevealsIndividualUpdates,
            RecoveredDropouts = contribution.RecoveredDropouts,
            SecureAggregationErrorBound = contribution.ErrorBound,
            PrivacyMetrics = privacyMetrics,
            EdgeSummaries = contribution.EdgeSummaries,
            ByzantineCount = aggregated.ByzantineCount,
        };
    }

    /// <summary>How many devices reputation has quarantined (removed as faulty); robust strategies may lower f by this many.</summary>
    private int QuarantinedCount() =>
        reputation is null ? 0 : Reputation.ReputationPolicies.QuarantinedDevices(reputation).Count;

    /// <summary>After the new model is published: privacy accounting, evaluation, stop-rule progress, audit and checkpoint.</summary>
    public async ValueTask<RoundResult> AfterCompletedAsync(RoundResult result, CancellationToken ct)
    {
        PrivacySpent? privacy = stopRules.OfType<PrivacyBudgetRule>().FirstOrDefault()?.Step(Context(result.Round, result.Selected.Count));
        IReadOnlyDictionary<string, double> evaluation = evaluator is null
            ? new Dictionary<string, double>()
            : await evaluator.EvaluateAsync(result.GlobalParameters, result.Round, ct).ConfigureAwait(false);
        patience.Observe(evaluation, result.TrainingLoss);
        result = result with { Evaluation = evaluation, Privacy = privacy };
        if (audit is not null)
        {
            await audit.AppendAsync(result, ct).ConfigureAwait(false);
        }

        if (checkpoints is not null)
        {
            (TemporalWindowState windowState, string[] carried) = requests.Export();
            await checkpoints.SaveAsync(
                new CoordinatorCheckpoint
                {
                    Round = result.Round,
                    Parameters = result.GlobalParameters,
                    StrategyState = strategy.ExportState(),
                    CarriedOver = carried,
                    Window = windowState,
                    BestMetric = patience.Best,
                    RoundsWithoutImprovement = patience.RoundsWithoutImprovement,
                    AuditLog = audit?.Head,
                    SavedAt = time.GetUtcNow(),
                },
                ct).ConfigureAwait(false);
        }

        Log.RoundCompleted(logger, result.Round, result.Participants, result.TrainingLoss, result.Duration.TotalSeconds);
        return result;
    }

    /// <summary>The first stop rule's reason to stop after <paramref name="result"/>, or null.</summary>
    public string? StopReason(RoundResult result, long completedRounds)
    {
        StopRuleContext context = Context(completedRounds, result.Selected.Count);
        foreach (IStopRule rule in stopRules)
        {
            if (rule.AfterRound(result, context) is { } reason)
            {
                return reason;
            }
        }

        return null;
    }

    private StopRuleContext Context(long completedRounds, int participants) => new()
    {
        CompletedRounds = completedRounds,
        ConsecutiveFailures = _consecutiveFailures,
        Participants = participants,
        Population = registry.Count,
    };

    private string? BeforeRound(int participants)
    {
        StopRuleContext context = Context(rounds.HighestStarted, participants);
        foreach (IStopRule rule in stopRules)
        {
            if (rule.BeforeRound(context) is { } reason)
            {
                return reason;
            }
        }

        return null;
    }

    /// <summary>
    /// Each accepted update with its cosine distance from the aggregate's change, its closest agreement with another
    /// update, and its change's norm relative to the median norm of the updates that agree with it (cosine ≥ 0.5, itself
    /// included): a scaled update stands out against its own kind even when the round mixes very different devices.
    /// </summary>
    private static List<AcceptedUpdate> Measure(IReadOnlyList<AcceptedUpdateRecord> accepted, ParameterSet global, ParameterSet aggregate)
    {
        int n = accepted.Count;
        if (n == 0)
        {
            return [];
        }

        float[] change = aggregate.Values.ToArray();
        TensorPrimitives.Subtract(change, global.Values, change);
        double changeNorm = TensorPrimitives.Norm<float>(change);
        float[][] deltas = [.. accepted.Select(a => a.Delta ?? [])];
        double[] norms = [.. deltas.Select(d => (double)TensorPrimitives.Norm<float>(d))];
        var cosine = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                double c = norms[i] > 0 && norms[j] > 0 ? TensorPrimitives.CosineSimilarity<float>(deltas[i], deltas[j]) : 0;
                cosine[i, j] = cosine[j, i] = double.IsFinite(c) ? c : 0;
            }
        }

        var measured = new List<AcceptedUpdate>(n);
        for (int i = 0; i < n; i++)
        {
            AcceptedUpdateRecord a = accepted[i];
            double similarity = norms[i] == 0 || changeNorm == 0 || deltas[i].Length != change.Length ? 0 : TensorPrimitives.CosineSimilarity<float>(deltas[i], change);
            double peer = double.NegativeInfinity;
            var agreeing = new List<double> { norms[i] };
            int close = 0;
            int mirror = 0;
            for (int j = 0; j < n; j++)
            {
                if (j != i)
                {
                    peer = Math.Max(peer, cosine[i, j]);
                    close += cosine[i, j] >= AcceptedUpdate.CloseAgreement ? 1 : 0;
                    mirror += cosine[i, j] <= -AcceptedUpdate.CloseAgreement ? 1 : 0;
                    if (cosine[i, j] >= 0.5)
                    {
                        agreeing.Add(norms[j]);
                    }
                }
            }

            double[] sorted = [.. agreeing.Order()];
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
            measured.Add(new AcceptedUpdate(a.DeviceId, a.Digest, a.SampleCount)
            {
                CosineDistance = double.IsFinite(similarity) ? 1 - similarity : null,
                NormRatio = median > 0 ? norms[i] / median : null,
                PeerSimilarity = double.IsFinite(peer) ? peer : null,
                ClosePeers = close,
                MirrorPeers = mirror,
                DeltaNorm = norms[i],
            });
        }

        return measured;
    }

    private List<string> Select(List<DeviceStatus> window, long round)
    {
        if (reputation is not null)
        {
            // Reward: devices with a higher score come first (and survive the participant cap); quarantined devices never get a task.
            window = [.. window.Where(d => reputation.QuarantineOf(d.DeviceId) is null).OrderByDescending(d => reputation.ScoreOf(d.DeviceId))];
        }

        IReadOnlyList<DeviceStatus> chosen = selector.Select(window, new ClientSelectionContext { Round = round });
        var inWindow = new HashSet<string>(window.Select(d => d.DeviceId), StringComparer.Ordinal);
        List<string> selected = chosen.Select(d => d.DeviceId).Where(inWindow.Contains).Distinct(StringComparer.Ordinal).ToList();
        if (options.MaxParticipants is int max && selected.Count > max && reputation is not null)
        {
            selected = [.. selected.OrderByDescending(reputation.ScoreOf).Take(max)];
        }
        else if (options.MaxParticipants is int cap && selected.Count > cap)
        {
            string[] shuffled = [.. selected];
            _random.Shuffle(shuffled);
            selected = [.. shuffled.Take(cap)];
        }

        return selected;
    }

    private ParameterSet ApplyAggregateTransforms(ParameterSet previous, ParameterSet next, long round, int contributors, Dictionary<string, double> metrics)
    {
        if (aggregateTransforms.Length == 0)
        {
            return next;
        }

        ParameterSet change = next.Clone();
        TensorPrimitives.Subtract(change.Values, previous.Values, change.Values);

        var context = new AggregateTransformContext { Round = round, ContributorCount = contributors, IsMean = true, Metrics = metrics, GlobalParameters = previous };
        foreach (IAggregateTransform transform in aggregateTransforms)
        {
            transform.Apply(change, context);
        }

        TensorPrimitives.Add(change.Values, previous.Values, change.Values);
        return change;
    }

    /// <summary>Why a new global model must not be committed (non-finite values, or values beyond the update bound), or null.</summary>
    private string? GlobalModelProblem(ParameterSet next)
    {
        if (!next.AllFinite())
        {
            return "it has non-finite values";
        }

        if (options.UpdateBounds.MaxAbsoluteValue is float bound)
        {
            ReadOnlySpan<float> v = next.Values;
            int index = v.Length == 0 ? -1 : TensorPrimitives.IndexOfMaxMagnitude(v);
            if (index >= 0 && Math.Abs(v[index]) > bound)
            {
                return $"value {v[index]:G4} at flat index {index} is beyond the bound ±{bound:G4}";
            }
        }

        return null;
    }

    private RoundResult Fail(long round, RoundStart start, string reason, List<string>? selected = null) =>
        Fail(round, start, reason, new RoundOutcome(selected ?? [], [], null, 0, []));

    private RoundResult Fail(long round, RoundStart start, string reason, RoundOutcome outcome)
    {
        _consecutiveFailures++;
        Log.RoundFailed(logger, round, reason);
        return Result(round, start, outcome, completed: false, reason);
    }

    private RoundResult Result(long round, RoundStart start, RoundOutcome outcome, bool completed, string? failure) => new()
    {
        Round = round,
        Completed = completed,
        FailureReason = failure,
        Selected = outcome.Selected,
        Contributors = completed ? outcome.Contribution?.Contributors ?? [] : [],
        Failed = outcome.Failed,
        Refused = outcome.Contribution?.Refused ?? [],
        Signatures = completed ? AcceptedSignatures(outcome) : [],
        Updates = [.. (outcome.Contribution?.Accepted ?? []).Select(a => new AcceptedUpdate(a.DeviceId, a.Digest, a.SampleCount))],
        TaskResends = outcome.Resends,
        Duration = time.GetElapsedTime(start.Ticks),
        BytesUp = transport.Statistics.BytesReceived - start.Received,
        BytesDown = transport.Statistics.BytesSent - start.Sent,
        GlobalParameters = start.Global,
        GlobalHash = start.Global.ComputeHash(),
    };

    /// <summary>
    /// The signatures of the accepted updates: matched by device and digest when the protocol recorded the accepted
    /// updates, otherwise (a sum-only protocol) each contributor's latest signature.
    /// </summary>
    private static List<SignedUpdate> AcceptedSignatures(RoundOutcome outcome)
    {
        RoundContribution? contribution = outcome.Contribution;
        if (contribution is null)
        {
            return [];
        }

        if (contribution.Accepted.Count > 0)
        {
            var accepted = new HashSet<(string, string)>(contribution.Accepted.Select(a => (a.DeviceId, a.Digest)));
            return [.. outcome.Signatures.Where(s => accepted.Contains((s.DeviceId, Convert.ToHexStringLower(s.Digest.Span))))];
        }

        return [.. outcome.Signatures.Where(s => contribution.Contributors.Contains(s.DeviceId)).GroupBy(s => s.DeviceId, StringComparer.Ordinal).Select(g => g.Last())];
    }

    private sealed record RoundStart(long Ticks, long Sent, long Received, ParameterSet Global);

    private sealed record RoundOutcome(List<string> Selected, List<RefusedUpdate> Failed, RoundContribution? Contribution, int Resends, IReadOnlyList<SignedUpdate> Signatures);
}
