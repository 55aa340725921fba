using FedEdge.Core.Tests.Data;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Training;

/// <summary>The managed trainer's memory-saving modes: float16 storage, micro-batching, compact optimiser state.</summary>
public sealed class TrainingMemoryTests
{
    // MEDNN with the simulate defaults for the classifiers (SGD, lr 0.2, momentum 0.5), one epoch.
    private static readonly TrainingHyperParameters Hp = new() { LocalEpochs = 1, BatchSize = 64, LearningRate = 0.2f, Seed = 11 };
    private static readonly ManagedTrainerOptions Sgd = new() { Optimizer = OptimizerKind.Sgd, Momentum = 0.5f };

    [Fact]
    public async Task Float16_Trains_LossFalls_AndF1WithinOnePointOfFloat32()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 11);
        ParameterSet init = NetworkSpec.Mednn.InitializeParameters(11);
        var full = new ManagedTrainer(NetworkSpec.Mednn, Sgd);
        var half = new ManagedTrainer(NetworkSpec.Mednn, Sgd with { Precision = ParameterPrecision.Float16 });
        TrainingResult a = await full.TrainAsync(ManagedTrainerTests.Request(init, train, Hp));
        TrainingResult b = await half.TrainAsync(ManagedTrainerTests.Request(init, train, Hp));

        EvaluationResult before = await half.EvaluateAsync(init, test);
        EvaluationResult evalA = await full.EvaluateAsync(a.Parameters, test);
        EvaluationResult evalB = await half.EvaluateAsync(b.Parameters, test);
        Assert.True(evalB.Loss < before.Loss * 0.5, $"loss {before.Loss} -> {evalB.Loss}");

        // Tolerance: F1 within 1 pp and held-out loss within 0.02 of float32's.
        Assert.True(Math.Abs(evalA.Metrics["f1"] - evalB.Metrics["f1"]) <= 0.01, $"f32 {evalA.Metrics["f1"]} f16 {evalB.Metrics["f1"]}");
        Assert.True(Math.Abs(evalA.Loss - evalB.Loss) <= 0.02, $"f32 loss {evalA.Loss} f16 loss {evalB.Loss}");

        // Parameters and gradients take half the bytes; the momentum stays float32.
        Assert.Equal(a.Metrics["memory_weights_bytes"] / 2, b.Metrics["memory_weights_bytes"]);
        Assert.Equal(a.Metrics["memory_gradients_bytes"] / 2, b.Metrics["memory_gradients_bytes"]);
        Assert.Equal(4.0 * init.Length, b.Metrics["memory_optimizer_bytes"]);
        Assert.True(b.Metrics["buffer_bytes"] < a.Metrics["buffer_bytes"] * 0.6, $"{b.Metrics["buffer_bytes"]} vs {a.Metrics["buffer_bytes"]}");
    }

    [Theory]
    [InlineData(ParameterPrecision.Float32)]
    [InlineData(ParameterPrecision.Float16)]
    public async Task MicroBatchOfWholeBatch_EqualsPlainBatching_Exactly(ParameterPrecision precision)
    {
        Dataset data = ManagedTrainerTests.SmallData();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn, Sgd with { Precision = precision });
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(2);
        var hp = new TrainingHyperParameters { LocalIterations = 30, BatchSize = 16, LearningRate = 0.2f, Seed = 2 };
        TrainingResult plain = await trainer.TrainAsync(ManagedTrainerTests.Request(init, data, hp));
        TrainingResult micro = await trainer.TrainAsync(ManagedTrainerTests.Request(init, data, hp with { MicroBatchSize = 16 }));
        Assert.Equal(plain.Parameters.Values.ToArray(), micro.Parameters.Values.ToArray());
    }

    [Fact]
    public async Task Float16MicroBatches_Train_CloseToWholeBatches_WithSmallerActivations()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 12);
        ParameterSet init = NetworkSpec.Mednn.InitializeParameters(12);
        var trainer = new ManagedTrainer(NetworkSpec.Mednn, Sgd with { Precision = ParameterPrecision.Float16 });
        TrainingResult whole = await trainer.TrainAsync(ManagedTrainerTests.Request(init, train, Hp));
        TrainingResult micro = await trainer.TrainAsync(ManagedTrainerTests.Request(init, train, Hp with { MicroBatchSize = 8 }));
        EvaluationResult evalWhole = await trainer.EvaluateAsync(whole.Parameters, test);
        EvaluationResult evalMicro = await trainer.EvaluateAsync(micro.Parameters, test);

        // Micro-batches round the gradient to float16 once per micro-batch instead of once per batch: F1 within 1 pp.
        Assert.True(Math.Abs(evalWhole.Metrics["f1"] - evalMicro.Metrics["f1"]) <= 0.01, $"whole {evalWhole.Metrics["f1"]} micro {evalMicro.Metrics["f1"]}");
        Assert.True(micro.Metrics["memory_activations_bytes"] * 6 < whole.Metrics["memory_activations_bytes"], $"{micro.Metrics["memory_activations_bytes"]} vs {whole.Metrics["memory_activations_bytes"]}");
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adam)]
    public async Task CompactOptimizerState_EqualsFullState_AndPrunedWeightsStayZeroWithoutState(OptimizerKind optimizer)
    {
        Dataset data = ManagedTrainerTests.SmallData();
        ParameterSet init = NetworkSpec.CoLearn.InitializeParameters(3);
        PruningMask mask = PruningMask.FromSmallestWeights(init, 0.8);
        var options = new ManagedTrainerOptions { Optimizer = optimizer, Momentum = 0.5f, Mask = mask };
        var hp = new TrainingHyperParameters { LocalIterations = 40, BatchSize = 8, LearningRate = optimizer == OptimizerKind.Adam ? 1e-2f : 0.2f, Seed = 3 };
        TrainingResult full = await new ManagedTrainer(NetworkSpec.CoLearn, options).TrainAsync(ManagedTrainerTests.Request(init, data, hp));
        TrainingResult compact = await new ManagedTrainer(NetworkSpec.CoLearn, options with { CompactOptimizerState = true }).TrainAsync(ManagedTrainerTests.Request(init, data, hp));

        Assert.Equal(full.Parameters.Values.ToArray(), compact.Parameters.Values.ToArray());
        Assert.NotEqual(init.Values.ToArray(), compact.Parameters.Values.ToArray());
        for (int i = 0; i < mask.Keep.Length; i++)
        {
            if (mask.Keep[i] == 0f)
            {
                Assert.Equal(0f, compact.Parameters.Values[i]);
            }
        }

        // State only for the kept positions: one float (momentum) or two (Adam's moments) each.
        int perPosition = optimizer == OptimizerKind.Adam ? 2 : 1;
        Assert.Equal(4.0 * perPosition * mask.Kept, compact.Metrics["memory_optimizer_bytes"]);
        Assert.Equal(4.0 * perPosition * init.Length, full.Metrics["memory_optimizer_bytes"]);
    }

    [Fact]
    public async Task Float16WithMaskAndCompactState_KeepsPrunedWeightsZero_AndLearns()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 13);
        ParameterSet init = NetworkSpec.Mednn.InitializeParameters(13);
        PruningMask mask = PruningMask.FromSmallestWeights(init, 0.5);
        var trainer = new ManagedTrainer(NetworkSpec.Mednn, Sgd with
        {
            Mask = mask,
            Precision = ParameterPrecision.Float16,
            CompactOptimizerState = true,
            WeightElimination = new WeightEliminationOptions(),
        });
        TrainingResult result = await trainer.TrainAsync(ManagedTrainerTests.Request(init, train, Hp with { MicroBatchSize = 16 }));
        for (int i = 0; i < mask.Keep.Length; i++)
        {
            if (mask.Keep[i] == 0f)
            {
                Assert.Equal(0f, result.Parameters.Values[i]);
            }
        }

        EvaluationResult eval = await trainer.EvaluateAsync(result.Parameters, test);
        Assert.True(eval.Metrics["f1"] >= 0.95, $"F1 {eval.Metrics["f1"]}");
        Assert.Equal(4.0 * mask.Kept, result.Metrics["memory_optimizer_bytes"]);
    }

    [Theory]
    [InlineData("mednn")]
    [InlineData("autoencoder")]
    public void Float16Passes_MatchFloat32Passes_OnFloat16RepresentableWeights(string model)
    {
        NetworkSpec spec = ModelCatalog.GetSpec(model);
        ParameterSet p = spec.InitializeParameters(5);
        Half[] half = CompactModel.ToHalf(p);
        ParameterSet widened = CompactModel.FromHalf(p.Layout, half);
        var rng = new Random(4);
        int rows = 6;
        float[] x = Enumerable.Range(0, rows * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] y = spec.IsAutoencoder ? x : [1, 0, 1, 1, 0, 0];

        var f32 = new MlpEngine(spec, p.Layout, rows);
        x.CopyTo(f32.Input(rows));
        f32.Forward(widened.Values, rows);
        float[] out32 = f32.Output(rows).ToArray();
        var g32 = new float[p.Length];
        double loss32 = f32.Backward(widened.Values, y, rows, 1f / rows, g32);

        var f16 = new MlpEngine(spec, p.Layout, rows, float16Rows: true);
        x.CopyTo(f16.Input(rows));
        f16.Forward(half, rows);
        float[] out16 = f16.Output(rows).ToArray();
        var g16 = new Half[p.Length];
        double loss16 = f16.Backward(half, y, rows, 1f / rows, g16);

        // Same weights, float32 arithmetic in both: outputs and loss agree to float32 rounding; the gradient differs by
        // its float16 rounding (relative 2^-11) plus float16's smallest step near zero.
        for (int i = 0; i < out32.Length; i++)
        {
            Assert.Equal(out32[i], out16[i], 4);
        }

        Assert.Equal(loss32, loss16, 4);
        for (int i = 0; i < g32.Length; i++)
        {
            Assert.True(Math.Abs(g32[i] - (float)g16[i]) <= (Math.Abs(g32[i]) * 1e-3) + 1e-6, $"gradient {i}: {g32[i]} vs {(float)g16[i]}");
        }
    }

    [Fact]
    public void Options_UnknownPrecision_AreRefused() =>
        Assert.Throws<ArgumentException>(() => new ManagedTrainer(NetworkSpec.CoLearn, new ManagedTrainerOptions { Precision = (ParameterPrecision)7 }));
}
