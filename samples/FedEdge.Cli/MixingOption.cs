using System.CommandLine;
using FedEdge.Aggregation;

namespace FedEdge.Cli;

/// <summary>
/// <c>--mixing auto|none|nnm</c> on <c>fededge simulate</c>, <c>coordinator</c> and <c>validator</c>, resolved the same
/// way on all three so that a committee started with defaults recomputes what its coordinator aggregated.
/// </summary>
/// <remarks>
/// <c>auto</c> (the default) picks nearest-neighbour mixing (<see cref="PreAggregation.NearestNeighbourMixing"/>) for
/// the five rules that select updates or take order statistics among them: median, trimmedmean, krum, multikrum and
/// bulyan. Their guarantees assume honest updates drawn from one distribution; on non-IID devices (the demo split:
/// half the devices hold attack rows only) the plain median, krum and bulyan follow the larger like-minded group and
/// never learn the benign rows, attack or not (F1 73.01 on the demo). Mixing each update with its n − f nearest
/// (Allouah et al., "Fixing by Mixing", AISTATS 2023) draws the honest updates together while a Byzantine one moves
/// any mean by at most f / (n − f) of its distance, and it keeps each rule's own bound on n. The trimmed mean and
/// Multi-Krum held up without it on the demo, but their guarantee under heterogeneity is the same composition, and
/// one rule for all five keeps the choice simple to state and to match on validators. <c>auto</c> means no mixing with
/// <c>--bucket-size</c> above 1 (bucketing is the other pre-aggregation; the two do not combine) and for the other
/// strategies, which ignore it. <c>none</c> gives the plain rule.
/// </remarks>
internal static class MixingOption
{
    /// <summary>The option value that resolves per strategy (the default).</summary>
    public const string Auto = "auto";

    /// <summary>The rules <c>auto</c> mixes for.</summary>
    public static readonly IReadOnlySet<string> MixedByDefault = new HashSet<string>(StringComparer.Ordinal)
    {
        AggregationStrategies.MedianName, AggregationStrategies.TrimmedMeanName, AggregationStrategies.KrumName, AggregationStrategies.MultiKrumName, AggregationStrategies.BulyanName,
    };

    /// <summary>The <c>--mixing</c> option with <paramref name="purpose"/> in front of the values' description.</summary>
    public static Option<string> Create(string purpose)
    {
        Option<string> option = new("--mixing")
        {
            Description = purpose + " auto (default): nnm for median, trimmedmean, krum, multikrum and bulyan, none with --bucket-size above 1 and for every other strategy; nnm replaces each update by the mean of its n - f nearest updates before the rule runs (nearest-neighbour mixing, which keeps the rules working on non-IID devices); none passes the updates as sent (the plain rule).",
            DefaultValueFactory = _ => Auto,
        };
        option.AcceptOnlyFromAmong(Auto, "none", "nnm");
        return option;
    }

    /// <summary>The pre-aggregation <paramref name="value"/> gives for <paramref name="strategy"/> with buckets of <paramref name="bucketSize"/>.</summary>
    public static PreAggregation Resolve(string? value, string strategy, int bucketSize = 1) => value switch
    {
        "nnm" => PreAggregation.NearestNeighbourMixing,
        "none" => PreAggregation.None,
        _ => bucketSize <= 1 && MixedByDefault.Contains(strategy.Trim().ToLowerInvariant()) ? PreAggregation.NearestNeighbourMixing : PreAggregation.None,
    };

    /// <summary>The command-line name of <paramref name="mixing"/> (<c>nnm</c> or <c>none</c>).</summary>
    public static string Name(PreAggregation mixing) => mixing == PreAggregation.NearestNeighbourMixing ? "nnm" : "none";

    /// <summary>How a startup line states the resolved mixing, e.g. <c>mixing nnm (auto)</c>.</summary>
    public static string Describe(string? value, PreAggregation resolved) =>
        "mixing " + Name(resolved) + (value is null or Auto ? " (auto)" : string.Empty);
}
