using FedEdge.Privacy;

namespace FedEdge.Coordination;

// Privacy settings of the engines, kept apart from the core settings: differential privacy (update and
// aggregate transforms, the accountant) and secure aggregation (the coordinator never sees one update).

/// <content>Differential privacy and secure aggregation settings of the coordinator.</content>
public sealed partial class CoordinatorOptions
{
    /// <summary>
    /// Transforms applied, in order, to each round's aggregate model change (new global − old global)
    /// before it becomes the next global model: central differential privacy (Gaussian noise).
    /// </summary>
    public IList<IAggregateTransform> AggregateTransforms { get; } = [];

    /// <summary>
    /// Tracks the privacy spent; stepped once per completed round with the round's actual sampling rate
    /// (selected devices / admitted devices) and <see cref="DpNoiseMultiplier"/>. Its (ε, δ) is reported in
    /// <see cref="RoundResult.Privacy"/>, and training stops before a round would exceed its budget. Null disables accounting.
    /// </summary>
    public IPrivacyAccountant? PrivacyAccountant { get; set; }

    /// <summary>The noise multiplier σ/C of the Gaussian mechanism the rounds use (central, local or distributed noise); required with <see cref="PrivacyAccountant"/>.</summary>
    public double? DpNoiseMultiplier { get; set; }

    /// <summary>
    /// Secure aggregation: when set, selected workers send masked updates over the transport's protocol
    /// channel and the coordinator only learns their sample-weighted sum. The workers must use secure
    /// aggregation too, and the transport must carry protocol messages. Null aggregates plaintext updates.
    /// </summary>
    public ISecureAggregationCoordinator? SecureAggregation { get; set; }

    private void ValidatePrivacy()
    {
        Require(PrivacyAccountant is null || DpNoiseMultiplier is not null, nameof(DpNoiseMultiplier), "must be set when a PrivacyAccountant is");
        Require(DpNoiseMultiplier is null || (DpNoiseMultiplier > 0 && double.IsFinite(DpNoiseMultiplier.Value)), nameof(DpNoiseMultiplier), "must be positive and finite");
        Require(AggregateTransforms.All(t => t is not null), nameof(AggregateTransforms), "must not contain null");
    }
}

/// <content>Differential privacy and secure aggregation settings of the worker.</content>
public sealed partial class WorkerOptions
{
    /// <summary>
    /// Transforms applied, in order, to the update's delta (trained − global) before it leaves the device:
    /// L2 clipping and local or distributed Gaussian noise. When any is set (or secure aggregation is on)
    /// the worker sends a <see cref="UpdateKind.Delta"/> update instead of its parameters.
    /// </summary>
    public IList<IUpdateTransform> UpdateTransforms { get; } = [];

    /// <summary>
    /// Secure aggregation: when set, the worker takes part in the coordinator's secure-aggregation round
    /// over the transport's protocol channel instead of sending its update in the clear. Its input is the
    /// transformed delta times its sample count, followed by the sample count and the loss times the sample count.
    /// </summary>
    public ISecureAggregationWorker? SecureAggregation { get; set; }

    /// <summary>
    /// Weight this device's delta 1 in the aggregate instead of its sample count (a uniform mean). Use it with
    /// differential privacy: the Gaussian mechanism's sensitivity C/n and the accountant assume equal weights,
    /// which sample-count weights would break. Only applies when the worker sends a delta.
    /// </summary>
    public bool UniformAggregationWeight { get; set; }

    /// <summary>True when the worker sends a delta rather than its trained parameters.</summary>
    internal bool SendsDelta => UpdateTransforms.Count > 0 || SecureAggregation is not null;

    private void ValidatePrivacy()
    {
        if (UpdateTransforms.Any(t => t is null))
        {
            throw new ArgumentException("WorkerOptions.UpdateTransforms must not contain null.");
        }
    }
}

/// <content>Privacy outcome of a round.</content>
public sealed partial record RoundResult
{
    /// <summary>The privacy spent after this round (ε for the accountant's δ, rounds, budget), or null without a privacy accountant.</summary>
    public PrivacySpent? Privacy { get; init; }

    /// <summary>ε spent after this round, or null without a privacy accountant.</summary>
    public double? Epsilon => Privacy?.Epsilon;

    /// <summary>True when the round's aggregate came from secure aggregation (the coordinator saw no individual update).</summary>
    public bool SecureAggregation { get; init; }

    /// <summary>Secure-aggregation participants that dropped after sharing their keys and whose masks were removed.</summary>
    public IReadOnlyList<string> RecoveredDropouts { get; init; } = [];

    /// <summary>The per-coordinate error bound of the securely aggregated mean update (quantisation), or null for plaintext rounds.</summary>
    public double? SecureAggregationErrorBound { get; init; }

    /// <summary>Values the aggregate transforms reported (e.g. <c>dp.noise_stddev</c>).</summary>
    public IReadOnlyDictionary<string, double> PrivacyMetrics { get; init; } = new Dictionary<string, double>();
}
