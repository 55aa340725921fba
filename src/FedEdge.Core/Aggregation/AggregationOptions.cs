using System.Globalization;

namespace FedEdge.Aggregation;

/// <summary>
/// Settings for the built-in aggregation strategies. Each strategy reads only the settings it needs;
/// <see cref="Validate"/> checks them all once, when the strategy is created or the host starts.
/// </summary>
public sealed class AggregationOptions
{
    /// <summary>The strategy name used by dependency injection (one of <see cref="AggregationStrategies.Names"/>). Default <c>fedavg</c>.</summary>
    public string Strategy { get; set; } = AggregationStrategies.FedAvgName;

    /// <summary>
    /// The server learning rate η applied to the averaged pseudo-gradient. Null picks the strategy's
    /// default: 1 for FedAvg, FedSGD, FedProx and FedAvgM (plain averaging), 0.1 for FedAdam, FedYogi, FedAdagrad.
    /// </summary>
    public double? ServerLearningRate { get; set; }

    /// <summary>FedAvgM's server momentum β (0 ≤ β &lt; 1). Default 0.9.</summary>
    public double ServerMomentum { get; set; } = 0.9;

    /// <summary>FedAdam/FedYogi first-moment decay β₁ (0 ≤ β₁ &lt; 1). Default 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>FedAdam/FedYogi second-moment decay β₂ (0 ≤ β₂ &lt; 1). Default 0.99.</summary>
    public double Beta2 { get; set; } = 0.99;

    /// <summary>Adaptivity τ of FedAdam/FedYogi/FedAdagrad (added to √v; the second moment starts at τ²). Default 1e-3.</summary>
    public double Tau { get; set; } = 1e-3;

    /// <summary>FedProx's proximal coefficient μ, copied into <see cref="Training.TrainingHyperParameters.ProximalMu"/>. Default 0.01.</summary>
    public double ProximalMu { get; set; } = 0.01;

    /// <summary>TrimmedMean's β: the fraction trimmed from each end per coordinate (0 ≤ β &lt; 0.5). Default 0.1.</summary>
    public double TrimFraction { get; set; } = 0.1;

    /// <summary>The number f of Byzantine (arbitrary) updates Krum, Multi-Krum and Bulyan tolerate. Default 1.</summary>
    public int ByzantineCount { get; set; } = 1;

    /// <summary>Multi-Krum's m: how many lowest-score updates to average. Null means n − f.</summary>
    public int? SelectionCount { get; set; }

    /// <summary>
    /// Bucketing for the robust strategies (median, trimmedmean, krum, multikrum, bulyan): the round's updates are
    /// shuffled (a seed from the global model and the senders, so every recomputation agrees), cut into buckets of
    /// this many and averaged per bucket; the robust rule then runs on the bucket means with the same f. On non-IID
    /// devices this makes the inputs of the rule look alike, which the rules assume (Karimireddy, He and Jaggi,
    /// "Byzantine-robust learning on heterogeneous datasets via bucketing", ICLR 2022). Krum, Multi-Krum and Bulyan
    /// then need their bound over ⌈n / s⌉ buckets. Default 1 (off).
    /// </summary>
    public int BucketSize { get; set; } = 1;

    /// <summary>
    /// What the robust strategies do to the round's updates before their rule runs; see <see cref="Aggregation.PreAggregation"/>.
    /// <see cref="PreAggregation.NearestNeighbourMixing"/> keeps Krum and Bulyan from following a tight cluster of
    /// non-IID devices and keeps each rule's bound on n (it cannot be combined with <see cref="BucketSize"/> above 1).
    /// Streaming strategies ignore it. Default <see cref="PreAggregation.None"/> (the plain rule).
    /// </summary>
    /// <remarks>
    /// Recommended: <see cref="PreAggregation.NearestNeighbourMixing"/> for median, trimmedmean, krum, multikrum and
    /// bulyan whenever the devices' data differ (non-IID), unless <see cref="BucketSize"/> is above 1. The plain rules
    /// assume honest updates from one distribution; on a split where half the devices hold one class only, the plain
    /// median, Krum and Bulyan follow that group and the model never learns the other class, attack or not. The
    /// <c>fededge</c> CLI's <c>--mixing auto</c> (its default) picks it for these five rules. The library default stays
    /// <see cref="PreAggregation.None"/> so that a host upgrading FedEdge aggregates, and its committee recomputes,
    /// the same models as before; set it explicitly, and give every validator the same value (a round record names the
    /// mixing, and a validator with another refuses the head with <c>mixing-mismatch</c>).
    /// </remarks>
    public PreAggregation PreAggregation { get; set; } = PreAggregation.None;

