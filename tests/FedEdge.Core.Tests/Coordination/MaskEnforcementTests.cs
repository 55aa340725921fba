using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging.InProcess;
using FedEdge.Privacy;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>The coordinator enforces pruning masks (<see cref="PrunedWeightsTransform"/>): a device cannot revive pruned weights.</summary>
public sealed class MaskEnforcementTests
{
    private static readonly ParameterLayout Layout = new(new TensorSpec("fc.weight", 4), new TensorSpec("fc.bias", 1));

    // Weights 0 and 1 are pruned (zero in the global model); the bias is never pruned.
    private static ParameterSet Global() => new(Layout, [0f, 0f, 1f, 1f, 0.5f]);

    [Fact]
    public void Apply_NonZeroOnPrunedPositions_AreZeroedAndCounted()
    {
        ParameterSet global = Global();
        var delta = new ParameterSet(Layout, [3f, 0f, 0.25f, -0.5f, 1f]);
        var context = new UpdateTransformContext { Round = 1, SenderId = "d", GlobalParameters = global };
        new PrunedWeightsTransform().Apply(delta, context);
        Assert.Equal([0f, 0f, 0.25f, -0.5f, 1f], delta.Values.ToArray());
        Assert.Equal(1, context.Metrics["mask.violations"]);
        Assert.Equal(3, context.Metrics["mask.violation_l1"]);
    }

    [Fact]
    public void Apply_CustomRule_ForcesNewlyPrunedPositionsToZero()
    {
        // A rule that also prunes weight 2 this round (as MEDNN's growing mask does): its value must end at 0.
        var global = new ParameterSet(Layout, [0f, 0f, 1f, 2f, 0.5f]);
        var delta = new ParameterSet(Layout, [0f, 0f, 0.25f, 0.5f, 0f]);
        var transform = new PrunedWeightsTransform(g => PruningMask.FromSmallestWeights(g, 0.75));
        var context = new UpdateTransformContext { Round = 1, SenderId = "d", GlobalParameters = global };
        transform.Apply(delta, context);
        Assert.Equal(-1f, delta.Values[2]);
        Assert.Equal(0.5f, delta.Values[3]);
        Assert.Equal(1, context.Metrics["mask.violations"]);
    }

    [Fact]
    public void ApplyToAggregate_ResiduesOnPrunedPositions_EndExactlyZero()
    {
        // The round's rule prunes weights 0..2 (weight 2 newly); the averaged change left tiny residues there.
        var global = new ParameterSet(Layout, [0f, 0f, 1f, 2f, 0.5f]);
        var change = new ParameterSet(Layout, [1e-9f, 0f, -0.99999994f, 0.25f, 0.125f]);
        var transform = PrunedWeightsTransform.ForRounds((g, round) => PruningMask.FromSmallestWeights(g, round >= 2 ? 0.75 : 0));
        var context = new AggregateTransformContext { Round = 2, ContributorCount = 4, GlobalParameters = global };
        ((IAggregateTransform)transform).Apply(change, context);
        Assert.Equal([0f, 0f, -1f, 0.25f, 0.125f], change.Values.ToArray());
        Assert.Equal(2, context.Metrics["mask.aggregate_residue"]);
        float[] next = [.. global.Values.ToArray().Zip(change.Values.ToArray(), (g, c) => g + c)];
        Assert.Equal([0f, 0f, 0f, 2.25f, 0.625f], next);
    }

    [Fact]
    public void ApplyToAggregate_RoundBeforeTheScheduleStarts_LeavesTheAggregate()
    {
        var global = new ParameterSet(Layout, [0.5f, 0.25f, 1f, 2f, 0.5f]);
        var change = new ParameterSet(Layout, [1e-9f, 0.5f, -0.25f, 0.25f, 0.125f]);
        var transform = PrunedWeightsTransform.ForRounds((g, round) => PruningMask.FromSmallestWeights(g, round >= 2 ? 0.75 : 0));
        var context = new AggregateTransformContext { Round = 1, ContributorCount = 4, GlobalParameters = global };
        ((IAggregateTransform)transform).Apply(change, context);
        Assert.Equal([1e-9f, 0.5f, -0.25f, 0.25f, 0.125f], change.Values.ToArray());
        Assert.Equal(0, context.Metrics["mask.aggregate_residue"]);
    }

