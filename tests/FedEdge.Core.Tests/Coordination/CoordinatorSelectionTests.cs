using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Selection;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>The coordinator drives Core's <see cref="TemporalWindow"/> and <see cref="IClientSelector"/> ports.</summary>
public sealed class CoordinatorSelectionTests : IDisposable
{
    private const int Features = 3;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-coordsel-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    private static CoordinatorOptions Options(TimeSpan window) => new()
    {
        MaxRounds = 3,
        MinParticipants = 1,
        RoundTimeout = TimeSpan.FromSeconds(30),
        WindowDuration = window,
        HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
    };

    private static Coordinator NewCoordinator(InProcessNetwork network, CoordinatorOptions options, TimeProvider? time = null, ICheckpointStore? store = null, IClientSelector? selector = null) =>
        new(Microsoft.Extensions.Options.Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission(), selector: selector, checkpoints: store, timeProvider: time);

    private static async Task<(IWorkerTransport Transport, ManualDevice Device)> JoinAsync(InProcessNetwork network, string id)
    {
        var device = new ManualDevice();
        IWorkerTransport transport = network.CreateWorkerTransport(id);
        await transport.ConnectAsync(device);
        Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = id })).Accepted);
        return (transport, device);
    }

    private static ModelUpdate Update(string sender, RoundTask task, float value)
    {
        ParameterSet p = task.GlobalParameters.CreateZeroed();
        p.Values.Fill(value);
        return new ModelUpdate { SenderId = sender, Round = task.Round, Nonce = task.Nonce, SampleCount = 10, Values = p };
    }

    [Fact]
    public async Task RunRoundAsync_ScoredSelectorInOptions_SelectsTheCoolerDeviceFromTelemetry()
    {
        var network = new InProcessNetwork();
        CoordinatorOptions options = Options(TimeSpan.FromSeconds(10));
        options.WindowSize = 2; // both devices are in the window; the selector then picks one of them
        await using Coordinator coordinator = NewCoordinator(network, options, selector: ClientSelectors.Scored(1));
        await coordinator.StartAsync(Zero());
        (IWorkerTransport hotTransport, ManualDevice hot) = await JoinAsync(network, "hot");
        (IWorkerTransport coolTransport, ManualDevice cool) = await JoinAsync(network, "cool");
        await using IWorkerTransport t1 = hotTransport;
        await using IWorkerTransport t2 = coolTransport;

        // Same data size; "hot" runs at 75 °C and is throttled, "cool" at 40 °C.
        await hotTransport.PublishStatusAsync(new DeviceStatus { DeviceId = "hot", Intent = DeviceIntent.Training, Telemetry = new DeviceTelemetry { SampleCount = 500, TemperatureCelsius = 75, Throttled = true } });
        await coolTransport.PublishStatusAsync(new DeviceStatus { DeviceId = "cool", Intent = DeviceIntent.Training, Telemetry = new DeviceTelemetry { SampleCount = 500, TemperatureCelsius = 40, Throttled = false } });

        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        RoundTask task = await cool.NextTaskAsync(Wait);
        await coolTransport.SendUpdateAsync(Update("cool", task, 4f));
        RoundResult result = await round.WaitAsync(Wait);

        Assert.True(result.Completed);
        Assert.Equal(["cool"], result.Selected);
        Assert.Equal(["cool"], result.Contributors);
        Assert.Empty(hot.Tasks);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(4f, v));
    }

    [Fact]
    public async Task RunAsync_ScoredSelectorWithRealWorkers_CoolWorkerTrainsEveryRoundAndHotOneNever()
    {
        var network = new InProcessNetwork();
        CoordinatorOptions options = Options(TimeSpan.FromSeconds(10));
        options.MaxRounds = 2;
        options.WindowSize = 2;
        await using Coordinator coordinator = NewCoordinator(network, options, selector: ClientSelectors.Scored(1));
        await coordinator.StartAsync(Zero());
        var hotTrainer = new MeanTrainer(Features);
        var coolTrainer = new MeanTrainer(Features);
        await using var hot = new Worker(
            Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = "hot", Telemetry = new FixedTelemetry(new DeviceTelemetry { TemperatureCelsius = 72, Throttled = true }) }),
            network.CreateWorkerTransport("hot"),
            hotTrainer,
            new InMemoryDataSource(TestData.Constant(10, Features, 9f)));
        await using var cool = new Worker(
            Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = "cool", Telemetry = new FixedTelemetry(new DeviceTelemetry { TemperatureCelsius = 41, Throttled = false }) }),
            network.CreateWorkerTransport("cool"),
            coolTrainer,
            new InMemoryDataSource(TestData.Constant(10, Features, 3f)));
        await hot.StartAsync();
        await cool.StartAsync();

        var results = new List<RoundResult>();
        await foreach (RoundResult r in coordinator.RunAsync().WithCancellation(new CancellationTokenSource(Wait).Token))
        {
            results.Add(r);
        }

        // Round 2's window holds both again: "cool" carried over after its update, "hot" kept because it was not selected.
        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Equal(["cool"], r.Selected));
        Assert.All(results, r => Assert.True(r.Completed));
        Assert.Equal(0, hotTrainer.Calls);
        Assert.Equal(2, coolTrainer.Calls);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(3f, v, 3));
    }

    [Fact]
    public async Task RunRoundAsync_DeviceWithdrawsWhileWindowOpen_IsNotSelectedAndWindowClosesOnT()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-22T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var network = new InProcessNetwork(time);
        await using Coordinator coordinator = NewCoordinator(network, Options(TimeSpan.FromSeconds(10)), time);
        await coordinator.StartAsync(Zero());
        (IWorkerTransport ta, ManualDevice a) = await JoinAsync(network, "a");
        (IWorkerTransport tb, ManualDevice b) = await JoinAsync(network, "b");
        (IWorkerTransport tc, ManualDevice c) = await JoinAsync(network, "c");
        await using IWorkerTransport t1 = ta;
        await using IWorkerTransport t2 = tb;
        await using IWorkerTransport t3 = tc;

        // "c" never announces, so the window cannot close early: it waits for T.
        await ta.PublishStatusAsync(new DeviceStatus { DeviceId = "a", Intent = DeviceIntent.Training, ReceivedAt = time.GetUtcNow() });
        await tb.PublishStatusAsync(new DeviceStatus { DeviceId = "b", Intent = DeviceIntent.Training, ReceivedAt = time.GetUtcNow() });
        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == 2);
        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        time.Advance(TimeSpan.FromSeconds(4));
        await tb.PublishStatusAsync(new DeviceStatus { DeviceId = "b", Intent = DeviceIntent.NotReady, Reason = "battery low", ReceivedAt = time.GetUtcNow() });
        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Any(d => d.DeviceId == "b" && d.Intent == DeviceIntent.NotReady));
        Assert.False(round.IsCompleted);
        Assert.True(a.Tasks.IsEmpty);

        time.Advance(TimeSpan.FromSeconds(6));
        RoundTask task = await a.NextTaskAsync(Wait);
        await ta.SendUpdateAsync(Update("a", task, 2f));
        RoundResult result = await round.WaitAsync(Wait);

        Assert.True(result.Completed);
        Assert.Equal(["a"], result.Selected);
        Assert.Empty(b.Tasks);
        Assert.Empty(c.Tasks);
    }

    [Fact]
    public async Task RunRoundAsync_DiscardPolicy_RequestDuringRoundIsDroppedAndCarryOverKeepsIt()
    {
        foreach (LateRequestPolicy policy in new[] { LateRequestPolicy.Discard, LateRequestPolicy.CarryOver })
        {
            var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-22T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
            var network = new InProcessNetwork(time);
            CoordinatorOptions options = Options(TimeSpan.FromSeconds(10));
            options.LateRequests = policy;
            options.WindowSize = 1;
            options.JoinTimeout = TimeSpan.FromSeconds(20);
            await using Coordinator coordinator = NewCoordinator(network, options, time);
            await coordinator.StartAsync(Zero());
            (IWorkerTransport ta, ManualDevice a) = await JoinAsync(network, "a");
            (IWorkerTransport tl, ManualDevice late) = await JoinAsync(network, "late");
            await using IWorkerTransport t1 = ta;
            await using IWorkerTransport t2 = tl;

            await ta.PublishStatusAsync(new DeviceStatus { DeviceId = "a", Intent = DeviceIntent.Training });
            Task<RoundResult> round1 = coordinator.RunRoundAsync().AsTask();
            RoundTask task = await a.NextTaskAsync(Wait);

            // "late" asks while round 1 runs (the window already closed on N = 1).
            await tl.PublishStatusAsync(new DeviceStatus { DeviceId = "late", Intent = DeviceIntent.Training });
            await CoordinatorTests.WaitUntil(() => coordinator.Devices.Any(d => d.DeviceId == "late" && d.Intent == DeviceIntent.Training));
            await ta.SendUpdateAsync(Update("a", task, 1f));
            Assert.True((await round1.WaitAsync(Wait)).Completed);

            Task<RoundResult> round2 = coordinator.RunRoundAsync().AsTask();
            if (policy == LateRequestPolicy.CarryOver)
            {
                RoundTask task2 = await late.NextTaskAsync(Wait);
                await tl.SendUpdateAsync(Update("late", task2, 5f));
                RoundResult r2 = await round2.WaitAsync(Wait);
                Assert.Equal(["late"], r2.Selected);
            }
            else
            {
                // Nobody asks in time: the round gives up after the join timeout (fake clock, no sleeping).
                await CoordinatorTests.WaitUntil(() =>
                {
                    time.Advance(TimeSpan.FromSeconds(5));
                    return round2.IsCompleted;
                });
                RoundResult r2 = await round2.WaitAsync(Wait);
                Assert.False(r2.Completed);
                Assert.Contains("no device asked to train", r2.FailureReason, StringComparison.Ordinal);
                Assert.Empty(late.Tasks);
            }
        }
    }

    [Fact]
    public async Task RunRoundAsync_Checkpoint_PersistsTemporalWindowStateAndResumeRestoresItsSequence()
    {
        var network = new InProcessNetwork();
        var store = new FileCheckpointStore(_dir);
        await using (Coordinator coordinator = NewCoordinator(network, Options(TimeSpan.FromSeconds(10)), store: store))
        {
            await coordinator.StartAsync(Zero());
            (IWorkerTransport ta, ManualDevice a) = await JoinAsync(network, "a");
            await using IWorkerTransport t1 = ta;
            for (int r = 1; r <= 2; r++)
            {
                await ta.PublishStatusAsync(new DeviceStatus { DeviceId = "a", Intent = DeviceIntent.Training });
                Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
                await ta.SendUpdateAsync(Update("a", await a.NextTaskAsync(Wait), r));
                Assert.True((await round.WaitAsync(Wait)).Completed);
            }
        }

        CoordinatorCheckpoint? saved = await store.LoadAsync();
        Assert.NotNull(saved);
        Assert.NotNull(saved.Window);
        Assert.Equal(2, saved.Window.Sequence);
        Assert.Equal(TimeSpan.FromSeconds(10), saved.Window.Duration);
        Assert.Equal(2, saved.Window.ArrivalHistory.Count);

        // The restarted coordinator numbers its next window 3.
        var network2 = new InProcessNetwork();
        await using Coordinator resumed = NewCoordinator(network2, Options(TimeSpan.FromSeconds(10)), store: store);
        Assert.True(await resumed.StartAsync(Zero()));
        (IWorkerTransport tb, ManualDevice b) = await JoinAsync(network2, "a");
        await using IWorkerTransport t2 = tb;
        await tb.PublishStatusAsync(new DeviceStatus { DeviceId = "a", Intent = DeviceIntent.Training });
        Task<RoundResult> round3 = resumed.RunRoundAsync().AsTask();
        await tb.SendUpdateAsync(Update("a", await b.NextTaskAsync(Wait), 3f));
        RoundResult result = await round3.WaitAsync(Wait);
        Assert.Equal(3, result.Round);
        CoordinatorCheckpoint? after = await store.LoadAsync();
        Assert.Equal(3, after!.Window!.Sequence);
    }

    [Fact]
    public async Task StartAsync_WindowSmallerThanQuorum_ThrowsNamingWindowSize()
    {
        CoordinatorOptions options = Options(TimeSpan.FromSeconds(10));
        options.MinParticipants = 3;
        options.WindowSize = 2;
        await using Coordinator coordinator = NewCoordinator(new InProcessNetwork(), options);
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains("WindowSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunRoundAsync_ZeroWindowDuration_ClosesAsSoonAsAQuorumAsked()
    {
        var time = new FakeTimeProvider();
        var network = new InProcessNetwork(time);
        CoordinatorOptions options = Options(TimeSpan.Zero);
        await using Coordinator coordinator = NewCoordinator(network, options, time);
        await coordinator.StartAsync(Zero());
        (IWorkerTransport ta, ManualDevice a) = await JoinAsync(network, "a");
        (IWorkerTransport tb, ManualDevice b) = await JoinAsync(network, "b");
        await using IWorkerTransport t1 = ta;
        await using IWorkerTransport t2 = tb;

        // "b" is admitted but never asks; with T = 0 the window does not wait for it (the clock never moves).
        await ta.PublishStatusAsync(new DeviceStatus { DeviceId = "a", Intent = DeviceIntent.Training });
        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        await ta.SendUpdateAsync(Update("a", await a.NextTaskAsync(Wait), 1f));
        RoundResult result = await round.WaitAsync(Wait);
        Assert.Equal(["a"], result.Selected);
        Assert.Empty(b.Tasks);
    }

    private sealed class FixedTelemetry(DeviceTelemetry reading) : ITelemetrySource
    {
        public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(reading);
    }
}
