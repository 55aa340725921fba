using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Privacy;
using FedEdge.Rounds;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>One hostile device must not corrupt the model: out-of-bounds updates are refused, diverged aggregates are not committed.</summary>
public sealed class PoisoningTests : IDisposable
{
    private const int Features = 3;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-poison-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static CoordinatorOptions Options(int rounds) => new()
    {
        MaxRounds = rounds,
        MinParticipants = 3,
        WindowSize = 4,
        WindowDuration = TimeSpan.FromSeconds(2),
        RoundTimeout = TimeSpan.FromSeconds(20),
        MaxConsecutiveFailures = null,
        HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
    };

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    [Theory]
    [InlineData(1e30f, 10L, "beyond the bound")]
    [InlineData(0f, 1L << 62, "samples")]
    [InlineData(1e5f, 10L, "previous round's reference norm")]
    public async Task RunAsync_OneHostileDevice_IsRefusedEveryRoundAndTheModelIsTheHonestMean(float value, long samples, string reason)
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options(3)), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
        await coordinator.StartAsync(Zero());
        var honest = new MeanTrainer(Features);
        var workers = new List<Worker>
        {
            NewWorker(network, "a", TestData.Constant(10, Features, 1f), honest),
            NewWorker(network, "b", TestData.Constant(10, Features, 2f), honest),
            NewWorker(network, "c", TestData.Constant(10, Features, 3f), honest),
            NewWorker(network, "evil", TestData.Constant(10, Features, 0f), new HostileTrainer(value, samples, fromRound: value == 1e5f ? 2 : 1)),
        };
        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            var results = new List<RoundResult>();
            await foreach (RoundResult r in coordinator.RunAsync().WithCancellation(new CancellationTokenSource(Wait).Token))
            {
                results.Add(r);
            }

            Assert.Equal(3, results.Count(r => r.Completed));
            RoundResult attacked = results.First(r => !r.Contributors.Contains("evil"));
            RefusedUpdate refusal = Assert.Single(attacked.Failed, f => f.DeviceId == "evil");
            Assert.Contains(reason, refusal.Reason, StringComparison.Ordinal);
            Assert.Contains(workers[3].Receipts, r => !r.Accepted && r.Reason!.Contains("out of bounds", StringComparison.Ordinal));

            // With LR 1 every honest device moves to its mean, so the honest FedAvg is exactly 2 (the hostile update never counted).
            Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(2f, v, 3));
            Assert.Equal(WorkerState.ReadyForLearning, workers[0].State);
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RunRoundAsync_AggregateBeyondTheValueBound_RoundFailsAndThePreviousModelIsNeitherPublishedNorCheckpointed()
    {
        var network = new InProcessNetwork();
        var store = new FileCheckpointStore(_dir);
        CoordinatorOptions options = Options(1);
        options.MinParticipants = 1;
        options.WindowSize = 1;
        await using var coordinator = new Coordinator(
            Microsoft.Extensions.Options.Options.Create(options),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.FedAvg(),
            new DenyListAdmission(),
            aggregateTransforms: [new ExplodingTransform()],
            checkpoints: store);
        await coordinator.StartAsync(Zero());
        await using Worker a = NewWorker(network, "a", TestData.Constant(10, Features, 1f), new MeanTrainer(Features));
        await a.StartAsync();

        RoundResult result = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);

        Assert.False(result.Completed);
        Assert.Contains("not committed", result.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, coordinator.CompletedRounds);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0f, v));
        Assert.Null(await store.LoadAsync());
        GlobalModel? seen = a.LatestGlobalModel;
        Assert.NotNull(seen);
        Assert.Equal(0, seen.Version); // only the initial model ever reached the device
    }

    private static Worker NewWorker(InProcessNetwork network, string id, Dataset data, ITrainer trainer) =>
        new(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), trainer, new InMemoryDataSource(data));

    /// <summary>Returns finite but hostile parameters and a claimed sample count, from a given round on (honest mean-seeking before).</summary>
    private sealed class HostileTrainer(float value, long samples, int fromRound) : ITrainer
    {
        private readonly MeanTrainer _honest = new(Features);
        private int _calls;

        public ParameterLayout Layout => _honest.Layout;

        public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _calls) < fromRound)
            {
                return await _honest.TrainAsync(request, cancellationToken);
            }

            ParameterSet p = request.GlobalParameters.CreateZeroed();
            p.Values.Fill(value);
            return new TrainingResult { Parameters = p, SampleCount = samples, Steps = 1, Loss = 0.1 };
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            _honest.EvaluateAsync(parameters, data, cancellationToken);
    }

    /// <summary>An aggregate transform gone wrong: adds a huge finite value to every coordinate.</summary>
    private sealed class ExplodingTransform : IAggregateTransform
    {
        public string Name => "explode";

        public void Apply(ParameterSet aggregate, AggregateTransformContext context) => aggregate.Values.Fill(1e20f);
    }
}
