using System.Diagnostics;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using FedEdge.Transport.Faults;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;

namespace FedEdge.Benchmarks;

/// <summary>What one <c>bench round</c> federation is made of.</summary>
/// <param name="Transport">inproc, mqtt, mosquitto or grpc.</param>
/// <param name="Broker">The external broker of <c>mosquitto</c>.</param>
/// <param name="Workers">The number of workers; every round needs all of their updates.</param>
/// <param name="Layout">The model's layout.</param>
/// <param name="Rounds">The number of rounds (at least 2: round 1 includes the joins and is not timed).</param>
/// <param name="Timeout">The longest the whole federation may run.</param>
/// <param name="FaultEnds">Which ends of each link the fault decorators wrap.</param>
/// <param name="Tls">gRPC or embedded MQTT: mutual TLS with a generated federation PKI, signed updates and signed global models.</param>
/// <param name="Ledger">The coordinator appends every round to a file-backed transparency log.</param>
internal sealed record RoundBenchSettings(string Transport, Uri? Broker, int Workers, ParameterLayout Layout, int Rounds, TimeSpan Timeout, FaultEnds FaultEnds, bool Tls = false, bool Ledger = false)
{
    /// <summary>The first re-send delay of tasks and updates (<c>--resend-ms</c>); the longest is 10/3 of it.</summary>
    public TimeSpan ResendDelay { get; init; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Plain gRPC: frame payload bytes on both sides (null: the transports' default).</summary>
    public int? GrpcChunkSize { get; init; }

    /// <summary>Plain gRPC: the coordinator's task re-send hold cap (null: the default).</summary>
    public TimeSpan? GrpcTaskResendHold { get; init; }

    /// <summary>
    /// 0: the workers run in the bench process. P &gt; 0: they run in P child processes (<see cref="WorkerProcessPool"/>),
    /// so the bench process holds only the coordinator and its transport (with the embedded broker or Kestrel host).
    /// </summary>
    public int WorkerProcesses { get; init; }

    /// <summary>The heartbeat interval of coordinator and workers (<c>--heartbeat</c>, milliseconds).</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Heartbeats missed before the coordinator counts a device lost (<c>--missed-heartbeats</c>).</summary>
    public int MissedHeartbeats { get; init; } = 12;

    /// <summary>The federation's update codec (<c>--codec f32|f16|int8|topk:F</c>); null keeps the coordinator's default.</summary>
    public string? Codec { get; init; }
    /// <summary>MQTT: the chunk size of the coordinator's and the workers' transports (<c>--chunk-size</c>); null keeps the default.</summary>
    public int? ChunkSize { get; init; }
}

/// <summary>Which transports of a federation get a fault decorator.</summary>
internal enum FaultEnds
{
    /// <summary>The coordinator's and every worker's: a message crosses two decorators, so <c>drop=p</c> loses 1 - (1 - p)² of it.</summary>
    Both,

    /// <summary>Only the workers' (their sends and deliveries): a message crosses one decorator, so <c>drop=p</c> loses p of it.</summary>
    Workers,
}

/// <summary>One round as the bench saw it.</summary>
/// <param name="Round">The round number (a failed round is tried again under the same number).</param>
/// <param name="Completed">True when the round produced a new global model.</param>
/// <param name="FailureReason">The round result's failure reason, when it failed.</param>
/// <param name="Seconds">The round's own duration (<see cref="RoundResult.Duration"/>: window open to checkpoint).</param>
/// <param name="WallSeconds">Wall time since the previous round result (or since the workers started), publication included.</param>
/// <param name="TaskResends">The coordinator's task re-sends in the round.</param>
/// <param name="UpdateResends">The workers' update re-sends since the previous round result.</param>
/// <param name="Dropped">Messages the injected faults dropped since the previous round result.</param>
/// <param name="Participants">The updates aggregated.</param>
/// <param name="Trainings">Trainer calls since the previous round result.</param>
/// <param name="TrainerSeconds">Time spent inside the trainer, summed over workers.</param>
/// <param name="BeforeFirstTraining">Wall time from the previous round result to the first trainer call (window and task delivery).</param>
/// <param name="AfterLastTraining">Wall time from the last trainer call's end to this round result (updates and receipts getting through, aggregation, checkpoint).</param>
/// <param name="Missing">Selected devices without a usable update, counted by reason (<see cref="RoundResult.Failed"/>).</param>
internal sealed record RoundSample(
    long Round,
    bool Completed,
    string? FailureReason,
    double Seconds,
    double WallSeconds,
    int TaskResends,
    long UpdateResends,
    long Dropped,
    int Participants,
    int Trainings,
    double TrainerSeconds,
    double? BeforeFirstTraining,
    double? AfterLastTraining,
    IReadOnlyDictionary<string, int> Missing)
{
    /// <summary>Wall time from the first trainer call's start to the last one's end: how far apart the workers got their tasks.</summary>
    public double? TrainingSpread { get; init; }

    /// <summary>MQTT: update re-sends the worker transports held back (the broker had the last copy; see MqttWorkerOptions.ResendHoldFactor).</summary>
    public long UpdateResendsHeld { get; init; }

    /// <summary>gRPC: task re-sends the coordinator transport held back (a copy was already written whole to the device's open stream; see GrpcCoordinatorOptions.TaskResendHold).</summary>
    public long TaskResendsHeld { get; init; }

    /// <summary>
    /// CPU time the whole process (coordinator and workers) used since the previous round result: on a machine other
    /// processes load, a steadier measure of a round's work than its wall time.
    /// </summary>
    public double CpuSeconds { get; init; }

    /// <summary>CPU time of the bench process alone since the previous round result: with worker processes, the coordinator's (and its broker's or Kestrel's).</summary>
    public double CoordinatorCpuSeconds { get; init; }

    /// <summary>Bytes the coordinator received in the round (<see cref="RoundResult.BytesUp"/>).</summary>
    public long BytesUp { get; init; }

    /// <summary>Bytes the coordinator sent in the round (<see cref="RoundResult.BytesDown"/>).</summary>
    public long BytesDown { get; init; }

    /// <summary>TLS handshakes started in the process since the previous round result (client and server ends each count).</summary>
    public long TlsHandshakes { get; init; }
    /// <summary>Managed bytes the whole process allocated since the previous round result (copies of payloads show here).</summary>
    public long AllocatedBytes { get; init; }
}

/// <summary>A federation's rounds and, when it stopped early, why.</summary>
/// <param name="Samples">Every round result in order, failed ones included.</param>
/// <param name="Aborted">Why the federation stopped before its rounds were done (timeout, no further round); null when it finished.</param>
internal sealed record FederationRun(IReadOnlyList<RoundSample> Samples, string? Aborted)
{
    /// <summary>
    /// What the coordinator (with its transport) still holds after its last round: the settled managed heap with the
    /// coordinator alive and every worker disposed, minus the settled heap once the coordinator is disposed too.
    /// </summary>
    public long? CoordinatorRetainedBytes { get; init; }

    /// <summary>Gen-2 collections while the federation ran (process-wide: workers included).</summary>
    public int Gen2Collections { get; init; }

    /// <summary>Time the GC paused the process while the federation ran.</summary>
    public double GcPauseSeconds { get; init; }

    /// <summary>With worker processes: the bench process's peak resident set (VmHWM) when the federation ended, i.e. the coordinator's.</summary>
    public long? CoordinatorProcessPeakRssBytes { get; init; }

    /// <summary>With worker processes: what each reported when it stopped; null when the workers ran in the bench process.</summary>
    public IReadOnlyList<WorkerProcessStats>? WorkerProcesses { get; init; }
}

/// <summary>
/// Runs one federation of no-op workers for several rounds, optionally with faults on every link, and samples each
/// round: its duration, re-sends, drops and the time spent in the trainer.
/// </summary>
internal static class RoundBenchFederation
{
    // A bench runs for seconds: heartbeats and re-sends on a sub-second scale.
    public static async Task<FederationRun> RunAsync(RoundBenchSettings settings, FaultOptions? faults, FedEdge.Dashboard.FederationMonitor? monitor = null)
    {
        int gen2 = GC.CollectionCount(2);
        TimeSpan paused = GC.GetTotalPauseDuration();
        var held = new long[3];
        FederationRun run = await RunFederationAsync(settings, faults, monitor, held).ConfigureAwait(false);
        long without = SettledHeapBytes();
        if (settings.WorkerProcesses > 0)
        {
            using Process self = Process.GetCurrentProcess();
            run = run with { CoordinatorProcessPeakRssBytes = self.PeakWorkingSet64 };
        }

        return run with { CoordinatorRetainedBytes = held[0] - without, Gen2Collections = (int)held[1] - gen2, GcPauseSeconds = (TimeSpan.FromTicks(held[2]) - paused).TotalSeconds };
    }

    /// <summary>The managed heap after full blocking, compacting collections (finalizers run in between).</summary>
    internal static long SettledHeapBytes()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task<FederationRun> RunFederationAsync(RoundBenchSettings settings, FaultOptions? faults, FedEdge.Dashboard.FederationMonitor? monitor, long[] held)
    {
        string federation = "bench" + Guid.NewGuid().ToString("N")[..8];
        string[] devices = Enumerable.Range(0, settings.Workers).Select(i => $"w{i}").ToArray();
        using BenchPki? pki = settings.Tls ? new BenchPki(devices) : null;
        (ICoordinatorTransport inner, Func<string, IWorkerTransport> innerWorker) = pki is null ? CreateTransports(settings, federation, devices)
            : settings.Transport == "mqtt" ? pki.CreateMqttTransports(federation) : pki.CreateGrpcTransports();
        ICoordinatorTransport coordinatorTransport = faults is null || settings.FaultEnds == FaultEnds.Workers ? inner : inner.WithFaults(faults);
        var mqttWorkers = new System.Collections.Concurrent.ConcurrentBag<MqttWorkerTransport>();
        Func<string, IWorkerTransport> tracked = device =>
        {
            IWorkerTransport transport = innerWorker(device);
            if (transport is MqttWorkerTransport mqtt)
            {
                mqttWorkers.Add(mqtt);
            }

            return transport;
        };
        Func<string, IWorkerTransport> workerTransport = faults is null ? tracked : device => tracked(device).WithFaults(faults, link: device);

        var options = new CoordinatorOptions
        {
            Federation = federation,
            MaxRounds = settings.Rounds,
            MinParticipants = settings.Workers,
            WindowSize = settings.Workers,
            WindowDuration = TimeSpan.FromMinutes(2),
            RoundTimeout = TimeSpan.FromMinutes(2),
            HeartbeatInterval = settings.Heartbeat,
            MissedHeartbeats = settings.MissedHeartbeats,
            UpdateCodec = settings.Codec,
            ResendDelay = settings.ResendDelay,
            MaxResendDelay = settings.ResendDelay * 10 / 3,
            ResumeFromCheckpoint = false,
            Seed = 1,
        };
        // --ledger: the coordinator appends every round to a file-backed transparency log (digests, receipts, a signed head).
        string ledgerDir = Path.Combine(Path.GetTempPath(), "fededge-bench-ledger-" + Guid.NewGuid().ToString("N"));
        using var ledgerKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        FedEdge.Transparency.ITransparencyLog? ledger = settings.Ledger ? new FedEdge.Transparency.FileTransparencyLog(ledgerDir, ledgerKey) : null;
        using var cleanup = new DeleteOnDispose(ledgerDir);
        await using var coordinator = new Coordinator(Options.Create(options), coordinatorTransport, AggregationStrategies.FedAvg(), new AdmitAll(), credentials: pki?.Coordinator, ledger: ledger);
        using IDisposable? watching = monitor?.Attach(coordinator);
        await coordinator.StartAsync(new ParameterSet(settings.Layout)).ConfigureAwait(false);
        var clock = new TrainingClock();
        var workers = new List<Worker>();
        FederationRun run;
        if (settings.WorkerProcesses > 0)
        {
            Uri endpoint = inner switch
            {
                MqttCoordinatorTransport mqtt => mqtt.BrokerUri,
                GrpcCoordinatorTransport grpc => grpc.Address,
                _ => null,
            } ?? throw new InvalidOperationException($"Worker processes need a network transport, not '{settings.Transport}'.");
            await using WorkerProcessPool pool = WorkerProcessPool.Start(settings, federation, endpoint);
            run = await SampleRoundsAsync(coordinator, workers, clock, faults, settings, monitor, () => 0, () => inner is GrpcCoordinatorTransport grpc ? grpc.TaskResendsHeld : 0, pool).ConfigureAwait(false);
            run = run with { WorkerProcesses = await pool.StopAsync().ConfigureAwait(false) };
        }
        else
        {
            try
            {
                foreach (string device in devices)
                {
                    workers.Add(CreateWorker(device, workerTransport(device), settings.Layout, clock, options.HeartbeatInterval, options.ResendDelay, pki?.Device(device)));
                }

                // Concurrently: with lossy links a join can take several attempts.
                await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask())).ConfigureAwait(false);
                run = await SampleRoundsAsync(coordinator, workers, clock, faults, settings, monitor, () => mqttWorkers.Sum(w => w.ResendsHeldBack), () => inner is GrpcCoordinatorTransport grpc ? grpc.TaskResendsHeld : 0, pool: null).ConfigureAwait(false);
            }
            finally
            {
                foreach (Worker worker in workers)
                {
                    await worker.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        // The timed rounds are over: settle the heap with only the coordinator (and its transport) left alive.
        workers.Clear();
        mqttWorkers.Clear();
        held[1] = GC.CollectionCount(2);
        held[2] = GC.GetTotalPauseDuration().Ticks;
        held[0] = SettledHeapBytes();
        return run;
    }

    /// <summary>A no-op bench worker (training replaced by a copy of the global model, timed by <paramref name="clock"/>).</summary>
    internal static Worker CreateWorker(string device, IWorkerTransport transport, ParameterLayout layout, TrainingClock clock, TimeSpan heartbeat, TimeSpan resendDelay, FedEdge.Security.FederationCredentials? credentials)
    {
        var workerOptions = new WorkerOptions
        {
            DeviceId = device,
            HeartbeatInterval = heartbeat,
            ResendDelay = resendDelay,
            MaxResendDelay = resendDelay * 10 / 3,
            ReconnectDelay = resendDelay,
            MaxReconnectDelay = resendDelay * 10 / 3,
        };
        var data = new Dataset(new float[2], new float[1], 2);
        return new Worker(Options.Create(workerOptions), transport, new TimedTrainer(new NoOpTrainer(layout), clock), new InMemoryDataSource(data), credentials: credentials);
    }

    private static async Task<FederationRun> SampleRoundsAsync(Coordinator coordinator, List<Worker> workers, TrainingClock clock, FaultOptions? faults, RoundBenchSettings settings, FedEdge.Dashboard.FederationMonitor? monitor, Func<long> heldTotal, Func<long> taskHeldTotal, WorkerProcessPool? pool)
    {
        long heldBefore = 0;
        long taskHeldBefore = 0;
        var samples = new List<RoundSample>();
        using var timeout = new CancellationTokenSource(settings.Timeout);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, pool?.ExitedEarly ?? CancellationToken.None);
        long previous = Stopwatch.GetTimestamp();
        using Process self = Process.GetCurrentProcess();
        TimeSpan ownCpuBefore = self.TotalProcessorTime;
        TimeSpan cpuBefore = ownCpuBefore + (pool?.CpuTime() ?? TimeSpan.Zero);
        long allocatedBefore = GC.GetTotalAllocatedBytes();
        long resentBefore = 0;
        long droppedBefore = 0;
        long handshakesBefore = TlsHandshakeCounter.Started;
        try
        {
            await foreach (RoundResult result in coordinator.RunAsync(stop.Token).ConfigureAwait(false))
            {
                long now = Stopwatch.GetTimestamp();
                self.Refresh();
                TimeSpan ownCpu = self.TotalProcessorTime;
                TimeSpan cpu = ownCpu + (pool?.CpuTime() ?? TimeSpan.Zero);
                long allocated = GC.GetTotalAllocatedBytes();
                monitor?.RecordRound(result);
                TrainingSpan training = clock.Drain();
                long resent = workers.Sum(w => (long)w.UpdateResends);
                long dropped = faults?.Counters.Dropped ?? 0;
                long held = heldTotal();
                long taskHeld = taskHeldTotal();
                samples.Add(new RoundSample(
                    result.Round,
                    result.Completed,
                    result.Completed ? null : result.FailureReason,
                    result.Duration.TotalSeconds,
                    Stopwatch.GetElapsedTime(previous, now).TotalSeconds,
                    result.TaskResends,
                    resent - resentBefore,
                    dropped - droppedBefore,
                    result.Participants,
                    training.Trainings,
                    training.BusySeconds,
                    training.Trainings == 0 ? null : Stopwatch.GetElapsedTime(previous, training.FirstStart).TotalSeconds,
                    training.Trainings == 0 ? null : Stopwatch.GetElapsedTime(training.LastEnd, now).TotalSeconds,
                    result.Failed.CountBy(f => f.Reason, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal))
                {
                    TrainingSpread = training.Trainings == 0 ? null : Stopwatch.GetElapsedTime(training.FirstStart, training.LastEnd).TotalSeconds,
                    UpdateResendsHeld = held - heldBefore,
                    TaskResendsHeld = taskHeld - taskHeldBefore,
                    CpuSeconds = (cpu - cpuBefore).TotalSeconds,
                    CoordinatorCpuSeconds = (ownCpu - ownCpuBefore).TotalSeconds,
                    BytesUp = result.BytesUp,
                    BytesDown = result.BytesDown,
                    TlsHandshakes = TlsHandshakeCounter.Started - handshakesBefore,
                    AllocatedBytes = allocated - allocatedBefore,
                });
                handshakesBefore = TlsHandshakeCounter.Started;
                allocatedBefore = allocated;
                heldBefore = held;
                taskHeldBefore = taskHeld;
                cpuBefore = cpu;
                ownCpuBefore = ownCpu;
                previous = now;
                resentBefore = resent;
                droppedBefore = dropped;

                // A failed round is tried again; bound the attempts so a federation that keeps failing still ends.
                if (samples.Count >= 2 * settings.Rounds)
                {
                    return new FederationRun(samples, $"stopped after {samples.Count} round attempts with {coordinator.CompletedRounds} completed");
                }
            }
        }
        catch (OperationCanceledException) when (pool is not null && pool.ExitedEarly.IsCancellationRequested && !timeout.IsCancellationRequested)
        {
            return new FederationRun(samples, $"{pool.EarlyExitReason} with {coordinator.CompletedRounds} of {settings.Rounds} rounds completed");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new FederationRun(samples, $"timed out after {settings.Timeout.TotalSeconds:0} s with {coordinator.CompletedRounds} of {settings.Rounds} rounds completed");
        }

        return new FederationRun(samples, coordinator.CompletedRounds < settings.Rounds ? $"stopped with {coordinator.CompletedRounds} of {settings.Rounds} rounds completed" : null);
    }

    private static (ICoordinatorTransport Coordinator, Func<string, IWorkerTransport> Worker) CreateTransports(RoundBenchSettings settings, string federation, string[] devices)
    {
        int chunkSize = settings.ChunkSize ?? FedEdge.Transport.Wire.WireFraming.DefaultChunkSize;
        switch (settings.Transport)
        {
            case "inproc":
                var network = new InProcessNetwork();
                return (network.CreateCoordinatorTransport(), network.CreateWorkerTransport);
            case "mqtt":
                var embedded = new EmbeddedMqttBrokerOptions { Port = 0 };
                foreach (string device in devices)
                {
                    embedded.DevicePasswords[device] = "pw-" + device;
                }

                var mqtt = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, ChunkSize = chunkSize }, brokerHost: new EmbeddedMqttBrokerHost(embedded));
                return (mqtt, device => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, Password = "pw-" + device, BrokerUri = mqtt.BrokerUri, ChunkSize = chunkSize }));
            case "mosquitto":
                Uri? broker = settings.Broker;
                return (
                    new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, BrokerUri = broker, ChunkSize = chunkSize }),
                    device => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, BrokerUri = broker, ChunkSize = chunkSize }));
            case "grpc":
                var grpcOptions = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true };
                int chunk = settings.GrpcChunkSize ?? grpcOptions.ChunkSize;
                grpcOptions.ChunkSize = chunk;
                grpcOptions.TaskResendHold = settings.GrpcTaskResendHold ?? grpcOptions.TaskResendHold;
                foreach (string device in devices)
                {
                    grpcOptions.DeviceTokens[device] = "tok-" + device;
                }

                var grpc = new GrpcCoordinatorTransport(grpcOptions);
                return (grpc, device => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = grpc.Address, DeviceId = device, Token = "tok-" + device, ChunkSize = chunk, CallDeadline = TimeSpan.FromSeconds(120) }));
            default:
                throw new ArgumentException($"Unknown transport '{settings.Transport}'; use inproc, mqtt, mosquitto or grpc.");
        }
    }

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
            ValueTask.FromResult(new TrainingResult { Parameters = request.GlobalParameters.Clone(), SampleCount = request.Data.Count, Steps = 0, Loss = 0 });

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
    }

    /// <summary>Times every call into the trainer it wraps.</summary>
    private sealed class TimedTrainer(ITrainer inner, TrainingClock clock) : ITrainer
    {
        public ParameterLayout Layout => inner.Layout;

        public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            long start = Stopwatch.GetTimestamp();
            TrainingResult result = await inner.TrainAsync(request, cancellationToken).ConfigureAwait(false);
            clock.Record(start, Stopwatch.GetTimestamp());
            return result;
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            inner.EvaluateAsync(parameters, data, cancellationToken);
    }
}

