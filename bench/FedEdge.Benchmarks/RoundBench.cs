using System.Globalization;
using System.Text.Json;
using FedEdge.Training;
using FedEdge.Transport.Faults;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>round --workers 100 --params 100000 --transport inproc|mqtt|mosquitto|grpc [--rounds 10] [--faults SPEC]
/// [--fault-ends both|workers] [--timeout-s 600] [--resend-ms 150] [--broker mqtt://host:port] [--tls [--pairs N] [--warmup-pairs W]] [--chunk-kb 64] [--chunk-size BYTES] [--resend-hold-ms 2000] --json</c>: Core's coordinator and workers with training replaced by a
/// no-op, so a round costs only coordination and transfer. One federation runs R rounds; round 1 (joins, first window)
/// is not timed, rounds 2..R are reported (mean, median, each round) with their re-sends. With <c>--faults</c>
/// (e.g. <c>drop=0.5</c>, the spec of <see cref="FaultOptions.Parse"/>) a loss-free baseline federation and a lossy
/// one run in the same process, and <c>lossy_to_lossfree_ratio</c> is the ratio of their median round seconds.
/// <c>--fault-ends workers</c> (the default, as <c>fededge simulate --faults</c> does) decorates only the workers' transports, both directions,
/// so <c>drop=P</c> loses a share P of the messages; <c>both</c> also decorates the coordinator's, so each message crosses two decorators.
/// <c>--chunk-kb</c> and <c>--resend-hold-ms</c> set the plain gRPC transports' frame size and task re-send hold (GrpcCoordinatorOptions.TaskResendHold; 0 sends every re-send).
/// <c>mosquitto</c> needs <c>--broker</c> pointing at a broker that allows anonymous clients.
/// <c>mqtt</c> and <c>mosquitto</c> also run the raw floor (<see cref="RawMqttBaseline"/>) and report <c>overhead_vs_raw</c>;
/// <c>--no-raw</c> skips it, <c>--raw-only</c> runs only it, <c>--raw-concurrency N</c> (default 4) feeds N workers at once.
/// <c>--dashboard [--pairs N]</c> runs the federation again with the dashboard host and a connected SignalR client
/// (<see cref="DashboardBenchHost"/>), alternating N baseline/dashboard pairs, and reports <c>dashboard_to_baseline_median_ratio</c>.
/// <c>--ledger [--pairs N]</c> does the same with the coordinator appending every round to a file-backed transparency log
/// and reports <c>ledger_to_baseline_median_ratio</c>. Every comparison first runs <c>--warmup-pairs W</c> (default 1)
/// untimed baseline/variant pairs (the first federation of the process is the first warm-up baseline), so the JIT's
/// tier-up of both code paths does not land in the timed rounds; they are reported under <c>warmup</c> and not pooled.
/// <c>--worker-processes P</c> (mqtt, mosquitto, grpc) runs the workers in P child processes of this executable (the hidden
/// <c>round-workers</c> verb, <see cref="RoundWorkerHost"/>), so the bench process holds only the coordinator and its
/// transport: <c>coordinator_process_peak_rss_mb</c> is then the coordinator's own, <c>worker_process_peak_rss_mb</c> one
/// figure per child. <c>--heartbeat MS</c> (default 250) and <c>--missed-heartbeats N</c> (default 12) set the liveness
/// window (MS × N); <c>--codec f32|f16|int8|topk:F</c> the federation's update codec.
/// </summary>
internal static class RoundBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        int workers = 100;
        int count = 100_000;
        int rounds = 10;
        int timeoutSeconds = 600;
        string transport = "inproc";
        string? faultSpec = null;
        Uri? broker = null;
        var faultEnds = FaultEnds.Workers;
        bool dashboard = false;
        bool tls = false;
        bool ledger = false;
        int pairs = 1;
        int warmupPairs = 1;
        bool noRaw = false;
        int rawConcurrency = 4;
        bool rawOnly = false;
        int resendMs = 150;
        int? chunkKb = null;
        int? resendHoldMs = null;
        int workerProcesses = 0;
        int heartbeatMs = 250;
        int missedHeartbeats = 12;
        string? codec = null;
        int? chunkSize = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--workers": workers = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--params": count = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--timeout-s": timeoutSeconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--transport": transport = args[++i]; break;
                case "--faults": faultSpec = args[++i]; break;
                case "--fault-ends" when i + 1 < args.Length && Enum.TryParse(args[i + 1], ignoreCase: true, out FaultEnds ends) && Enum.IsDefined(ends): faultEnds = ends; i++; break;
                case "--broker": broker = new Uri(args[++i]); break;
                case "--json": break;
                case "--dashboard": dashboard = true; break;
                case "--tls": tls = true; _ = TlsHandshakeCounter.Instance; break;
                case "--ledger": ledger = true; break;
                case "--pairs": pairs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--warmup-pairs": warmupPairs = Math.Max(0, int.Parse(args[++i], CultureInfo.InvariantCulture)); break;
                case "--no-raw": noRaw = true; break;
                case "--raw-concurrency": rawConcurrency = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--raw-only": rawOnly = true; break;
                case "--resend-ms": resendMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--chunk-kb": chunkKb = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--resend-hold-ms": resendHoldMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--worker-processes": workerProcesses = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--heartbeat": heartbeatMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--missed-heartbeats": missedHeartbeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--codec": codec = args[++i]; break;
                case "--chunk-size": chunkSize = int.Parse(args[++i], CultureInfo.InvariantCulture); break;

                default:
                    await Console.Error.WriteLineAsync($"round: unknown argument '{args[i]}'.").ConfigureAwait(false);
                    return 2;
            }
        }

        if (rounds < 2 || workers < 1 || count < 1 || timeoutSeconds < 1)
        {
            await Console.Error.WriteLineAsync("round: --rounds must be at least 2 (round 1 is not timed); --workers, --params and --timeout-s must be positive.").ConfigureAwait(false);
            return 2;
        }

        if (workerProcesses < 0 || workerProcesses > workers || heartbeatMs < 1 || missedHeartbeats < 1)
        {
            await Console.Error.WriteLineAsync("round: --worker-processes must be between 1 and --workers; --heartbeat (ms) and --missed-heartbeats must be positive.").ConfigureAwait(false);
            return 2;
        }

        if (workerProcesses > 0 && (transport is not ("mqtt" or "mosquitto" or "grpc") || tls || faultSpec is not null))
        {
            await Console.Error.WriteLineAsync("round: --worker-processes needs --transport mqtt, mosquitto or grpc, without --tls or --faults.").ConfigureAwait(false);
            return 2;
        }

        if (codec is not null && !FedEdge.Messaging.UpdateCodecSpec.TryParse(codec, out _, out _, out _))
        {
            await Console.Error.WriteLineAsync($"round: --codec '{codec}' is not f32, f16, int8 or topk:FRACTION.").ConfigureAwait(false);
            return 2;
        }

        if (chunkSize is { } size && (size < 1024 || transport is not ("mqtt" or "mosquitto")))
        {
            await Console.Error.WriteLineAsync("round: --chunk-size (bytes, at least 1024) applies to --transport mqtt or mosquitto.").ConfigureAwait(false);
            return 2;
        }

        if (transport == "mosquitto" && broker is null)
        {
            await Console.Error.WriteLineAsync("round: --transport mosquitto needs --broker mqtt://host:port (anonymous access).").ConfigureAwait(false);
            return 2;
        }

        if (rawOnly)
        {
            if (transport is not ("mqtt" or "mosquitto"))
            {
                await Console.Error.WriteLineAsync("round: --raw-only needs --transport mqtt or mosquitto.").ConfigureAwait(false);
                return 2;
            }

            long bytes = (4L * count) + 1024;
            IReadOnlyList<double> floor = await RawMqttBaseline.RunAsync(transport, broker, workers, bytes, bytes, chunkSize ?? FedEdge.Transport.Wire.WireFraming.DefaultChunkSize, rounds - 1, rawConcurrency).ConfigureAwait(false);
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["mode"] = "raw", ["transport"] = transport, ["workers"] = workers, ["params"] = count, ["raw_mqtt_seconds"] = floor.Select(x => Math.Round(x, 4)).ToList() }));
            return 0;
        }

        if (tls && ((transport != "grpc" && transport != "mqtt") || faultSpec is not null || dashboard))
        {
            await Console.Error.WriteLineAsync("round: --tls compares mutual TLS with signatures against the plain transport: use it with --transport grpc or mqtt (the embedded broker's TLS listener), without --faults or --dashboard.").ConfigureAwait(false);
            return 2;
        }

        FaultOptions? faults = null;
        if (faultSpec is not null && !FaultOptions.TryParse(faultSpec, out faults))
        {
            await Console.Error.WriteLineAsync($"round: --faults '{faultSpec}' is not a fault spec such as drop=0.5,seed=7.").ConfigureAwait(false);
            return 2;
        }

        var settings = new RoundBenchSettings(transport, broker, workers, new ParameterLayout(new TensorSpec("w", count)), rounds, TimeSpan.FromSeconds(timeoutSeconds), faultEnds) {
            ResendDelay = TimeSpan.FromMilliseconds(Math.Max(1, resendMs)),
            GrpcChunkSize = chunkKb * 1024,
            GrpcTaskResendHold = resendHoldMs is int hold ? TimeSpan.FromMilliseconds(Math.Max(0, hold)) : null,
            WorkerProcesses = workerProcesses,
            Heartbeat = TimeSpan.FromMilliseconds(heartbeatMs),
            MissedHeartbeats = missedHeartbeats,
            Codec = codec,
            ChunkSize = chunkSize,
        };
        FederationRun lossFree;
        long heapPeak;
        using (var sampler = new MemorySampler())
        {
            lossFree = await RoundBenchFederation.RunAsync(settings, faults: null).ConfigureAwait(false);
            heapPeak = sampler.Stop();
        }

        // The raw floor: the same bytes through the same kind of broker with plain MQTTnet publishes (no FedEdge).
        IReadOnlyList<double>? raw = null;
        if (!noRaw && transport is "mqtt" or "mosquitto")
        {
            long perWorker = (4L * count) + 1024;
            raw = await RawMqttBaseline.RunAsync(transport, broker, workers, perWorker, perWorker, chunkSize ?? FedEdge.Transport.Wire.WireFraming.DefaultChunkSize, rounds - 1, rawConcurrency).ConfigureAwait(false);
        }

        FederationRun? lossy = faults is null ? null : await RoundBenchFederation.RunAsync(settings, faults).ConfigureAwait(false);

        var report = new Dictionary<string, object?>
        {
            ["mode"] = "round",
            ["transport"] = transport,
            ["workers"] = workers,
            ["params"] = count,
            ["rounds"] = rounds,
            ["timed_rounds"] = $"2..{rounds}",
            ["lossfree"] = Summarize(lossFree),
            ["process_peak_rss_mb"] = Math.Round(PeakRssBytes() / 1048576.0, 1),
            ["managed_heap_peak_mb"] = Math.Round(heapPeak / 1048576.0, 1),
            ["heartbeat_ms"] = heartbeatMs,
            ["missed_heartbeats"] = missedHeartbeats,
            ["codec"] = codec ?? "f32",
        };
        if (lossFree.WorkerProcesses is { } children)
        {
            // The bench process held only the coordinator (and its broker or Kestrel host) while the federation ran.
            report["worker_processes"] = children.Count;
            report["coordinator_process_peak_rss_mb"] = lossFree.CoordinatorProcessPeakRssBytes is long rss ? Math.Round(rss / 1048576.0, 1) : null;
            report["worker_process_peak_rss_mb"] = children.Select(c => c.PeakRssBytes is long b ? Math.Round(b / 1048576.0, 1) : (double?)null).ToList();
            report["worker_process_workers"] = children.Select(c => c.Workers).ToList();
            report["worker_process_cpu_seconds"] = children.Select(c => c.CpuSeconds is double v ? Math.Round(v, 2) : (double?)null).ToList();
            report["worker_process_update_resends"] = children.Select(c => c.UpdateResends).ToList();
            report["worker_process_exit_codes"] = children.Select(c => c.ExitCode).ToList();
        }
        if (raw is not null)
        {
            double rawMedian = raw.Order().ElementAt(raw.Count / 2);
            double? ours = Median(Timed(lossFree));
            report["raw_mqtt_seconds"] = raw.Select(x => Math.Round(x, 4)).ToList();
            report["raw_mqtt_seconds_median"] = Math.Round(rawMedian, 4);
            report["overhead_vs_raw"] = ours is null || rawMedian <= 0 ? null : Math.Round(ours.Value / rawMedian, 3);
        }
        if (lossy is not null)
        {
            report["faults"] = faults!.ToString();
            report["fault_ends"] = faultEnds.ToString().ToLowerInvariant();
            report["lossy"] = Summarize(lossy);
            double? baseline = Median(Timed(lossFree));
            double? lossyMedian = Median(Timed(lossy));
            report["lossy_to_lossfree_ratio"] = baseline is > 0 && lossyMedian is not null ? Math.Round(lossyMedian.Value / baseline.Value, 3) : null;
        }

        // Each comparison (--tls, --dashboard, --ledger) alternates baseline and variant federations --pairs times, so
        // load from other processes falls on both alike, and pools the timed rounds of each kind.
        var failed = new List<FederationRun>();
        if (tls)
        {
            (FederationRun plain, FederationRun secured, var warmup) = await AlternateAsync(lossFree, settings, pairs, warmupPairs, failed, () => RoundBenchFederation.RunAsync(settings with { Tls = true }, faults: null)).ConfigureAwait(false);
            report["pairs"] = Math.Max(1, pairs);
            report["warmup_pairs"] = warmupPairs;
            report["warmup"] = Warmups(warmup, "plain", "tls");
            report["plain_pooled"] = Summarize(plain);
            report["tls"] = Summarize(secured);
            report["tls_to_plain_median_ratio"] = MedianRatio(secured, plain);
            (double signMs, double verifyMs, double digestMs) = BenchPki.MeasureSigning(count, iterations: 51);
            report["per_update_ms"] = new Dictionary<string, double> { ["digest"] = digestMs, ["sign"] = signMs, ["verify"] = verifyMs };
            (double chainMs, double reusedMs) = BenchPki.MeasureValidation(iterations: 51);
            report["certificate_check_ms"] = new Dictionary<string, double> { ["chain_built"] = chainMs, ["chain_reused"] = reusedMs };
        }

        if (dashboard)
        {
            // The dashboard host (SignalR push, Prometheus /metrics) with a browser-like client connected.
            var clients = new List<Dictionary<string, object?>>();
            (FederationRun baseline, FederationRun watched, var warmup) = await AlternateAsync(lossFree, settings, pairs, warmupPairs, failed, async () =>
            {
                await using DashboardBenchHost host = await DashboardBenchHost.StartAsync().ConfigureAwait(false);
                FederationRun run = await RoundBenchFederation.RunAsync(settings, faults: null, host.Monitor).ConfigureAwait(false);
                clients.Add(host.Describe());
                return run;
            }).ConfigureAwait(false);
            report["pairs"] = Math.Max(1, pairs);
            report["warmup_pairs"] = warmupPairs;
            report["warmup"] = Warmups(warmup, "baseline", "dashboard");
            report["baseline_pooled"] = Summarize(baseline);
            report["dashboard"] = Summarize(watched);
            report["dashboard_clients"] = clients;
            report["dashboard_to_baseline_median_ratio"] = MedianRatio(watched, baseline);
            report["dashboard_to_baseline_mean_ratio"] = MeanRatio(watched, baseline);
        }

        if (ledger)
        {
            (FederationRun baseline, FederationRun logged, var warmup) = await AlternateAsync(lossFree, settings, pairs, warmupPairs, failed, () => RoundBenchFederation.RunAsync(settings with { Ledger = true }, faults: null)).ConfigureAwait(false);
            report["pairs"] = Math.Max(1, pairs);
            report["warmup_pairs"] = warmupPairs;
            report["warmup"] = Warmups(warmup, "baseline", "ledger");
            report["baseline_pooled"] = Summarize(baseline);
            report["ledger"] = Summarize(logged);
            report["ledger_to_baseline_median_ratio"] = MedianRatio(logged, baseline);
            report["ledger_to_baseline_mean_ratio"] = MeanRatio(logged, baseline);
        }

        Console.WriteLine(JsonSerializer.Serialize(report));
        bool complete = failed.Count == 0 && !Failed(lossFree) && (lossFree.WorkerProcesses is null || lossFree.WorkerProcesses.All(c => c.ExitCode == 0)) && (lossy is null || !Failed(lossy));
        return complete ? 0 : 1;
    }

    /// <summary>
    /// Runs <paramref name="variant"/> <paramref name="pairs"/> times, alternating with baseline federations, and pools
    /// each kind's samples; runs that aborted or had a failed round are added to <paramref name="failed"/>. With
    /// <paramref name="warmupPairs"/> W > 0, <paramref name="first"/> (the process's first federation) and one variant run
    /// are the first warm-up pair, W - 1 more pairs follow, and none of them is pooled (returned as the warm-ups, in order,
    /// baseline then variant); with W = 0 <paramref name="first"/> is the first pooled baseline, as before.
    /// </summary>
    private static async Task<(FederationRun Baseline, FederationRun Variant, List<FederationRun> Warmups)> AlternateAsync(FederationRun first, RoundBenchSettings settings, int pairs, int warmupPairs, List<FederationRun> failed, Func<Task<FederationRun>> variant)
    {
        var warmups = new List<FederationRun>();
        var baselines = new List<FederationRun>();
        var variants = new List<FederationRun>();
        if (warmupPairs > 0)
        {
            warmups.Add(first);
            warmups.Add(await variant().ConfigureAwait(false));
            for (int pair = 1; pair < warmupPairs; pair++)
            {
                warmups.Add(await RoundBenchFederation.RunAsync(settings, faults: null).ConfigureAwait(false));
                warmups.Add(await variant().ConfigureAwait(false));
            }
        }
        else
        {
            baselines.Add(first);
        }

        for (int pair = 0; pair < Math.Max(1, pairs); pair++)
        {
            if (pair > 0 || warmupPairs > 0)
            {
                baselines.Add(await RoundBenchFederation.RunAsync(settings, faults: null).ConfigureAwait(false));
            }

            variants.Add(await variant().ConfigureAwait(false));
        }

        failed.AddRange(variants.Concat(baselines).Concat(warmups).Where(r => !ReferenceEquals(r, first) && Failed(r)));
        return (Pool(baselines), Pool(variants), warmups);
    }

    /// <summary>The warm-up runs of a comparison (untimed, not pooled): each one's kind and median round seconds.</summary>
    private static List<Dictionary<string, object?>> Warmups(List<FederationRun> warmups, string baseline, string variant) =>
        warmups.Select((run, i) => new Dictionary<string, object?>
        {
            ["kind"] = i % 2 == 0 ? baseline : variant,
            ["seconds_per_round_median"] = Round(Median(Timed(run))),
            ["rounds_completed"] = run.Samples.Count(s => s.Completed),
        }).ToList();

    private static FederationRun Pool(List<FederationRun> runs) =>
        new([.. runs.SelectMany(r => r.Samples)], runs.Select(r => r.Aborted).FirstOrDefault(a => a is not null));

    private static bool Failed(FederationRun run) => run.Aborted is not null || !run.Samples.All(s => s.Completed);

    private static double? MedianRatio(FederationRun variant, FederationRun baseline) =>
        Median(Timed(baseline)) is double b && b > 0 && Median(Timed(variant)) is double v ? Math.Round(v / b, 3) : null;

    private static double? MeanRatio(FederationRun variant, FederationRun baseline) =>
        Mean(Timed(baseline).Select(x => x.Seconds)) is double b && b > 0 && Mean(Timed(variant).Select(x => x.Seconds)) is double v ? Math.Round(v / b, 3) : null;

    /// <summary>The completed rounds 2..R: round 1 includes the joins and the first window.</summary>
    private static List<RoundSample> Timed(FederationRun run) => run.Samples.Where(s => s.Completed && s.Round >= 2).ToList();

    private static Dictionary<string, object?> Summarize(FederationRun run)
    {
        List<RoundSample> timed = Timed(run);
        List<RoundSample> failed = run.Samples.Where(s => !s.Completed).ToList();
        return new Dictionary<string, object?>
        {
            ["rounds_completed"] = run.Samples.Count(s => s.Completed),
            ["round_attempts"] = run.Samples.Count,
            ["aborted"] = run.Aborted,
            ["failures"] = failed.Select(s => new Dictionary<string, object?> { ["round"] = s.Round, ["reason"] = s.FailureReason, ["seconds"] = Round(s.Seconds), ["task_resends"] = s.TaskResends, ["update_resends"] = s.UpdateResends, ["dropped"] = s.Dropped, ["missing"] = s.Missing }).ToList(),
            ["seconds_per_round_mean"] = Round(Mean(timed.Select(s => s.Seconds))),
            ["seconds_per_round_median"] = Round(Median(timed)),
            ["seconds_per_round"] = timed.Select(s => Round(s.Seconds)).ToList(),
            ["task_resends_per_round"] = timed.Select(s => s.TaskResends).ToList(),
            ["task_resends_held_per_round"] = timed.Select(s => s.TaskResendsHeld).ToList(),
            // With worker processes the workers' counters live in the children: totals in worker_process_update_resends.
            ["update_resends_per_round"] = run.WorkerProcesses is null ? timed.Select(s => s.UpdateResends).ToList() : null,
            ["update_resends_held_per_round"] = timed.Select(s => s.UpdateResendsHeld).ToList(),
            ["dropped_per_round"] = timed.Select(s => s.Dropped).ToList(),
            ["resends_per_round_mean"] = Round(Mean(timed.Select(s => (double)(s.TaskResends + s.UpdateResends)))),
            ["cpu_seconds_per_round_mean"] = Round(Mean(timed.Select(s => s.CpuSeconds))),
            ["cpu_seconds_per_round_median"] = Round(Median(timed.Select(s => s.CpuSeconds).ToList())),
            ["coordinator_cpu_seconds_per_round_median"] = Round(Median(timed.Select(s => s.CoordinatorCpuSeconds).ToList())),
            ["bytes_up_per_round_median"] = Median(timed.Select(s => (double)s.BytesUp).ToList()),
            ["bytes_down_per_round_median"] = Median(timed.Select(s => (double)s.BytesDown).ToList()),
            ["tls_handshakes_per_round"] = timed.Select(s => s.TlsHandshakes).ToList(),
            ["allocated_mb_per_round_median"] = Median(timed.Select(s => s.AllocatedBytes / 1048576.0).ToList()) is double allocatedMb ? Math.Round(allocatedMb, 1) : null,
            ["coordinator_retained_mb"] = run.CoordinatorRetainedBytes is long held ? Math.Round(held / 1048576.0, 2) : null,
            ["gen2_collections"] = run.Gen2Collections,
            ["gc_pause_seconds"] = Round(run.GcPauseSeconds),
            ["breakdown_mean"] = new Dictionary<string, object?>
            {
                ["wall_seconds"] = Round(Mean(timed.Select(s => s.WallSeconds))),
                ["trainer_busy_seconds"] = Round(Mean(timed.Select(s => s.TrainerSeconds))),
                ["trainer_calls"] = Round(Mean(timed.Select(s => (double)s.Trainings))),
                ["until_first_training_seconds"] = Round(Mean(timed.Where(s => s.BeforeFirstTraining is not null).Select(s => s.BeforeFirstTraining!.Value))),
                ["after_last_training_seconds"] = Round(Mean(timed.Where(s => s.AfterLastTraining is not null).Select(s => s.AfterLastTraining!.Value))),
                ["training_spread_seconds"] = Round(Mean(timed.Where(s => s.TrainingSpread is not null).Select(s => s.TrainingSpread!.Value))),
            },
        };
    }

    /// <summary>The process's peak resident set (VmHWM): coordinator, broker and every worker of the bench together.</summary>
    private static long PeakRssBytes()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    private static double? Mean(IEnumerable<double> values)
    {
        double[] all = values.ToArray();
        return all.Length == 0 ? null : all.Average();
    }

    private static double? Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return null;
        }

        double[] sorted = [.. values.Order()];
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static double? Median(List<RoundSample> timed)
    {
        if (timed.Count == 0)
        {
            return null;
        }

        double[] sorted = timed.Select(s => s.Seconds).Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static double? Round(double? value) => value is null ? null : Math.Round(value.Value, 4);

    /// <summary>Samples the managed heap every 20 ms and keeps the largest value.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _peak;

        public MemorySampler() => _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                _peak = Math.Max(_peak, GC.GetTotalMemory(false));
                try
                {
                    await Task.Delay(20, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });

        public long Stop()
        {
            _stop.Cancel();
            _loop.GetAwaiter().GetResult();
            return _peak;
        }

        public void Dispose() => _stop.Dispose();
    }
}
