using System.Diagnostics.Metrics;
using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

public sealed class CoordinatorTests : IDisposable
{
    private const int Features = 4;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-coord-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    private static Coordinator NewCoordinator(InProcessNetwork network, CoordinatorOptions options, IAggregationStrategy? strategy = null, ICheckpointStore? store = null, TimeProvider? time = null, string[]? denied = null) =>
        new(Options.Create(options), network.CreateCoordinatorTransport(), strategy ?? AggregationStrategies.FedAvg(), new DenyListAdmission(denied ?? []), checkpoints: store, timeProvider: time);

    private static Worker NewWorker(InProcessNetwork network, string id, Dataset data, ITrainer trainer, string? stateFile = null, TimeProvider? time = null) =>
        new(Options.Create(new WorkerOptions { DeviceId = id, StateFile = stateFile }), network.CreateWorkerTransport(id), trainer, new InMemoryDataSource(data), timeProvider: time);

    private static CoordinatorOptions Options3(int rounds = 3) => new()
    {
        MaxRounds = rounds,
        MinParticipants = 1,
        RoundTimeout = TimeSpan.FromSeconds(30),
        WindowDuration = TimeSpan.FromSeconds(10),
        HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
    };

    [Fact]
    public async Task RunAsync_ThreeWorkers_AggregatesSampleWeightedMeanEveryRound()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3());
        await coordinator.StartAsync(Zero());
        var trainer = new MeanTrainer(Features);
        await using Worker a = NewWorker(network, "a", TestData.Constant(10, Features, 1f), trainer);
        await using Worker b = NewWorker(network, "b", TestData.Constant(30, Features, 5f), trainer);
        await using Worker c = NewWorker(network, "c", TestData.Constant(60, Features, 10f), trainer);
        await Task.WhenAll(a.StartAsync().AsTask(), b.StartAsync().AsTask(), c.StartAsync().AsTask());

        var results = new List<RoundResult>();
        await foreach (RoundResult r in coordinator.RunAsync())
        {
            results.Add(r);
        }

        Assert.Equal([1L, 2L, 3L], results.Select(r => r.Round));
        Assert.All(results, r => Assert.True(r.Completed));
        Assert.All(results, r => Assert.Equal(3, r.Participants));
        Assert.True(results[^1].IsLast);
        Assert.Contains("budget", results[^1].StopReason, StringComparison.Ordinal);
        float expected = ((10 * 1f) + (30 * 5f) + (60 * 10f)) / 100f;
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(expected, v, 3));
        Assert.All(results, r => Assert.True(r.BytesUp > 3 * 4 * Features && r.BytesDown > 3 * 4 * Features));
        Assert.Equal(3, a.LastRound);
    }

    [Fact]
    public async Task RunAsync_CoordinatorDisposedMidRound_RestartResumesFromCheckpointAndMatchesUninterruptedRun()
    {
        // Uninterrupted reference run with a stateful server optimiser (FedAvgM's velocity is checkpointed).
        ParameterSet reference = await RunToEnd(interruptAfter: null);
        ParameterSet resumed = await RunToEnd(interruptAfter: 2);
        Assert.Equal(reference.Values.ToArray(), resumed.Values.ToArray(), (x, y) => Math.Abs(x - y) < 1e-4f);
    }

    private async Task<ParameterSet> RunToEnd(int? interruptAfter)
    {
        string dir = Path.Combine(_dir, interruptAfter is null ? "reference" : "resumed");
        var network = new InProcessNetwork();
        var gate = new SemaphoreSlim(0);
        var trainer = new MeanTrainer(Features, gate);
        CoordinatorOptions options = Options3(rounds: 5);
        options.WindowSize = 2; // after the restart, wait until both devices have rejoined
        var workers = new List<Worker>
        {
            NewWorker(network, "a", TestData.Constant(20, Features, 2f), trainer),
            NewWorker(network, "b", TestData.Constant(20, Features, 8f), trainer),
        };
        Coordinator coordinator = NewCoordinator(network, options, AggregationStrategies.FedAvgM(0.5), new FileCheckpointStore(dir));
        Assert.False(await coordinator.StartAsync(Zero()));
        foreach (Worker w in workers)
        {
            await w.StartAsync();
        }

        long lastRound = 0;
        try
        {
            await using IAsyncEnumerator<RoundResult> rounds = coordinator.RunAsync().GetAsyncEnumerator();
            while (true)
            {
                if (interruptAfter is int stopAt && lastRound == stopAt)
                {
                    // Round stopAt + 1 is running: both workers are training (held by the gate). Kill the coordinator now.
                    Task<bool> next = rounds.MoveNextAsync().AsTask();
                    while (Volatile.Read(ref trainer.Calls) < (2 * stopAt) + 2)
                    {
                        await Task.Delay(5);
                    }

                    await coordinator.DisposeAsync();
                    await Assert.ThrowsAnyAsync<Exception>(() => next);
                    gate.Release(2);
                    break;
                }

                gate.Release(2);
                if (!await rounds.MoveNextAsync())
                {
                    break;
                }

                lastRound = rounds.Current.Round;
                Assert.True(rounds.Current.Completed);
            }
        }
        finally
        {
            await coordinator.DisposeAsync();
        }

        if (interruptAfter is not null)
        {
            // The same data, a brand-new coordinator process: it resumes at round interruptAfter + 1, the workers rejoin by themselves.
            var store = new FileCheckpointStore(dir);
            Assert.Equal(interruptAfter!.Value, (await store.LoadAsync())!.Round);
            await using Coordinator restarted = NewCoordinator(network, options, AggregationStrategies.FedAvgM(0.5), store);
            Assert.True(await restarted.StartAsync(Zero()));
            Assert.Equal(interruptAfter.Value, restarted.CompletedRounds);
            var roundsSeen = new List<long>();
            gate.Release(100);
            await foreach (RoundResult r in restarted.RunAsync())
            {
                Assert.True(r.Completed, r.FailureReason);
                roundsSeen.Add(r.Round);
            }

            Assert.Equal(Enumerable.Range(interruptAfter.Value + 1, 5 - interruptAfter.Value).Select(i => (long)i), roundsSeen);
            ParameterSet final = restarted.GlobalParameters.Clone();
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }

            return final;
        }

        ParameterSet result = coordinator.GlobalParameters.Clone();
        foreach (Worker w in workers)
        {
            await w.DisposeAsync();
        }

        return result;
    }

    [Fact]
    public async Task RunRoundAsync_WorkerDisposedMidRound_RoundCompletesWithOthersAndRestartedWorkerRejoins()
    {
        var network = new InProcessNetwork();
        string stateFile = Path.Combine(_dir, "b.state.json");
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 2));
        await coordinator.StartAsync(Zero());
        var fast = new MeanTrainer(Features);
        var stuck = new MeanTrainer(Features, new SemaphoreSlim(0));
        await using Worker a = NewWorker(network, "a", TestData.Constant(10, Features, 1f), fast);
        Worker b = NewWorker(network, "b", TestData.Constant(10, Features, 9f), stuck, stateFile);
        await a.StartAsync();
        await b.StartAsync();

        Task<RoundResult> round1 = coordinator.RunRoundAsync().AsTask();
        await b.WaitForStateAsync(WorkerState.Running).WaitAsync(Wait);
        await b.DisposeAsync();
        RoundResult r1 = await round1.WaitAsync(Wait);
        Assert.True(r1.Completed);
        Assert.Equal(["a"], r1.Contributors);
        Assert.Contains(r1.Failed, f => f.DeviceId == "b");
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(1f, v, 3));

        // The device comes back (a new process): it restores its persisted state and joins the next round.
        await using Worker b2 = NewWorker(network, "b", TestData.Constant(10, Features, 9f), fast, stateFile);
        await b2.StartAsync();
        Assert.NotNull(b2.Restored);
        Assert.Equal(WorkerState.Running, b2.Restored!.State);
        Assert.Equal(1, b2.Restored.LastRound);
        RoundResult r2 = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.True(r2.Completed);
        Assert.Equal(["a", "b"], r2.Contributors.Order());
    }

    [Fact]
    public async Task RunRoundAsync_SilentWorkerPastDeadline_RoundCompletesOnQuorumWithFakeClock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-22T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var network = new InProcessNetwork(time);
        CoordinatorOptions options = Options3();
        options.RoundTimeout = TimeSpan.FromSeconds(60);
        options.MinParticipants = 2;
        options.MissedHeartbeats = 100; // the clock jumps 61 s at once: the silent worker is alive, only slow
        await using Coordinator coordinator = NewCoordinator(network, options, time: time);
        await coordinator.StartAsync(Zero());
        var fast = new MeanTrainer(Features);
        var silent = new MeanTrainer(Features, new SemaphoreSlim(0));
        await using Worker a = NewWorker(network, "a", TestData.Constant(10, Features, 1f), fast, time: time);
        await using Worker b = NewWorker(network, "b", TestData.Constant(10, Features, 3f), fast, time: time);
        await using Worker c = NewWorker(network, "c", TestData.Constant(10, Features, 9f), silent, time: time);
        await Task.WhenAll(a.StartAsync().AsTask(), b.StartAsync().AsTask(), c.StartAsync().AsTask());
        await WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == 3);

        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        await WaitUntil(() => a.LastRound == 1 && b.LastRound == 1 && c.State == WorkerState.Running);
        await WaitUntil(() => a.Receipts.Count == 1 && b.Receipts.Count == 1);
        Assert.False(round.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(61));
        RoundResult result = await round.WaitAsync(Wait);

        Assert.True(result.Completed);
        Assert.Equal(["a", "b"], result.Contributors.Order());
        Assert.Equal("no update before the deadline", Assert.Single(result.Failed).Reason);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(2f, v, 3));
    }

    [Fact]
    public async Task RunRoundAsync_QuorumMissedAtDeadline_RoundFailsAndGlobalModelUnchanged()
    {
        var time = new FakeTimeProvider();
        var network = new InProcessNetwork(time);
        CoordinatorOptions options = Options3();
        options.MinParticipants = 2;
        await using Coordinator coordinator = NewCoordinator(network, options, time: time);
        await coordinator.StartAsync(Zero());
        await using Worker a = NewWorker(network, "a", TestData.Constant(10, Features, 1f), new MeanTrainer(Features), time: time);
        await using Worker b = NewWorker(network, "b", TestData.Constant(10, Features, 3f), new MeanTrainer(Features, new SemaphoreSlim(0)), time: time);
        await a.StartAsync();
        await b.StartAsync();
        await WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == 2);
        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        await WaitUntil(() => a.Receipts.Count == 1 && b.State == WorkerState.Running);
        time.Advance(options.RoundTimeout + TimeSpan.FromSeconds(1));
        RoundResult result = await round.WaitAsync(Wait);
        Assert.False(result.Completed);
        Assert.Contains("quorum not met", result.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, coordinator.CompletedRounds);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public async Task StartAsync_WorkerWithBadLocalData_StaysNotReadyAndCoordinatorLearnsWhy()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 1));
        await coordinator.StartAsync(Zero());
        float[] features = new float[10 * Features];
        features[7] = float.NaN;
        var bad = new Dataset(features, new float[10], Features);
        await using Worker good = NewWorker(network, "good", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        await using Worker broken = NewWorker(network, "broken", bad, new MeanTrainer(Features));
        await good.StartAsync();
        await broken.StartAsync();

        Assert.Equal(WorkerState.NotReady, broken.State);
        Assert.Contains("bad local data", broken.StateReason, StringComparison.Ordinal);
        Assert.Contains("NaN", broken.StateReason, StringComparison.Ordinal);
        await WaitUntil(() => coordinator.Devices.Any(d => d.DeviceId == "broken" && d.Reason is not null));
        Assert.Contains("bad local data", coordinator.Devices.Single(d => d.DeviceId == "broken").Reason, StringComparison.Ordinal);

        RoundResult round = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(["good"], round.Contributors);
        Assert.Equal(WorkerState.NotReady, broken.State);
    }

    [Fact]
    public async Task RunRoundAsync_TrainerCrashesMidRound_WorkerReportsWhyAndRoundCompletesWithOthers()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 1));
        await coordinator.StartAsync(Zero());
        var crashing = new MeanTrainer(Features) { ThrowOnTrain = new InvalidDataException("row 17 has 114 columns") };
        await using Worker good = NewWorker(network, "good", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        await using Worker bad = NewWorker(network, "bad", TestData.Constant(10, Features, 4f), crashing);
        await good.StartAsync();
        await bad.StartAsync();
        RoundResult round = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.True(round.Completed);
        RefusedUpdate failed = Assert.Single(round.Failed);
        Assert.Equal("bad", failed.DeviceId);
        Assert.Contains("row 17 has 114 columns", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(WorkerState.NotReady, bad.State);
        Assert.Contains("row 17", bad.StateReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnUpdateAsync_DuplicateReplayedAndLateUpdates_AreRefusedWithReasons()
    {
        var network = new InProcessNetwork();
        CoordinatorOptions options = Options3();
        await using Coordinator coordinator = NewCoordinator(network, options);
        await coordinator.StartAsync(Zero());
        var device = new ManualDevice();
        await using IWorkerTransport transport = network.CreateWorkerTransport("m");
        await transport.ConnectAsync(device);
        Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = "m" })).Accepted);
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training });

        // Round 1: one good update, then the same again (duplicate).
        Task<RoundResult> round1 = coordinator.RunRoundAsync().AsTask();
        RoundTask task1 = await device.NextTaskAsync(Wait);
        ModelUpdate update1 = Update("m", task1, 1f);
        await transport.SendUpdateAsync(update1);
        Assert.True((await device.NextReceiptAsync(Wait)).Accepted);
        RoundResult r1 = await round1.WaitAsync(Wait);
        Assert.True(r1.Completed);

        // Round 2: a replay of round 1's update relabelled as round 2 (old nonce), a late round-1 update, a duplicate.
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training });
        Task<RoundResult> round2 = coordinator.RunRoundAsync().AsTask();
        RoundTask task2 = await device.NextTaskAsync(Wait);
        await transport.SendUpdateAsync(update1 with { Round = 2 });
        UpdateReceipt replay = await device.NextReceiptAsync(Wait);
        Assert.False(replay.Accepted);
        Assert.Contains("nonce", replay.Reason, StringComparison.Ordinal);

        await transport.SendUpdateAsync(update1);
        UpdateReceipt late = await device.NextReceiptAsync(Wait);
        Assert.False(late.Accepted);
        Assert.Contains("late update: round 1 is closed", late.Reason, StringComparison.Ordinal);

        // An update with a NaN from a stranger that was never admitted.
        await using IWorkerTransport stranger = network.CreateWorkerTransport("x");
        await stranger.ConnectAsync(new ManualDevice());
        await stranger.SendUpdateAsync(Update("x", task2, 1f));

        ModelUpdate good = Update("m", task2, 3f);
        await transport.SendUpdateAsync(good);
        Assert.True((await device.NextReceiptAsync(Wait)).Accepted);
        RoundResult r2 = await round2.WaitAsync(Wait);
        await transport.SendUpdateAsync(good);
        UpdateReceipt duplicateAfterClose = await device.NextReceiptAsync(Wait);
        Assert.False(duplicateAfterClose.Accepted);

        Assert.True(r2.Completed);
        Assert.Equal(["m"], r2.Contributors);
        Assert.Contains(r2.Refused, r => r.Reason.Contains("nonce", StringComparison.Ordinal));
        Assert.Contains(r2.Refused, r => r.Reason.Contains("late update", StringComparison.Ordinal));
        Assert.Contains(r2.Refused, r => r.DeviceId == "x" && r.Reason.Contains("not admitted", StringComparison.Ordinal));
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(3f, v));
    }

    [Fact]
    public async Task OnUpdateAsync_SecondUpdateFromSameSenderInOpenRound_RefusedAsDuplicate()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3());
        await coordinator.StartAsync(Zero());
        var m = new ManualDevice();
        var n = new ManualDevice();
        await using IWorkerTransport tm = network.CreateWorkerTransport("m");
        await using IWorkerTransport tn = network.CreateWorkerTransport("n");
        await tm.ConnectAsync(m);
        await tn.ConnectAsync(n);
        await tm.JoinAsync(new JoinRequest { DeviceId = "m" });
        await tn.JoinAsync(new JoinRequest { DeviceId = "n" });
        await tm.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training });
        await tn.PublishStatusAsync(new DeviceStatus { DeviceId = "n", Intent = DeviceIntent.Training });
        await WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == 2);
        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        RoundTask task = await m.NextTaskAsync(Wait);
        await tm.SendUpdateAsync(Update("m", task, 1f));
        await tm.SendUpdateAsync(Update("m", task, 100f));
        Assert.True((await m.NextReceiptAsync(Wait)).Accepted);
        UpdateReceipt duplicate = await m.NextReceiptAsync(Wait);
        Assert.False(duplicate.Accepted);
        Assert.Contains("already contributed", duplicate.Reason, StringComparison.Ordinal);
        await tn.SendUpdateAsync(Update("n", await n.NextTaskAsync(Wait), 3f));
        RoundResult result = await round.WaitAsync(Wait);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(2f, v));
        Assert.Single(result.Refused);
    }

    [Fact]
    public async Task OnJoinAsync_DeviceWithoutValidProfile_IsRefusedWithReasonAndNeverGetsATask()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 1), denied: ["rogue"]);
        await coordinator.StartAsync(Zero());
        await using Worker good = NewWorker(network, "good", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        var rogueTrainer = new MeanTrainer(Features);
        await using Worker rogue = NewWorker(network, "rogue", TestData.Constant(10, Features, 4f), rogueTrainer);
        await good.StartAsync();
        await rogue.StartAsync();
        Assert.Equal(WorkerState.NotReady, rogue.State);
        Assert.Contains("no valid MUD profile", rogue.StateReason, StringComparison.Ordinal);
        RefusedDevice refused = Assert.Single(coordinator.RefusedDevices);
        Assert.Equal("rogue", refused.DeviceId);
        RoundResult round = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(["good"], round.Contributors);
        Assert.Equal(0, rogueTrainer.Calls);
    }

    [Fact]
    public async Task OnStatusAsync_WorkerWithTelemetrySource_CoordinatorSeesReadingsAfterEachRound()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 2));
        await coordinator.StartAsync(Zero());
        var sensor = new CountingTelemetry();
        await using var hot = new Worker(
            Options.Create(new WorkerOptions { DeviceId = "hot", Telemetry = sensor }),
            network.CreateWorkerTransport("hot"),
            new MeanTrainer(Features),
            new InMemoryDataSource(TestData.Constant(10, Features, 4f)));
        await using Worker plain = NewWorker(network, "plain", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        await hot.StartAsync();
        await plain.StartAsync();
        await WaitUntil(() => coordinator.Devices.Any(d => d.DeviceId == "hot" && d.Telemetry.TemperatureCelsius is not null));
        int before = sensor.Reads;

        RoundResult round = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.Contains("hot", round.Contributors);
        await WaitUntil(() => sensor.Reads > before && coordinator.Devices.Single(d => d.DeviceId == "hot").Telemetry.TemperatureCelsius >= 50 + before);
        DeviceTelemetry seen = coordinator.Devices.Single(d => d.DeviceId == "hot").Telemetry;
        Assert.Equal(10, seen.SampleCount);
        Assert.True(seen.Throttled);
        DeviceTelemetry unsensed = coordinator.Devices.Single(d => d.DeviceId == "plain").Telemetry;
        Assert.Null(unsensed.TemperatureCelsius);
        Assert.Equal(10, unsensed.SampleCount);
    }

    /// <summary>A sensor whose temperature is 50 °C plus the number of earlier reads.</summary>
    private sealed class CountingTelemetry : ITelemetrySource
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
        {
            int n = Interlocked.Increment(ref _reads) - 1;
            return ValueTask.FromResult(new DeviceTelemetry { TemperatureCelsius = 50 + n, Throttled = true });
        }
    }

    [Fact]
    public async Task RunRoundAsync_InferenceDevice_ScoresLocalDataWithEachNewGlobalModelAndNeverTrains()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 1));
        await coordinator.StartAsync(Zero());
        await using Worker trainer = NewWorker(network, "t", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        var scorer = new MeanTrainer(Features);
        await using var viewer = new Worker(
            Options.Create(new WorkerOptions { DeviceId = "v", Intent = DeviceIntent.Inference }),
            network.CreateWorkerTransport("v"),
            scorer,
            new InMemoryDataSource(TestData.Constant(6, Features, 4f)));
        await trainer.StartAsync();
        await viewer.StartAsync();
        Assert.Equal(WorkerState.Inference, viewer.State);

        RoundResult round = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(["t"], round.Contributors);
        await WaitUntil(() => viewer.LatestGlobalModel?.Version == 1 && viewer.LastInference is { Loss: < 1e-6 });
        Assert.Equal(6, viewer.LastInference!.Count);
        Assert.Equal(0, scorer.Calls);
    }

    [Fact]
    public async Task RunAsync_TargetMetricReached_StopsEarly()
    {
        var network = new InProcessNetwork();
        CoordinatorOptions options = Options3(rounds: 10);
        options.MonitorMetric = "closeness";
        options.TargetMetric = 0.99;
        options.HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 0.5f };
        var evaluator = new ClosenessEvaluator(4f);
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission(), evaluator: evaluator);
        await coordinator.StartAsync(Zero());
        await using Worker w = NewWorker(network, "w", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        await w.StartAsync();
        var results = new List<RoundResult>();
        await foreach (RoundResult r in coordinator.RunAsync())
        {
            results.Add(r);
        }

        Assert.InRange(results.Count, 2, 9);
        Assert.Contains("target reached", results[^1].StopReason, StringComparison.Ordinal);
        Assert.True(results[^1].Evaluation["closeness"] >= 0.99);
    }

    [Fact]
    public async Task RunAsync_Rounds_RecordsMetricsOnFedEdgeCoreMeter()
    {
        var seen = new Dictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == Coordinator.TelemetryName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => { lock (seen) { seen[i.Name] = v; } });
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => { lock (seen) { seen[i.Name] = v; } });
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => { lock (seen) { seen[i.Name] = seen.GetValueOrDefault(i.Name) + v; } });
        listener.Start();

        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, Options3(rounds: 1));
        await coordinator.StartAsync(Zero());
        await using Worker w = NewWorker(network, "w", TestData.Constant(10, Features, 4f), new MeanTrainer(Features));
        await w.StartAsync();
        await foreach (RoundResult _ in coordinator.RunAsync())
        {
        }

        lock (seen)
        {
            Assert.True(seen.ContainsKey("fededge.round.duration"));
            Assert.Equal(1, seen["fededge.round.participants"]);
            Assert.True(seen["fededge.transport.bytes"] > 4 * Features);
        }
    }

    [Fact]
    public async Task StartAsync_InvalidOptions_ThrowsNamingTheSetting()
    {
        var network = new InProcessNetwork();
        CoordinatorOptions options = Options3();
        options.MinParticipants = 0;
        await using Coordinator coordinator = NewCoordinator(network, options);
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains("MinParticipants", error.Message, StringComparison.Ordinal);
    }

    private static ModelUpdate Update(string sender, RoundTask task, float value)
    {
        ParameterSet p = task.GlobalParameters.CreateZeroed();
        p.Values.Fill(value);
        return new ModelUpdate { SenderId = sender, Round = task.Round, Nonce = task.Nonce, SampleCount = 10, Values = p };
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (!condition())
        {
            await Task.Delay(5, cts.Token);
        }
    }

    private sealed class ClosenessEvaluator(float target) : IGlobalModelEvaluator
    {
        public ValueTask<IReadOnlyDictionary<string, double>> EvaluateAsync(ParameterSet parameters, long round, CancellationToken cancellationToken = default)
        {
            double closeness = 1 - (Math.Abs(parameters.Values[0] - target) / target);
            return ValueTask.FromResult<IReadOnlyDictionary<string, double>>(new Dictionary<string, double> { ["closeness"] = closeness });
        }
    }
}
