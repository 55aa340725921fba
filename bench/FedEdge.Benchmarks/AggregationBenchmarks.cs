using BenchmarkDotNet.Attributes;
using FedEdge.Aggregation;

namespace FedEdge.Benchmarks;

/// <summary>
/// BenchmarkDotNet view of one aggregation round (fold every update, then finalise), for allocation and timing
/// detail beyond the quick <c>aggregate</c> mode. Run with <c>--filter *AggregationBenchmarks*</c>.
/// </summary>
[MemoryDiagnoser]
public class AggregationBenchmarks
{
    private ParameterSet _global = null!;
    private ModelUpdate[] _pool = null!;

    /// <summary>The strategy under test.</summary>
    [Params("fedavg", "fedadam", "median", "krum")]
    public string Strategy { get; set; } = "fedavg";

    /// <summary>Updates per round.</summary>
    [Params(10, 50)]
    public int Clients { get; set; }

    /// <summary>Parameters per update.</summary>
    [Params(65536)]
    public int Parameters { get; set; }

    /// <summary>Builds the global model and a small pool of distinct updates reused by every client.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var layout = new ParameterLayout(new TensorSpec("w", Parameters));
        var random = new Random(7);
        _global = new ParameterSet(layout);
        _pool = Enumerable.Range(0, 4).Select(i =>
        {
            var set = new ParameterSet(layout);
            for (int j = 0; j < set.Length; j++)
            {
#pragma warning disable CA5394 // benchmark data
                set.Values[j] = (float)random.NextDouble();
#pragma warning restore CA5394
            }

            return new ModelUpdate { SenderId = $"c{i}", Round = 1, Nonce = "n", SampleCount = 10 + i, Values = set };
        }).ToArray();
    }

    /// <summary>One round.</summary>
    [Benchmark]
    public ParameterSet Round()
    {
        IAggregationStrategy strategy = AggregationStrategies.Create(Strategy);
        using IAggregationRound round = strategy.BeginRound(_global);
        for (int i = 0; i < Clients; i++)
        {
            round.Add(_pool[i % _pool.Length] with { SenderId = $"client-{i}" });
        }

        return round.Complete().Parameters;
    }
}