    [Fact]
    public void Apply_WithoutGlobalParameters_LeavesTheUpdate()
    {
        var delta = new ParameterSet(Layout, [3f, 0f, 0.25f, -0.5f, 1f]);
        new PrunedWeightsTransform().Apply(delta, new UpdateTransformContext { Round = 1, SenderId = "d" });
        Assert.Equal([3f, 0f, 0.25f, -0.5f, 1f], delta.Values.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Round_HostileDeviceWritesPrunedPositions_OnlyWithoutTheTransformAreTheyRevived(bool enforce)
    {
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions
        {
            MaxRounds = 1,
            MinParticipants = 4,
            WindowSize = 4,
            WindowDuration = TimeSpan.FromSeconds(2),
            RoundTimeout = TimeSpan.FromSeconds(20),
            MaxConsecutiveFailures = null,
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using var coordinator = new Coordinator(
            Microsoft.Extensions.Options.Options.Create(options),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.FedAvg(),
            new DenyListAdmission(),
            aggregateTransforms: enforce ? [new PrunedWeightsTransform()] : null,
            updateTransforms: enforce ? [new PrunedWeightsTransform()] : null);
        await coordinator.StartAsync(Global());
        Dataset data = TestData.Constant(10, 2, 1f);
        var honest = new[] { new KeptPlusOneTrainer(), new KeptPlusOneTrainer(), new KeptPlusOneTrainer() };
        var workers = new[] { "a", "b", "c" }
            .Select((id, i) => new Worker(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), honest[i], new InMemoryDataSource(data)))
            .Append(new Worker(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = "evil" }), network.CreateWorkerTransport("evil"), new EverywhereTrainer(2f), new InMemoryDataSource(data)))
            .ToList();
        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            RoundResult? result = null;
            await foreach (RoundResult r in coordinator.RunAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
            {
                result = r;
            }

            Assert.True(result is { Completed: true, Participants: 4 }, result?.FailureReason);
            Assert.All(honest, t => Assert.Equal(1L, t.LastRound)); // the worker passes the round task's number to the trainer
            float[] values = coordinator.GlobalParameters.Values.ToArray();
            if (enforce)
            {
                // Pruned weights stay exactly 0; kept weights are the mean of 2, 2, 2 and the hostile 2, the bias of 1.5, 1.5, 1.5 and 2.
                Assert.Equal([0f, 0f, 2f, 2f, 1.625f], values);
            }
            else
            {
                Assert.Equal(0.5f, values[0]);
                Assert.Equal(0.5f, values[1]);
            }
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    /// <summary>An honest masked device: adds 1 to every non-zero value, pruned (zero) weights stay 0.</summary>
    private sealed class KeptPlusOneTrainer : ITrainer
    {
        public ParameterLayout Layout => MaskEnforcementTests.Layout;

        public long? LastRound { get; private set; }

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            LastRound = request.Round;
            ParameterSet p = request.GlobalParameters.Clone();
            for (int i = 0; i < p.Length; i++)
            {
                p.Values[i] = p.Values[i] == 0f ? 0f : p.Values[i] + 1f;
            }

            return ValueTask.FromResult(new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = 1, Loss = 0 });
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = data.Count, Scores = new float[data.Count] });
    }

    /// <summary>A hostile device: sends <c>value</c> everywhere, pruned positions included.</summary>
    private sealed class EverywhereTrainer(float value) : ITrainer
    {
        public ParameterLayout Layout => MaskEnforcementTests.Layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            ParameterSet p = request.GlobalParameters.Clone();
            p.Values.Fill(value);
            return ValueTask.FromResult(new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = 1, Loss = 0 });
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = data.Count, Scores = new float[data.Count] });
    }
}
