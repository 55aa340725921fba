using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using FedEdge.Aggregation;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>aggregate --strategy NAME --clients N --params P [--runs R] [--f F] [--trim B] [--json]</c>: time to fold N
/// updates of P float32 values into one round and finalise it (median of R runs), the bytes of updates read per
/// second, and, measured in the same process, a plain large-buffer add (<c>acc += x</c> over the same buffers) as the
/// memory-bandwidth baseline. Updates are generated on the fly from a fixed pool of 4 to 16 buffers, so the benchmark
/// itself never holds N updates: peak managed memory shows what the strategy keeps.
/// </summary>
internal static class AggregateBench
{
    private const int MinPool = 4;
    private const int MaxPool = 16;
    private const long PoolTargetBytes = 64L << 20;

    public static Task<int> RunAsync(string[] args)
    {
        string strategyName = "fedavg";
        int clients = 100;
        int parameters = 1 << 20;
        int? runs = null;
        var options = new AggregationOptions();
        int? maxUpdates = null;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                switch (args[i])
                {
                    case "--strategy": strategyName = Next(); break;
                    case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--params": parameters = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--runs": runs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--f": options.ByzantineCount = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--trim": options.TrimFraction = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--max-updates": maxUpdates = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--json": break;
                    default: throw new ArgumentException($"Unknown option '{args[i]}'. Use --strategy, --clients, --params, --runs, --f, --trim, --max-updates, --json.");
                }
            }

            if (clients < 1 || parameters < 1 || runs < 1)
            {
                throw new ArgumentException("--clients, --params and --runs must be at least 1.");
            }

            options.MaxUpdates = maxUpdates ?? Math.Max(options.MaxUpdates, clients);
            IAggregationStrategy probe = AggregationStrategies.Create(strategyName, options);
            if (!probe.IsStreaming && clients > options.MaxUpdates)
            {
                throw new ArgumentException($"'{strategyName}' keeps every update and is bounded at --max-updates {options.MaxUpdates}, fewer than --clients {clients}.");
            }

