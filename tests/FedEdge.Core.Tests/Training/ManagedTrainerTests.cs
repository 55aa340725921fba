using FedEdge.Core.Tests.Data;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Training;

public sealed class ManagedTrainerTests
{
    [Fact]
    public async Task TrainAsync_MednnOnNbaiot_ReachesF1AtLeast095OnHeldOut()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 1);
        ModelBundle model = ModelCatalog.Create("mednn", seed: 1);
        TrainingResult result = await model.Trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = model.InitialParameters,
            Data = train,
            HyperParameters = new TrainingHyperParameters { LocalEpochs = 2, BatchSize = 64, LearningRate = 1e-3f, Seed = 1 },
        });
        EvaluationResult eval = await model.Trainer.EvaluateAsync(result.Parameters, test);
        var metrics = ClassificationMetrics.Compute(eval.Scores, test.Labels);
        Assert.True(metrics.F1 >= 0.95, $"F1 {metrics.F1:F4} (acc {metrics.Accuracy:F4})");
        Assert.Equal(metrics.F1, eval.Metrics["f1"], 12);
        Assert.Equal(train.Count, result.SampleCount);
    }

    [Fact]
    public async Task TrainAsync_CoLearnOnTenNbaiotFeatures_ReachesF1AtLeast095()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 2);
        ModelBundle model = ModelCatalog.Create("colearn", seed: 2);
        train = train.SelectFeatures(model.FeatureSubset!);
        test = test.SelectFeatures(model.FeatureSubset!);
        TrainingResult result = await model.Trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = model.InitialParameters,
            Data = train,
            HyperParameters = new TrainingHyperParameters { LocalEpochs = 3, BatchSize = 16, LearningRate = 3e-3f, Seed = 2 },
        });
        EvaluationResult eval = await model.Trainer.EvaluateAsync(result.Parameters, test);
        Assert.True(eval.Metrics["f1"] >= 0.95, $"F1 {eval.Metrics["f1"]:F4}");
    }

    [Theory]
    [InlineData("mednn")]
    [InlineData("autoencoder")]
    [InlineData("mlp:6-5-4-1")]
    public void Backward_MatchesFiniteDifferences(string model)
    {
        NetworkSpec spec = model == "mlp:6-5-4-1"
            ? new NetworkSpec("mix", [6, 5, 4, 1], [Activation.Tanh, Activation.Sigmoid, Activation.Identity], LossKind.BinaryCrossEntropy)
            : ModelCatalog.GetSpec(model);
        ParameterSet p = spec.InitializeParameters(5);
        var rng = new Random(3);
        int rows = 6; // four rows through the blocked kernels, two through the single-row path
        var x = Enumerable.Range(0, rows * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = spec.IsAutoencoder ? x : new float[] { 1, 0, 1, 1, 0, 0 };
        var engine = new MlpEngine(spec, p.Layout, rows);
        var grad = new float[p.Length];
        double Loss(ParameterSet ps)
        {
            x.CopyTo(engine.Input(rows));
            engine.Forward(ps.Values, rows);
            var losses = new float[rows];
            engine.RowLosses(y, rows, losses);
            return losses.Select(v => (double)v).Sum() / rows;
        }

        x.CopyTo(engine.Input(rows));
        engine.Forward(p.Values, rows);
        engine.Backward(p.Values, y, rows, 1f / rows, grad);
        int[] probes = Enumerable.Range(0, 25).Select(_ => rng.Next(p.Length)).ToArray();
        foreach (int i in probes)
        {
            ParameterSet plus = p.Clone();
            ParameterSet minus = p.Clone();
            float h = 1e-2f;
            plus.Values[i] += h;
            minus.Values[i] -= h;
            double numeric = (Loss(plus) - Loss(minus)) / (2 * h);
            Assert.True(Math.Abs(numeric - grad[i]) <= 2e-3 + (0.05 * Math.Abs(numeric)), $"param {i}: numeric {numeric}, analytic {grad[i]}");
        }
    }

    [Fact]
    public async Task TrainAsync_SameSeed_SameParameters_OtherSeed_Different()
    {
        Dataset data = SmallData();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(1);
        async Task<string> Run(int seed) => (await trainer.TrainAsync(Request(init, data, new TrainingHyperParameters { LocalEpochs = 2, BatchSize = 8, Seed = seed }))).Parameters.ComputeHash();
        Assert.Equal(await Run(4), await Run(4));
        Assert.NotEqual(await Run(4), await Run(5));
    }

    [Fact]
    public async Task TrainAsync_MicroBatches_EqualFullBatchGradientSteps()
    {
        Dataset data = SmallData();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9f });
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(1);
        var hp = new TrainingHyperParameters { LocalIterations = 20, BatchSize = 32, LearningRate = 0.05f, Seed = 3 };
        TrainingResult full = await trainer.TrainAsync(Request(init, data, hp));
        TrainingResult micro = await trainer.TrainAsync(Request(init, data, hp with { MicroBatchSize = 5 }));
        for (int i = 0; i < init.Length; i++)
        {
            Assert.Equal(full.Parameters.Values[i], micro.Parameters.Values[i], 4);
        }

        Assert.True(micro.PeakMemoryBytes < full.PeakMemoryBytes);
    }

    [Fact]
    public async Task TrainAsync_Steps_AllocateNothing()
    {
        Dataset data = SmallData();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        TrainingResult result = await trainer.TrainAsync(Request(NetworkSpec.CoLearn.InitializeParameters(1), data, new TrainingHyperParameters { LocalIterations = 200, BatchSize = 4, MicroBatchSize = 2, ProximalMu = 0.1f }));
        Assert.Equal(0, result.Metrics["allocated_bytes_in_steps"]);
    }

    [Fact]
    public async Task TrainAsync_LargeProximalMu_StaysCloserToGlobal()
    {
        Dataset data = SmallData();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd });
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(1);
        var hp = new TrainingHyperParameters { LocalIterations = 100, BatchSize = 8, LearningRate = 0.1f };
        double Distance(ParameterSet p)
        {
            double s = 0;
            for (int i = 0; i < p.Length; i++)
            {
                s += Math.Pow(p.Values[i] - init.Values[i], 2);
            }

            return Math.Sqrt(s);
        }

        double free = Distance((await trainer.TrainAsync(Request(init, data, hp))).Parameters);
        double prox = Distance((await trainer.TrainAsync(Request(init, data, hp with { ProximalMu = 1f }))).Parameters);
        Assert.True(prox < free * 0.8, $"prox {prox}, free {free}");
    }

    [Fact]
    public async Task TrainAsync_GovernorCapsSteps_StopsThereAndSaysWhy()
    {
        var governor = new CappingGovernor(before: 50, duringCap: 7, reason: "hot");
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        TrainingResult result = await trainer.TrainAsync(Request(NetworkSpec.CoLearn.InitializeParameters(1), SmallData(), new TrainingHyperParameters { LocalIterations = 100, BatchSize = 4 }) with { Governor = governor });
        Assert.Equal(7, result.Steps);
        Assert.True(result.CutByGovernor);
        Assert.Equal("hot", result.GovernorReason);
    }

    [Fact]
    public async Task TrainAsync_GovernorDeclines_ReturnsGlobalUnchanged()
    {
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(1);
        TrainingResult result = await trainer.TrainAsync(Request(init, SmallData(), new TrainingHyperParameters()) with { Governor = new DecliningGovernor() });
        Assert.Equal(0, result.Steps);
        Assert.Equal(0, result.SampleCount);
        Assert.Equal(init.ComputeHash(), result.Parameters.ComputeHash());
        Assert.Equal("too hot", result.GovernorReason);
    }

    [Fact]
    public async Task TrainAsync_WrongLayout_ThrowsTypedError()
    {
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        await Assert.ThrowsAsync<ParameterLayoutMismatchException>(async () =>
            await trainer.TrainAsync(Request(NetworkSpec.Mednn.InitializeParameters(1), SmallData(), new TrainingHyperParameters())));
    }

    [Fact]
    public async Task TrainAsync_Cancelled_Throws()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await trainer.TrainAsync(Request(NetworkSpec.CoLearn.InitializeParameters(1), SmallData(), new TrainingHyperParameters()), cts.Token));
    }

    [Fact]
    public void ModelCatalog_UnknownName_Throws() => Assert.Throws<ArgumentException>(() => ModelCatalog.GetSpec("resnet"));

    [Fact]
    public void ModelCatalog_Names_UsePyTorchParameterNames()
    {
        ParameterLayout layout = ModelCatalog.GetSpec("mednn").CreateLayout();
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"], layout.Tensors.Select(t => t.Name));
        Assert.Equal([83, 115], layout.Tensors[0].Shape);
        Assert.Equal((115 * 83) + 83 + (83 * 128) + 128 + (128 * 83) + 83 + 83 + 1, layout.TotalLength);
    }

    internal static Dataset SmallData()
    {
        Dataset all = NbaiotFixture.Devices[0].Data.SelectFeatures(ModelCatalog.CoLearnNbaiotFeatures);
        var rows = Enumerable.Range(0, all.Count).Where(i => i % 10 == 0).ToList();
        Dataset small = all.Select(rows);
        return MinMaxNormalizer.Fit(small).Transform(small);
    }

    internal static TrainingRequest Request(ParameterSet init, Dataset data, TrainingHyperParameters hp) =>
        new() { GlobalParameters = init, Data = data, HyperParameters = hp };

    private sealed class CappingGovernor(int before, int duringCap, string reason) : ITrainingGovernor
    {
        public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new GovernorDecision { MaxSteps = before, Reason = reason });

        public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(stepsDone >= 5 ? new GovernorDecision { MaxSteps = duringCap, Reason = reason } : GovernorDecision.Proceed);
    }

    private sealed class DecliningGovernor : ITrainingGovernor
    {
        public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(GovernorDecision.Decline("too hot"));

        public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(GovernorDecision.Proceed);
    }
}
