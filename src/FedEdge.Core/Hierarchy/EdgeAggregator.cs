using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Hierarchy;

/// <summary>Settings of an <see cref="EdgeAggregator"/>.</summary>
public sealed class EdgeAggregatorOptions
{
    /// <summary>Edge aggregations per cloud aggregation (HierFAVG's k2). The devices' local steps per edge round (k1) are the edge coordinator's hyper-parameters.</summary>
    public int EdgeRoundsPerCloudRound { get; set; } = 1;

    /// <summary>How many failed edge rounds are tolerated per cloud round before the cloud round is reported as failed.</summary>
    public int MaxFailedEdgeRounds { get; set; } = 3;

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
    }
}

/// <summary>
/// An edge (fog) aggregator for hierarchical federated learning (HierFAVG, MicroFL's cloud–fog–edge):
/// a coordinator for its devices and, through this trainer port, a worker towards the cloud. When the
/// cloud sends a round task, the edge starts its devices from the cloud's parameters, runs k2 edge
/// rounds (each device doing k1 local steps), and returns the edge model weighted by its devices'
/// samples. Host it in a <see cref="Worker"/> whose data source is null.
/// </summary>
/// <remarks>
/// Flake's Model-2 (a trusted edge node trains on data uploaded by its devices) needs no special type:
/// run a plain <see cref="Worker"/> at the edge over the devices' pooled rows.
/// </remarks>
public sealed class EdgeAggregator : ITrainer
{
    private readonly Coordinator _edge;
    private readonly ITrainer _evaluator;
    private readonly EdgeAggregatorOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates an edge aggregator over a started edge coordinator.</summary>
    /// <param name="edge">The coordinator of the edge's devices (started, so its layout is known).</param>
    /// <param name="evaluator">A trainer of the same model, used to evaluate on data the edge is given.</param>
    /// <param name="options">k2 and failure tolerance.</param>
    /// <param name="timeProvider">The clock for the reported duration.</param>
    public EdgeAggregator(Coordinator edge, ITrainer evaluator, EdgeAggregatorOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(edge);
        ArgumentNullException.ThrowIfNull(evaluator);
        _edge = edge;
        _evaluator = evaluator;
        _options = options ?? new EdgeAggregatorOptions();
        _time = timeProvider ?? TimeProvider.System;
        _options.Validate();
    }

    /// <inheritdoc />
    public ParameterLayout Layout => _edge.GlobalParameters.Layout;

    /// <summary>The edge rounds run so far, newest last.</summary>
    public IReadOnlyList<RoundResult> EdgeRounds => _rounds;

    private readonly List<RoundResult> _rounds = [];

    /// <inheritdoc />
    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        long start = _time.GetTimestamp();
        _edge.ResetGlobalParameters(request.GlobalParameters);
        int completed = 0, failed = 0;
        long samples = 0;
        double loss = double.NaN;
        string? lastFailure = null;
        while (completed < _options.EdgeRoundsPerCloudRound)
        {
            RoundResult round = await _edge.RunRoundAsync(cancellationToken).ConfigureAwait(false);
            _rounds.Add(round);
            if (round.Completed)
            {
                completed++;
                samples = round.SampleCount;
                loss = round.TrainingLoss ?? double.NaN;
                continue;
            }

            lastFailure = round.FailureReason;
            if (++failed > _options.MaxFailedEdgeRounds)
            {
                throw new InvalidOperationException($"The edge completed {completed} of {_options.EdgeRoundsPerCloudRound} edge rounds; {failed} failed (last: {lastFailure}).");
            }
        }

        return new TrainingResult
        {
            Parameters = _edge.GlobalParameters.Clone(),
            SampleCount = samples,
            Steps = completed,
            Loss = loss,
            Duration = _time.GetElapsedTime(start),
            Metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["edge_rounds"] = completed, ["edge_failed_rounds"] = failed },
        };
    }

    /// <inheritdoc />
    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
        _evaluator.EvaluateAsync(parameters, data, cancellationToken);
}
