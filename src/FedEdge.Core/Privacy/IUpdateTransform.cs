namespace FedEdge.Privacy;

/// <summary>
/// Changes a model update in place before it leaves its producer: a worker applies it to its delta
/// before encoding and sending (local or distributed differential privacy: clipping, noise), and a
/// coordinator may apply one to each received update before aggregating (central DP clipping).
/// Transforms run in registration order.
/// </summary>
public interface IUpdateTransform
{
    /// <summary>A short stable name for logs and metrics (e.g. <c>dp.gaussian</c>).</summary>
    string Name { get; }

    /// <summary>Transforms <paramref name="update"/> in place.</summary>
    /// <param name="update">The update's values (normally a delta from the round's global parameters).</param>
    /// <param name="context">The round, the sender and a metrics sink the transform may write to.</param>
    void Apply(ParameterSet update, UpdateTransformContext context);
}

/// <summary>What an <see cref="IUpdateTransform"/> knows about the update it changes.</summary>
public sealed class UpdateTransformContext
{
    /// <summary>The round the update answers.</summary>
    public required long Round { get; init; }

    /// <summary>The device that produced the update.</summary>
    public required string SenderId { get; init; }

    /// <summary>The number of samples behind the update.</summary>
    public long SampleCount { get; init; }

    /// <summary>
    /// The round's global parameters the update was trained from, when the engine knows them (the coordinator's
    /// plaintext round does); null otherwise.
    /// </summary>
    public ParameterSet? GlobalParameters { get; init; }

    /// <summary>
    /// Values the transform reports (e.g. <c>dp.l2_norm</c>, <c>dp.unclipped</c> = 1 when the update
    /// was within the clipping norm, used by adaptive clipping). The engine copies them into
    /// <see cref="ModelUpdate.Metrics"/>.
    /// </summary>
    public IDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>(StringComparer.Ordinal);
}
