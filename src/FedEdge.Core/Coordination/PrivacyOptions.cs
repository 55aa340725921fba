using FedEdge.Privacy;

namespace FedEdge.Coordination;

// Privacy settings of the engines, kept apart from the core settings: differential privacy (update and
// aggregate transforms, the accountant) and secure aggregation (the coordinator never sees one update).

/// <content>Differential privacy settings of the coordinator (the ports themselves come through the constructor).</content>
public sealed partial class CoordinatorOptions
{
    /// <summary>
    /// The noise multiplier σ/C of the Gaussian mechanism the rounds use (central, local or distributed noise);
    /// the registered <see cref="IPrivacyAccountant"/> is stepped with it once per completed round. Required when
    /// an accountant is registered (<c>AddDifferentialPrivacyCoordinator</c> sets it from its options).
    /// </summary>
    public double? DpNoiseMultiplier { get; set; }

    private void ValidatePrivacy()
    {
        Require(DpNoiseMultiplier is null || (DpNoiseMultiplier > 0 && double.IsFinite(DpNoiseMultiplier.Value)), nameof(DpNoiseMultiplier), "must be positive and finite");
    }
}

/// <content>Differential privacy settings of the worker.</content>
public sealed partial class WorkerOptions
{
    /// <summary>
    /// Weight this device's delta 1 in the aggregate instead of its sample count (a uniform mean). Use it with
    /// differential privacy: the Gaussian mechanism's sensitivity C/n and the accountant assume equal weights,
    /// which sample-count weights would break. Only applies when the worker sends a delta.
    /// </summary>
    public bool UniformAggregationWeight { get; set; }
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
