using System.Globalization;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Hierarchy;

/// <summary>Settings of an <see cref="EdgeAggregator"/>.</summary>
public sealed class EdgeAggregatorOptions
{
    /// <summary>The key of a cloud task's hyper-parameter extra that overrides k2 (edge rounds per cloud round) for that round.</summary>
    public const string EdgeRoundsKey = "hierfavg.k2";

    /// <summary>The key of a cloud task's hyper-parameter extra that overrides k1 (the devices' local steps) for that round.</summary>
    public const string LocalStepsKey = "hierfavg.k1";

    /// <summary>Edge aggregations per cloud aggregation (HierFAVG's k2). The devices' local steps per edge round (k1) are the edge coordinator's hyper-parameters.</summary>
    public int EdgeRoundsPerCloudRound { get; set; } = 1;

    /// <summary>How many failed edge rounds are tolerated per cloud round before the cloud round is reported as failed.</summary>
    public int MaxFailedEdgeRounds { get; set; } = 3;

    /// <summary>
    /// Where the edge keeps its place in the current cloud round (<see cref="EdgeCheckpoint"/>); null keeps none. With
    /// a checkpoint store on the edge coordinator, a restarted edge continues the cloud round at the edge round it reached.
    /// </summary>
    public string? StateFile { get; set; }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (EdgeRoundsPerCloudRound < 1)
        {
            throw new ArgumentException("EdgeAggregatorOptions.EdgeRoundsPerCloudRound (k2) must be at least 1.");
        }

        if (MaxFailedEdgeRounds < 0)
        {
            throw new ArgumentException("EdgeAggregatorOptions.MaxFailedEdgeRounds must not be negative.");
        }

        if (StateFile is not null && string.IsNullOrWhiteSpace(StateFile))
        {
            throw new ArgumentException("EdgeAggregatorOptions.StateFile must be a path or null.");
        }
    }
}

/// <summary>
/// An edge (fog) aggregator for hierarchical federated learning (HierFAVG, MicroFL's cloud–fog–edge):
/// a coordinator for its devices and, through this trainer port, a worker towards the cloud. When the
/// cloud sends a round task, the edge starts its devices from the cloud's parameters, runs k2 edge
/// rounds (each device doing k1 local steps), and returns the edge model weighted by its devices'
/// samples, with its devices in aggregate (<see cref="EdgeDeviceSummary"/>) as update metrics. Host it in a
/// <see cref="Worker"/> whose data source is null. A cloud task may override k1 and k2 through its hyper-parameters'
/// extras <see cref="EdgeAggregatorOptions.LocalStepsKey"/> and <see cref="EdgeAggregatorOptions.EdgeRoundsKey"/>.
/// </summary>
/// <remarks>
/// With <see cref="EdgeAggregatorOptions.StateFile"/> and a checkpoint store on the edge coordinator, an edge killed in
/// the middle of a cloud round resumes it when the cloud's task comes again with the same model: the edge rounds it
/// completed are not run again. Flake's Model-2 (a trusted edge node trains on data uploaded by its devices) needs no
/// special type: run a plain <see cref="Worker"/> at the edge over the devices' pooled rows.
/// </remarks>
public sealed class EdgeAggregator : ITrainer
{
    private readonly Coordinator _edge;
    private readonly ITrainer _evaluator;
    private readonly EdgeAggregatorOptions _options;
    private readonly CoordinatorOptions? _edgeOptions;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<EdgeRoundEntry> _rounds = [];
    private readonly int? _configuredLocalSteps;

    /// <summary>Creates an edge aggregator over a started edge coordinator.</summary>
    /// <param name="edge">The coordinator of the edge's devices (started, so its layout is known).</param>
    /// <param name="evaluator">A trainer of the same model, used to evaluate on data the edge is given.</param>
    /// <param name="options">k2, failure tolerance and the state file.</param>
    /// <param name="edgeOptions">The edge coordinator's options (the instance it runs with): when given, a cloud task's k1 overrides its local steps for that cloud round.</param>
    /// <param name="timeProvider">The clock for the reported duration.</param>
    public EdgeAggregator(Coordinator edge, ITrainer evaluator, EdgeAggregatorOptions? options = null, CoordinatorOptions? edgeOptions = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(edge);
        ArgumentNullException.ThrowIfNull(evaluator);
        _edge = edge;
        _evaluator = evaluator;
        _options = options ?? new EdgeAggregatorOptions();
        _edgeOptions = edgeOptions;
        _configuredLocalSteps = edgeOptions?.HyperParameters.LocalIterations;
        _time = timeProvider ?? TimeProvider.System;
        _options.Validate();
    }

    /// <inheritdoc />
    public ParameterLayout Layout => _edge.GlobalParameters.Layout;

    /// <summary>The edge rounds run so far by this process, newest last.</summary>
    public IReadOnlyList<RoundResult> EdgeRounds
    {
        get
        {
            lock (_gate)
            {
                return [.. _rounds.Select(r => r.Result)];
            }
        }
    }

    /// <summary>
    /// The edge rounds run so far by this process, newest last, each with the cloud round it belongs to. Read this rather
    /// than pairing <see cref="EdgeRounds"/> with <see cref="CloudRoundsStarted"/>: a poller can see a new cloud round
    /// start before it has seen the last edge rounds of the previous one.
    /// </summary>
    public IReadOnlyList<EdgeRoundEntry> EdgeRoundEntries
    {
        get
        {
            lock (_gate)
            {
                return [.. _rounds];
            }
        }
    }

