using System.Globalization;

namespace FedEdge.Aggregation;

/// <summary>
/// Creates the built-in aggregation strategies by name or by typed method. Streaming strategies
/// (FedAvg, FedSGD, FedProx, FedAvgM, FedAdam, FedYogi, FedAdagrad) keep O(parameters) memory per round;
/// robust ones (Median, TrimmedMean, Krum, Multi-Krum, Bulyan) keep every update, bounded by
/// <see cref="AggregationOptions.MaxUpdates"/>. A third party adds its own by implementing <see cref="IAggregationStrategy"/>.
/// </summary>
public static class AggregationStrategies
{
    /// <summary>Sample-weighted federated averaging (McMahan et al.).</summary>
    public const string FedAvgName = "fedavg";

    /// <summary>Federated SGD: clients take one local step; the server applies the weighted mean step.</summary>
    public const string FedSgdName = "fedsgd";

    /// <summary>FedAvg with server momentum (Hsu et al.).</summary>
    public const string FedAvgMName = "fedavgm";

    /// <summary>Adam as the server optimiser (Reddi et al.).</summary>
    public const string FedAdamName = "fedadam";

    /// <summary>Yogi as the server optimiser (Reddi et al.).</summary>
    public const string FedYogiName = "fedyogi";

    /// <summary>Adagrad as the server optimiser (Reddi et al.).</summary>
    public const string FedAdagradName = "fedadagrad";

    /// <summary>FedAvg on the server plus a client-side proximal term μ (Li et al.).</summary>
    public const string FedProxName = "fedprox";

    /// <summary>Coordinate-wise median (Yin et al.).</summary>
    public const string MedianName = "median";

    /// <summary>Coordinate-wise β-trimmed mean (Yin et al.).</summary>
    public const string TrimmedMeanName = "trimmedmean";

    /// <summary>Krum (Blanchard et al.).</summary>
    public const string KrumName = "krum";

    /// <summary>Multi-Krum (Blanchard et al.).</summary>
    public const string MultiKrumName = "multikrum";

    /// <summary>Bulyan (El Mhamdi et al.).</summary>
    public const string BulyanName = "bulyan";

