using System.Globalization;
using FedEdge.Aggregation;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// The simulation's aggregation strategy: created from <see cref="SimulationConfig.Strategy"/> and
/// <see cref="SimulationConfig.ByzantineCount"/>, and checked against the devices that can train before any
/// round runs, so a strategy whose bound cannot hold (Krum with f = 1 and four devices) is refused with a reason.
/// </summary>
internal static class SimulationStrategy
{
    /// <summary>Creates the configured strategy.</summary>
    /// <exception cref="ArgumentException">The strategy name is unknown or its settings are invalid.</exception>
    public static IAggregationStrategy Create(SimulationConfig config) =>
        AggregationStrategies.Create(config.Strategy, Options(config));

    /// <summary>The aggregation settings of the simulation, also used by its committee's validators to recompute each round.</summary>
    public static AggregationOptions Options(SimulationConfig config) =>
        new() { ByzantineCount = config.ByzantineCount, BucketSize = config.BucketSize, PreAggregation = config.Mixing };

    /// <summary>
    /// Why <paramref name="strategy"/> cannot run in this simulation, as one sentence for the command line, or null:
    /// secure aggregation with a strategy that needs each update, or fewer training devices than its bound needs.
    /// </summary>
    /// <param name="config">The simulation.</param>
    /// <param name="strategy">The strategy created by <see cref="Create"/>.</param>
    /// <param name="dataName">How to name the device folder in the sentence, e.g. "the demo".</param>
    /// <exception cref="DataFormatException">A device file cannot be read (only read for an autoencoder with a bound above one update).</exception>
    public static string? Problem(SimulationConfig config, IAggregationStrategy strategy, string dataName)
    {
        AggregationRequirements requirements = strategy.Requirements;
        if (config.SecureAggregation && requirements.CheckSecureAggregation() is string secure)
        {
            return secure;
        }

        if (requirements.MinimumUpdates <= 1)
        {
            return null;
        }

        (int training, int files) = TrainingDevices(config);
        if (requirements.Check(training) is null)
        {
            return null;
        }

        string fWithName = requirements.Rule.Contains('f', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"{strategy.Name} with f = {requirements.ByzantineTolerance}")
            : strategy.Name;
        string has = training == files
            ? string.Create(CultureInfo.InvariantCulture, $"{dataName} has {training}")
            : string.Create(CultureInfo.InvariantCulture, $"{dataName} has {training} that can train ({files - training} of its {files} devices have no benign rows for the autoencoder)");
        string advice = LargestTolerance(config, training) is int f && f < config.ByzantineCount
            ? string.Create(CultureInfo.InvariantCulture, $"use --byzantine {f} or add devices with --data")
            : "add devices with --data or use a strategy without this bound, such as median";
        return string.Create(CultureInfo.InvariantCulture, $"{fWithName} needs at least {requirements.MinimumUpdates} devices ({requirements.Rule}), but {has}; {advice}");
    }

    /// <summary>
    /// The devices that train in the simulation (one per device file; with the autoencoder, only those with benign
    /// rows in their training split), and the number of device files.
    /// </summary>
    private static (int Training, int Files) TrainingDevices(SimulationConfig config)
    {
        IReadOnlyList<string> files = DataSets.Files(config.DataDirectory);
        int k = Math.Max(1, config.SplitDevices);
        if (!ModelCatalog.GetSpec(config.Model).IsAutoencoder)
        {
            return (files.Count * k, files.Count * k);
        }

        // The autoencoder trains on benign rows only: count the devices the simulation will let train, the same way it splits them.
        int training = DataSets.ReadDirectory(config.DataDirectory, config.DataSet).Partitions
            .Count(p => DataSplits.StratifiedSplit(p.Data, config.TestFraction, config.Seed).Train.IndicesWithLabel(0).Count > 0);
        return (training * k, files.Count * k);
    }

    /// <summary>The largest f ≤ the configured one for which the strategy's bound holds with <paramref name="devices"/> devices, or null.</summary>
    private static int? LargestTolerance(SimulationConfig config, int devices)
    {
        for (int f = config.ByzantineCount; f >= 0; f--)
        {
            if (Create(config with { ByzantineCount = f }).Requirements.Check(devices) is null)
            {
                return f;
            }
        }

        return null;
    }
}