    /// <summary>Cloud rounds this process has started working on.</summary>
    public int CloudRoundsStarted { get; private set; }

    /// <summary>Edge rounds of the current cloud round that were already done (found in the checkpoint) when it began; 0 for a fresh cloud round.</summary>
    public int ResumedEdgeRounds { get; private set; }

    /// <summary>k2 in effect for the current cloud round.</summary>
    public int CurrentEdgeRoundsPerCloudRound { get; private set; }

    /// <summary>k1 in effect for the current cloud round, or null when the edge coordinator's setting is not known.</summary>
    public int? CurrentLocalSteps { get; private set; }

    /// <inheritdoc />
    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        long start = _time.GetTimestamp();
        int k2 = Override(request, EdgeAggregatorOptions.EdgeRoundsKey) ?? _options.EdgeRoundsPerCloudRound;
        int? k1 = Override(request, EdgeAggregatorOptions.LocalStepsKey);
        if (k1 is int steps && _edgeOptions is not null)
        {
            _edgeOptions.HyperParameters = _edgeOptions.HyperParameters with { LocalIterations = steps };
        }
        else if (_edgeOptions is not null && _edgeOptions.HyperParameters.LocalIterations != _configuredLocalSteps)
        {
            _edgeOptions.HyperParameters = _edgeOptions.HyperParameters with { LocalIterations = _configuredLocalSteps };
        }

        string cloudHash = request.GlobalParameters.ComputeHash();
        EdgeCheckpoint? saved = _options.StateFile is { } file ? EdgeCheckpoint.Read(file) : null;
        long atStart = _edge.CompletedRounds;
        int completed = 0;
        long samples = 0;
        double loss = double.NaN;
        if (saved is not null && string.Equals(saved.CloudModelHash, cloudHash, StringComparison.Ordinal)
            && _edge.CompletedRounds > saved.EdgeRoundAtStart && _edge.CompletedRounds - saved.EdgeRoundAtStart <= k2)
        {
            // The same cloud round, interrupted: the edge coordinator resumed from the model of its last completed edge round.
            atStart = saved.EdgeRoundAtStart;
            completed = (int)(_edge.CompletedRounds - saved.EdgeRoundAtStart);
            samples = saved.SampleCount;
            loss = saved.Loss;
        }
        else
        {
            _edge.ResetGlobalParameters(request.GlobalParameters);
        }

        int cloudOrdinal = ++CloudRoundsStarted;
        ResumedEdgeRounds = completed;
        CurrentEdgeRoundsPerCloudRound = k2;
        CurrentLocalSteps = _edgeOptions?.HyperParameters.LocalIterations ?? request.HyperParameters.LocalIterations;
        Save(cloudHash, atStart, k2, k1, samples, loss);

        int failed = 0;
        long bytesUp = 0, bytesDown = 0;
        string? lastFailure = null;
        while (completed < k2)
        {
            RoundResult round = await _edge.RunRoundAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _rounds.Add(new EdgeRoundEntry(cloudOrdinal, round));
            }

            bytesUp += round.BytesUp;
            bytesDown += round.BytesDown;
            if (round.Completed)
            {
                completed++;
                samples = round.SampleCount;
                loss = round.TrainingLoss ?? double.NaN;
                Save(cloudHash, atStart, k2, k1, samples, loss);
                continue;
            }

            lastFailure = round.FailureReason;
            if (++failed > _options.MaxFailedEdgeRounds)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The edge completed {completed} of {k2} edge rounds; {failed} failed (last: {lastFailure})."));
            }
        }

        var metrics = new Dictionary<string, double>(EdgeDeviceSummary.Of(_edge).ToMetrics(), StringComparer.Ordinal)
        {
            ["edge_rounds"] = completed,
            ["edge_failed_rounds"] = failed,
            ["edge_resumed_rounds"] = ResumedEdgeRounds,
            ["edge_bytes_up"] = bytesUp,
            ["edge_bytes_down"] = bytesDown,
        };
        return new TrainingResult
        {
            Parameters = _edge.GlobalParameters.Clone(),
            SampleCount = samples,
            Steps = completed,
            Loss = loss,
            Duration = _time.GetElapsedTime(start),
            Metrics = metrics,
        };
    }

    /// <inheritdoc />
    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
        _evaluator.EvaluateAsync(parameters, data, cancellationToken);

    private static int? Override(TrainingRequest request, string key) =>
        request.HyperParameters.Extra.TryGetValue(key, out string? text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= 1 ? value : null;

    private void Save(string cloudHash, long atStart, int k2, int? k1, long samples, double loss)
    {
        if (_options.StateFile is { } file)
        {
            new EdgeCheckpoint(cloudHash, atStart, k2, k1, samples, loss).Write(file);
        }
    }
}

/// <summary>One edge round run by an <see cref="EdgeAggregator"/> and the cloud round it ran in.</summary>
/// <param name="CloudRoundOrdinal">Which cloud round of this process's life the edge round belongs to: 1 for the first cloud task it trained, and so on (the value <see cref="EdgeAggregator.CloudRoundsStarted"/> had while it ran).</param>
/// <param name="Result">The edge round's outcome.</param>
public readonly record struct EdgeRoundEntry(int CloudRoundOrdinal, RoundResult Result);
