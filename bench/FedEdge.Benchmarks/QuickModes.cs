using System.Diagnostics.CodeAnalysis;

namespace FedEdge.Benchmarks;

/// <summary>The registry of quick <c>--json</c> benchmark modes. Each feature area adds its own line.</summary>
internal static class QuickModes
{
    private static readonly Dictionary<string, Func<string[], Task<int>>> Modes = new(StringComparer.Ordinal)
    {
        ["hardware-probe"] = HardwareProbeBench.RunAsync,
        ["secagg"] = SecAggBench.RunAsync,
        ["train"] = TrainBench.RunAsync,
        ["wire"] = WireBench.RunAsync,
        ["round"] = RoundBench.RunAsync,

        // Hidden: the worker processes of `round --worker-processes P` (not a benchmark of its own).
        ["round-workers"] = RoundWorkerHost.RunAsync,
        ["aggregate"] = AggregateBench.RunAsync,
        ["round-privacy"] = RoundPrivacyBench.RunAsync,
        ["hierarchy"] = HierarchyBench.RunAsync,
        ["ledger-cost"] = LedgerCostBench.RunAsync,
    };

    public static bool TryGet(string name, [NotNullWhen(true)] out Func<string[], Task<int>>? mode) => Modes.TryGetValue(name, out mode);
}