            // A tiny round with the same client count surfaces a strategy's own preconditions (e.g. Krum's n > 2f + 2).
            var tiny = new ParameterLayout(new TensorSpec("probe", 1));
            Fold(probe, new ParameterSet(tiny), [new ParameterSet(tiny)], clients, probe: null);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or InvalidOperationException)
        {
            Console.Error.WriteLine($"aggregate: {e.Message}");
            return Task.FromResult(2);
        }

        // Enough runs that small rounds are not one scheduler time slice: about 1 GiB of updates in all, 5 to 41 runs.
        double roundBytes = (double)clients * parameters * sizeof(float);
        int chosenRuns = runs ?? (int)Math.Clamp(Math.Ceiling((1 << 30) / roundBytes), 5, 41);
        Console.WriteLine(Measure(strategyName, options, clients, parameters, chosenRuns));
        return Task.FromResult(0);
    }

    private static string Measure(string strategyName, AggregationOptions options, int clients, int parameters, int runs)
    {
        var layout = new ParameterLayout(new TensorSpec("model.weight", parameters));
        var random = new Random(20261122);
        ParameterSet global = Fill(new ParameterSet(layout), random);

        // A fixed pool of update buffers (64 MiB, larger than the CPU caches, for big models), cycled through by
        // the clients: the benchmark's own memory does not grow with --clients, and reads come from memory, not cache.
        int poolSize = (int)Math.Clamp(PoolTargetBytes / ((long)parameters * sizeof(float)), MinPool, MaxPool);
        ParameterSet[] pool = Enumerable.Range(0, poolSize).Select(_ => Fill(new ParameterSet(layout), random)).ToArray();

        WarmUp(strategyName, options, parameters);

        var strategySeconds = new List<double>(runs);
        var baselineSeconds = new List<double>(runs);
        var accumulator = new float[parameters];
        for (int run = 0; run < runs; run++)
        {
            IAggregationStrategy strategy = AggregationStrategies.Create(strategyName, options);
            long start = Stopwatch.GetTimestamp();
            Fold(strategy, global, pool, clients, probe: null);
            strategySeconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);

            // Baseline: the same number of reads of the same buffers, as a plain vectorised add.
            Array.Clear(accumulator);
            start = Stopwatch.GetTimestamp();
            for (int i = 0; i < clients; i++)
            {
                TensorPrimitives.Add(pool[i % pool.Length].Values, accumulator, accumulator);
            }

            baselineSeconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        // One more instrumented (untimed) run for the peak managed heap, sampled after every update.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: false);
        long peak = before;
        Fold(AggregationStrategies.Create(strategyName, options), global, pool, clients, () => peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false)));

        double seconds = Median(strategySeconds);
        double baseline = Median(baselineSeconds);
        double bytes = (double)clients * parameters * sizeof(float);
        double readGbps = bytes / seconds / 1e9;
        double baselineGbps = bytes / baseline / 1e9;
        var result = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["mode"] = "aggregate",
            ["strategy"] = strategyName,
            ["streaming"] = AggregationStrategies.Create(strategyName, options).IsStreaming,
            ["clients"] = clients,
            ["params"] = parameters,
            ["runs"] = runs,
            ["seconds"] = Math.Round(seconds, 6),
            ["read_gbps"] = Math.Round(readGbps, 3),
            ["baseline_copy_gbps"] = Math.Round(baselineGbps, 3),
            ["ratio_to_baseline"] = Math.Round(readGbps / baselineGbps, 3),
            ["peak_managed_mb"] = Math.Round(peak / 1048576.0, 1),
            ["peak_over_start_mb"] = Math.Round((peak - before) / 1048576.0, 1),
            ["update_mb"] = Math.Round(parameters * sizeof(float) / 1048576.0, 2),
            ["bench_pool_mb"] = Math.Round(pool.Length * (double)parameters * sizeof(float) / 1048576.0, 1),
        };
        return JsonSerializer.Serialize(result);
    }

    /// <summary>
    /// System.Numerics.Tensors ships without ready-to-run code, so its kernels start in tier-0 JIT code that is an
    /// order of magnitude slower. Run many small rounds (and baseline adds), then give the background tier-1 JIT time,
    /// so that the measured runs see steady-state code, as a long-running coordinator does after its first rounds.
    /// </summary>
    private static void WarmUp(string strategyName, AggregationOptions options, int parameters)
    {
        // Full-size buffers for the streaming kernels (large spans take other code paths than small ones).
        bool streaming = AggregationStrategies.Create(strategyName, options).IsStreaming;
        var layout = new ParameterLayout(new TensorSpec("warmup", Math.Min(parameters, streaming ? 1 << 20 : 1 << 14)));
        var random = new Random(1);
        ParameterSet global = Fill(new ParameterSet(layout), random);
        ParameterSet[] pool = Enumerable.Range(0, MinPool).Select(_ => Fill(new ParameterSet(layout), random)).ToArray();
        int clients = Math.Min(Math.Max(8, (4 * options.ByzantineCount) + 3), options.MaxUpdates);
        var accumulator = new float[layout.TotalLength];
        for (int pass = 0; pass < 3; pass++)
        {
            for (int round = 0; round < 20; round++)
            {
                Fold(AggregationStrategies.Create(strategyName, options), global, pool, clients, probe: null);
                TensorPrimitives.Add(pool[round % pool.Length].Values, accumulator, accumulator);
            }

            Thread.Sleep(250);
        }
    }

    private static void Fold(IAggregationStrategy strategy, ParameterSet global, ParameterSet[] pool, int clients, Action? probe)
    {
        using IAggregationRound round = strategy.BeginRound(global, new AggregationRoundOptions { Round = 1, ExpectedParticipants = clients });
        for (int i = 0; i < clients; i++)
        {
            round.Add(new ModelUpdate
            {
                SenderId = "client-" + i.ToString(CultureInfo.InvariantCulture),
                Round = 1,
                Nonce = "bench",
                SampleCount = 1 + (i % 97),
                Values = pool[i % pool.Length],
            });
            probe?.Invoke();
        }

        AggregationResult result = round.Complete();
        probe?.Invoke();
        GC.KeepAlive(result);
    }

    private static ParameterSet Fill(ParameterSet set, Random random)
    {
        Span<float> values = set.Values;
        for (int i = 0; i < values.Length; i++)
        {
#pragma warning disable CA5394 // benchmark data, not security
            values[i] = (float)((random.NextDouble() * 2) - 1);
#pragma warning restore CA5394
        }

        return set;
    }

    private static double Median(List<double> values)
    {
        double[] sorted = values.Order().ToArray();
        int n = sorted.Length;
        return (n & 1) == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }
}