    /// <summary>
    /// The most updates a robust (non-streaming) strategy keeps in one round; one more is refused with
    /// <see cref="AggregationCapacityExceededException"/>. Bounds memory at MaxUpdates × parameters × 4 bytes. Default 1000.
    /// </summary>
    public int MaxUpdates { get; set; } = 1000;

    /// <summary>Every problem with the settings, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Strategy) || !AggregationStrategies.Names.Contains(Strategy.Trim().ToLowerInvariant()))
        {
            errors.Add($"Strategy '{Strategy}' is unknown; use one of {string.Join(", ", AggregationStrategies.Names)}.");
        }

        if (ServerLearningRate is double eta && !(eta > 0 && double.IsFinite(eta)))
        {
            errors.Add(Format("ServerLearningRate must be a positive finite number but is {0}.", eta));
        }

        CheckUnit(errors, nameof(ServerMomentum), ServerMomentum);
        CheckUnit(errors, nameof(Beta1), Beta1);
        CheckUnit(errors, nameof(Beta2), Beta2);
        if (!(Tau > 0 && double.IsFinite(Tau)))
        {
            errors.Add(Format("Tau must be a positive finite number but is {0}.", Tau));
        }

        if (!(ProximalMu >= 0 && double.IsFinite(ProximalMu)))
        {
            errors.Add(Format("ProximalMu must be zero or positive but is {0}.", ProximalMu));
        }

        if (!(TrimFraction >= 0 && TrimFraction < 0.5))
        {
            errors.Add(Format("TrimFraction must be in [0, 0.5) but is {0}.", TrimFraction));
        }

        if (ByzantineCount < 0)
        {
            errors.Add(Format("ByzantineCount must be zero or positive but is {0}.", ByzantineCount));
        }

        if (SelectionCount is int m && m < 1)
        {
            errors.Add(Format("SelectionCount must be at least 1 but is {0}.", m));
        }

        if (BucketSize < 1)
        {
            errors.Add(Format("BucketSize must be at least 1 but is {0}.", BucketSize));
        }

        if (!Enum.IsDefined(PreAggregation))
        {
            errors.Add(Format("PreAggregation {0} is unknown; use None or NearestNeighbourMixing.", (int)PreAggregation));
        }
        else if (PreAggregation != PreAggregation.None && BucketSize > 1)
        {
            errors.Add(Format("PreAggregation {0} and BucketSize {1} cannot be combined; pick one.", PreAggregation, BucketSize));
        }

        if (MaxUpdates < 1)
        {
            errors.Add(Format("MaxUpdates must be at least 1 but is {0}.", MaxUpdates));
        }

        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> reports a problem.</summary>
    /// <exception cref="ArgumentException">The settings are invalid; the message lists every problem.</exception>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid aggregation options: " + string.Join(" ", errors));
        }
    }

    /// <summary>A copy, so a strategy is not affected by later changes to the options object.</summary>
    public AggregationOptions Clone() => (AggregationOptions)MemberwiseClone();

    private static void CheckUnit(List<string> errors, string name, double value)
    {
        if (!(value >= 0 && value < 1))
        {
            errors.Add(Format("{0} must be in [0, 1) but is {1}.", name, value));
        }
    }

    private static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
