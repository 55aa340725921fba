using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Hierarchy;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>hierarchy --edges E --workers-per-edge W [--params 9473] [--rounds 5] [--k2 1] --json</c>: a HierFAVG federation in
/// one process (in-process transports): a cloud coordinator, E edge aggregators (<see cref="EdgeAggregator"/> in a worker
/// towards the cloud), W no-op workers under each edge. Cloud round 1 (joins, first windows) is not timed; rounds 2..R
/// are reported with the bytes per tier. The baseline in the same run is the flat federation of the same E × W no-op
/// workers on one coordinator: its inbound bytes per round are E × W updates where the cloud's are E.
/// </summary>
internal static class HierarchyBench
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(250);

    public static async Task<int> RunAsync(string[] args)
    {
        int edges = 10, perEdge = 100, count = 9_473, rounds = 5, k2 = 1;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--edges": edges = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--workers-per-edge": perEdge = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--params": count = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--k2": k2 = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": break;
                default:
                    await Console.Error.WriteLineAsync($"hierarchy: unknown argument '{args[i]}'.").ConfigureAwait(false);
                    return 2;
            }
        }

        if (edges < 1 || perEdge < 1 || count < 1 || rounds < 2 || k2 < 1)
        {
            await Console.Error.WriteLineAsync("hierarchy: --edges, --workers-per-edge, --params and --k2 must be positive; --rounds at least 2 (round 1 is not timed).").ConfigureAwait(false);
            return 2;
        }

        var layout = new ParameterLayout(new TensorSpec("w", count));
        List<Sample> hierarchical = await RunHierarchyAsync(edges, perEdge, layout, rounds, k2).ConfigureAwait(false);
        List<Sample> flat = await RunFlatAsync(edges * perEdge, layout, rounds).ConfigureAwait(false);
        Sample[] timedHier = [.. hierarchical.Where(s => s.Round >= 2)];
        Sample[] timedFlat = [.. flat.Where(s => s.Round >= 2)];
        var report = new Dictionary<string, object?>
        {
            ["mode"] = "hierarchy",
            ["transport"] = "inproc",
            ["edges"] = edges,
            ["workers_per_edge"] = perEdge,
            ["devices"] = edges * perEdge,
            ["params"] = count,
            ["k2"] = k2,
            ["rounds"] = rounds,
            ["timed_rounds"] = $"2..{rounds}",
            ["hierarchy"] = Summarize(timedHier),
            ["flat_baseline"] = Summarize(timedFlat),
            ["cloud_inbound_updates_per_round"] = timedHier.Select(s => s.CloudUpdates).Distinct().ToList(),
            ["flat_inbound_updates_per_round"] = timedFlat.Select(s => s.CloudUpdates).Distinct().ToList(),
            ["cloud_to_flat_inbound_bytes_ratio"] = timedFlat.Average(s => s.CloudUp) > 0 ? Math.Round(timedHier.Average(s => s.CloudUp) / timedFlat.Average(s => s.CloudUp), 4) : null,
        };
        Console.WriteLine(JsonSerializer.Serialize(report));
        bool complete = hierarchical.All(s => s.Completed) && flat.All(s => s.Completed) && hierarchical.Count == rounds && flat.Count == rounds;
        return complete ? 0 : 1;
    }

    private static Dictionary<string, object?> Summarize(Sample[] timed) => new()
    {
        ["seconds_per_cloud_round_mean"] = Math.Round(timed.Average(s => s.Seconds), 4),
        ["seconds_per_cloud_round_median"] = Math.Round(timed.Select(s => s.Seconds).Order().ElementAt(timed.Length / 2), 4),
        ["seconds_per_cloud_round"] = timed.Select(s => Math.Round(s.Seconds, 4)).ToList(),
        ["cloud_bytes_up_per_round"] = Math.Round(timed.Average(s => (double)s.CloudUp)),
        ["cloud_bytes_down_per_round"] = Math.Round(timed.Average(s => (double)s.CloudDown)),
        ["edge_tier_bytes_up_per_round"] = Math.Round(timed.Average(s => (double)s.EdgeUp)),
        ["edge_tier_bytes_down_per_round"] = Math.Round(timed.Average(s => (double)s.EdgeDown)),
        ["edge_rounds_per_cloud_round"] = timed.Select(s => s.EdgeRounds).Distinct().ToList(),
    };

    private static CoordinatorOptions Options(string federation, int participants) => new()
    {
        Federation = federation,
        MaxRounds = int.MaxValue,
        MinParticipants = participants,
        WindowSize = participants,
        WindowDuration = TimeSpan.FromMinutes(2),
        RoundTimeout = TimeSpan.FromMinutes(2),
        HeartbeatInterval = Heartbeat,
        MissedHeartbeats = 12,
        ResendDelay = TimeSpan.FromMilliseconds(150),
        MaxResendDelay = TimeSpan.FromMilliseconds(500),
        ResumeFromCheckpoint = false,
        MaxConsecutiveFailures = null,
        Seed = 1,
    };

    private static Worker NoOpWorker(string id, FedEdge.Messaging.IWorkerTransport transport, ITrainer trainer, bool edge) => new(
        Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id, HeartbeatInterval = Heartbeat, ResendDelay = TimeSpan.FromMilliseconds(150), MaxResendDelay = TimeSpan.FromMilliseconds(500) }),
        transport,
        trainer,
        edge ? null : new InMemoryDataSource(new Dataset(new float[2], new float[1], 2)));

    private static async Task<List<Sample>> RunHierarchyAsync(int edges, int perEdge, ParameterLayout layout, int rounds, int k2)
    {
        var cloudNetwork = new InProcessNetwork();
        await using var cloud = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options("cloud", edges)), cloudNetwork.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new AdmitAll());
        await cloud.StartAsync(new ParameterSet(layout)).ConfigureAwait(false);
        var owned = new List<IAsyncDisposable>();
        var aggregators = new List<EdgeAggregator>();
        try
        {
            var starting = new List<Task>();
            for (int e = 0; e < edges; e++)
            {
                var network = new InProcessNetwork();
                var edge = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options("edge" + e.ToString(CultureInfo.InvariantCulture), perEdge)), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new AdmitAll());
                owned.Add(edge);
                await edge.StartAsync(new ParameterSet(layout)).ConfigureAwait(false);
                for (int w = 0; w < perEdge; w++)
                {
                    string id = $"e{e}w{w}";
                    Worker device = NoOpWorker(id, network.CreateWorkerTransport(id), new NoOpTrainer(layout), edge: false);
                    owned.Add(device);
                    starting.Add(device.StartAsync().AsTask());
                }

                var aggregator = new EdgeAggregator(edge, new NoOpTrainer(layout), new EdgeAggregatorOptions { EdgeRoundsPerCloudRound = k2 });
                aggregators.Add(aggregator);
                Worker edgeWorker = NoOpWorker("edge" + e.ToString(CultureInfo.InvariantCulture), cloudNetwork.CreateWorkerTransport("edge" + e.ToString(CultureInfo.InvariantCulture)), aggregator, edge: true);
                owned.Insert(0, edgeWorker);
                starting.Add(edgeWorker.StartAsync().AsTask());
            }

            await Task.WhenAll(starting).ConfigureAwait(false);
            var samples = new List<Sample>();
            var seen = new int[edges];
            for (int r = 1; r <= rounds; r++)
            {
                long start = Stopwatch.GetTimestamp();
                RoundResult result = await cloud.RunRoundAsync().ConfigureAwait(false);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                long up = 0, down = 0;
                int edgeRounds = 0;
                for (int e = 0; e < edges; e++)
                {
                    IReadOnlyList<RoundResult> done = aggregators[e].EdgeRounds;
                    foreach (RoundResult er in done.Skip(seen[e]))
                    {
                        up += er.BytesUp;
                        down += er.BytesDown;
                    }

                    edgeRounds += done.Count - seen[e];
                    seen[e] = done.Count;
                }

                samples.Add(new Sample(r, result.Completed, seconds, result.Participants, result.BytesUp, result.BytesDown, up, down, edges == 0 ? 0 : edgeRounds / edges));
                if (!result.Completed)
                {
                    break;
                }
            }

            return samples;
        }
        finally
        {
            foreach (IAsyncDisposable d in owned)
            {
                await d.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<List<Sample>> RunFlatAsync(int devices, ParameterLayout layout, int rounds)
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options("flat", devices)), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new AdmitAll());
        await coordinator.StartAsync(new ParameterSet(layout)).ConfigureAwait(false);
        var workers = new List<Worker>();
        try
        {
            for (int w = 0; w < devices; w++)
            {
                workers.Add(NoOpWorker("w" + w.ToString(CultureInfo.InvariantCulture), network.CreateWorkerTransport("w" + w.ToString(CultureInfo.InvariantCulture)), new NoOpTrainer(layout), edge: false));
            }

            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask())).ConfigureAwait(false);
            var samples = new List<Sample>();
            for (int r = 1; r <= rounds; r++)
            {
                long start = Stopwatch.GetTimestamp();
                RoundResult result = await coordinator.RunRoundAsync().ConfigureAwait(false);
                samples.Add(new Sample(r, result.Completed, Stopwatch.GetElapsedTime(start).TotalSeconds, result.Participants, result.BytesUp, result.BytesDown, 0, 0, 0));
                if (!result.Completed)
                {
                    break;
                }
            }

            return samples;
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed record Sample(int Round, bool Completed, double Seconds, int CloudUpdates, long CloudUp, long CloudDown, long EdgeUp, long EdgeDown, int EdgeRounds);

    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(AdmissionDecision.Admit());
    }

    /// <summary>Training replaced by a copy of the global model, so a round costs only coordination and transfer.</summary>
    private sealed class NoOpTrainer(ParameterLayout layout) : ITrainer
    {
        public ParameterLayout Layout => layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new TrainingResult { Parameters = request.GlobalParameters.Clone(), SampleCount = Math.Max(1, request.Data.Count), Steps = 0, Loss = 0 });

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
    }
}
