namespace FedEdge.Privacy;

/// <summary>
/// Changes a round's aggregate in place after aggregation and before it becomes the next global
/// model's delta; the coordinator-side hook for central differential privacy (Gaussian noise on
/// the aggregate) and for bookkeeping such as privacy accounting.
/// </summary>
public interface IAggregateTransform
{
    /// <summary>A short stable name for logs and metrics (e.g. <c>dp.central</c>).</summary>
    string Name { get; }

    /// <summary>Transforms <paramref name="aggregate"/> in place.</summary>
    void Apply(ParameterSet aggregate, AggregateTransformContext context);
}

/// <summary>What an <see cref="IAggregateTransform"/> knows about the aggregate it changes.</summary>
public sealed class AggregateTransformContext
{
    /// <summary>The round that produced the aggregate.</summary>
    public required long Round { get; init; }

    /// <summary>How many updates were folded into the aggregate.</summary>
    public required int ContributorCount { get; init; }

    /// <summary>True when the aggregate is the (unweighted) mean of the updates; false when it is their sum.</summary>
    public bool IsMean { get; init; } = true;

    /// <summary>
    /// The round's global parameters (the model the aggregate's change is applied to), or null when the engine does
    /// not pass them. A transform that re-applies a pruning mask derives the round's mask from them.
    /// </summary>
    public ParameterSet? GlobalParameters { get; init; }

    /// <summary>Values the transform reports (e.g. <c>dp.noise_stddev</c>); the engine logs and records them.</summary>
    public IDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>(StringComparer.Ordinal);
}