    /// <summary>Every built-in name, as accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        FedAvgName, FedSgdName, FedAvgMName, FedAdamName, FedYogiName, FedAdagradName, FedProxName,
        MedianName, TrimmedMeanName, KrumName, MultiKrumName, BulyanName,
    ];

    /// <summary>Creates a built-in strategy by name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The name is unknown or the options are invalid (including a bound such as Krum's n &gt; 2f + 2 that <see cref="AggregationOptions.MaxUpdates"/> could never hold).</exception>
    public static IAggregationStrategy Create(string name, AggregationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        AggregationOptions o = (options ?? new AggregationOptions()).Clone();
        string key = name.Trim().ToLowerInvariant();
        o.Strategy = key;
        o.ThrowIfInvalid();
        IAggregationStrategy strategy = key switch
        {
            FedAvgName => new StreamingStrategy(key, ServerOptimizer.Sgd, o, 1.0),
            FedSgdName => new StreamingStrategy(key, ServerOptimizer.Sgd, o, 1.0, localIterations: 1),
            FedProxName => new StreamingStrategy(key, ServerOptimizer.Sgd, o, 1.0, proximalMu: o.ProximalMu),
            FedAvgMName => new StreamingStrategy(key, ServerOptimizer.Momentum, o, 1.0),
            FedAdamName => new StreamingStrategy(key, ServerOptimizer.Adam, o, 0.1),
            FedYogiName => new StreamingStrategy(key, ServerOptimizer.Yogi, o, 0.1),
            FedAdagradName => new StreamingStrategy(key, ServerOptimizer.Adagrad, o, 0.1),
            MedianName => new RobustStrategy(key, RobustRule.Median, o),
            TrimmedMeanName => new RobustStrategy(key, RobustRule.TrimmedMean, o),
            KrumName => new RobustStrategy(key, RobustRule.Krum, o),
            MultiKrumName => new RobustStrategy(key, RobustRule.MultiKrum, o),
            BulyanName => new RobustStrategy(key, RobustRule.Bulyan, o),
            _ => throw new ArgumentException($"Unknown aggregation strategy '{name}'; use one of {string.Join(", ", Names)}.", nameof(name)),
        };
        AggregationRequirements requirements = strategy.Requirements;
        if (requirements.MinimumUpdates > o.MaxUpdates)
        {
            throw new ArgumentException(string.Create(
                CultureInfo.InvariantCulture,
                $"Invalid aggregation options: strategy '{key}' with f = {requirements.ByzantineTolerance} needs at least {requirements.MinimumUpdates} updates ({requirements.Rule}), but MaxUpdates lets a round keep only {o.MaxUpdates}; raise MaxUpdates or lower ByzantineCount."));
        }

        return strategy;
    }

    /// <summary>Sample-weighted FedAvg: the new global model is Σ nₖxₖ / Σ nₖ.</summary>
    public static IAggregationStrategy FedAvg() => Create(FedAvgName);

    /// <summary>FedSGD: asks trainers for one local step and applies the weighted mean step with server rate η.</summary>
    public static IAggregationStrategy FedSgd(double serverLearningRate = 1.0) => Create(FedSgdName, new() { ServerLearningRate = serverLearningRate });

    /// <summary>FedProx: FedAvg on the server; <see cref="IAggregationStrategy.ConfigureTraining"/> sets the trainers' proximal μ.</summary>
    public static IAggregationStrategy FedProx(double mu) => Create(FedProxName, new() { ProximalMu = mu });

    /// <summary>FedAvgM with server momentum β and rate η.</summary>
    public static IAggregationStrategy FedAvgM(double momentum = 0.9, double serverLearningRate = 1.0) =>
        Create(FedAvgMName, new() { ServerMomentum = momentum, ServerLearningRate = serverLearningRate });

    /// <summary>FedAdam with the given settings (null keeps defaults).</summary>
    public static IAggregationStrategy FedAdam(AggregationOptions? options = null) => Create(FedAdamName, options);

    /// <summary>FedYogi with the given settings (null keeps defaults).</summary>
    public static IAggregationStrategy FedYogi(AggregationOptions? options = null) => Create(FedYogiName, options);

    /// <summary>FedAdagrad with the given settings (null keeps defaults).</summary>
    public static IAggregationStrategy FedAdagrad(AggregationOptions? options = null) => Create(FedAdagradName, options);

    /// <summary>Coordinate-wise median; keeps up to <paramref name="maxUpdates"/> updates.</summary>
    public static IAggregationStrategy Median(int maxUpdates = 1000) => Create(MedianName, new() { MaxUpdates = maxUpdates });

    /// <summary>Coordinate-wise mean after trimming ⌊βn⌋ values from each end; keeps up to <paramref name="maxUpdates"/> updates.</summary>
    public static IAggregationStrategy TrimmedMean(double beta, int maxUpdates = 1000) => Create(TrimmedMeanName, new() { TrimFraction = beta, MaxUpdates = maxUpdates });

    /// <summary>Krum tolerating <paramref name="f"/> Byzantine updates (needs n &gt; 2f + 2).</summary>
    public static IAggregationStrategy Krum(int f, int maxUpdates = 1000) => Create(KrumName, new() { ByzantineCount = f, MaxUpdates = maxUpdates });

    /// <summary>Multi-Krum: mean of the <paramref name="m"/> best Krum scores (null: n − f), tolerating <paramref name="f"/>.</summary>
    public static IAggregationStrategy MultiKrum(int f, int? m = null, int maxUpdates = 1000) =>
        Create(MultiKrumName, new() { ByzantineCount = f, SelectionCount = m, MaxUpdates = maxUpdates });

    /// <summary>Bulyan tolerating <paramref name="f"/> Byzantine updates (needs n ≥ 4f + 3).</summary>
    public static IAggregationStrategy Bulyan(int f, int maxUpdates = 1000) => Create(BulyanName, new() { ByzantineCount = f, MaxUpdates = maxUpdates });
}