/// <summary>Trainer calls since the last <see cref="TrainingClock.Drain"/>.</summary>
/// <param name="Trainings">The number of calls.</param>
/// <param name="BusySeconds">Their summed duration.</param>
/// <param name="FirstStart">The first call's start (a <see cref="Stopwatch"/> timestamp).</param>
/// <param name="LastEnd">The last call's end (a <see cref="Stopwatch"/> timestamp).</param>
internal readonly record struct TrainingSpan(int Trainings, double BusySeconds, long FirstStart, long LastEnd);

/// <summary>Collects trainer call times from every worker; thread-safe.</summary>
internal sealed class TrainingClock
{
    private readonly Lock _gate = new();
    private int _trainings;
    private long _busyTicks;
    private long _firstStart = long.MaxValue;
    private long _lastEnd = long.MinValue;

    public void Record(long start, long end)
    {
        lock (_gate)
        {
            _trainings++;
            _busyTicks += end - start;
            _firstStart = Math.Min(_firstStart, start);
            _lastEnd = Math.Max(_lastEnd, end);
        }
    }

    /// <summary>Returns the calls recorded since the previous drain and starts again.</summary>
    public TrainingSpan Drain()
    {
        lock (_gate)
        {
            var span = new TrainingSpan(_trainings, (double)_busyTicks / Stopwatch.Frequency, _firstStart, _lastEnd);
            _trainings = 0;
            _busyTicks = 0;
            _firstStart = long.MaxValue;
            _lastEnd = long.MinValue;
            return span;
        }
    }
}

/// <summary>Deletes a scratch folder when disposed.</summary>
internal sealed class DeleteOnDispose(string directory) : IDisposable
{
    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
