using FedEdge.Core.Tests.Data;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Training;

public sealed class MednnCompressionTests
{
    private static readonly TrainingHyperParameters Hp = new() { LocalEpochs = 2, BatchSize = 64, MicroBatchSize = 8, LearningRate = 1e-3f, Seed = 6 };

    [Fact]
    public async Task WeightElimination_PushesMoreWeightsTowardZero_AndKeepsF1()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 6);
        ParameterSet init = NetworkSpec.Mednn.InitializeParameters(6);
        var plain = new ManagedTrainer(NetworkSpec.Mednn);
        var regularised = new ManagedTrainer(NetworkSpec.Mednn, new ManagedTrainerOptions { WeightElimination = new WeightEliminationOptions { Lambda = 1e-4, W0 = 0.1 } });
        TrainingResult a = await plain.TrainAsync(ManagedTrainerTests.Request(init, train, Hp));
        TrainingResult b = await regularised.TrainAsync(ManagedTrainerTests.Request(init, train, Hp));
        Assert.True(SmallWeights(b.Parameters) > SmallWeights(a.Parameters) * 1.2, $"regularised {SmallWeights(b.Parameters)}, plain {SmallWeights(a.Parameters)}");
        Assert.True(b.Metrics["weight_elimination_lambda"] != 1e-4, "λ was not adapted");
        EvaluationResult eval = await regularised.EvaluateAsync(b.Parameters, test);
        Assert.True(eval.Metrics["f1"] >= 0.95, $"F1 {eval.Metrics["f1"]}");
    }

    [Fact]
    public async Task PruneFineTuneAndFloat16_KeepsF1AndShrinksModel()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 7);
        var trainer = new ManagedTrainer(NetworkSpec.Mednn);
        TrainingResult dense = await trainer.TrainAsync(ManagedTrainerTests.Request(NetworkSpec.Mednn.InitializeParameters(7), train, Hp));
        PruningMask mask = PruningMask.FromSmallestWeights(dense.Parameters, 0.9);
        Assert.InRange(mask.Sparsity, 0.88, 0.9);
        var masked = new ManagedTrainer(NetworkSpec.Mednn, new ManagedTrainerOptions { Mask = mask });
        TrainingResult tuned = await masked.TrainAsync(ManagedTrainerTests.Request(dense.Parameters, train, Hp with { LocalEpochs = 1 }));
        foreach (int i in Enumerable.Range(0, mask.Keep.Length).Where(i => mask.Keep[i] == 0))
        {
            Assert.Equal(0f, tuned.Parameters.Values[i]);
        }

        ParameterSet half = CompactModel.FromHalf(tuned.Parameters.Layout, CompactModel.ToHalf(tuned.Parameters));
        EvaluationResult eval = await masked.EvaluateAsync(half, test);
        Assert.True(eval.Metrics["f1"] >= 0.95, $"F1 {eval.Metrics["f1"]}");
        Assert.True(CompactModel.SparseFloat16Bytes(half) < CompactModel.Float32Bytes(half) * 0.1);
    }

    [Fact]
    public void TrainingBufferBytes_MicroBatching_ShrinksActivations()
    {
        var trainer = new ManagedTrainer(NetworkSpec.Mednn);
        long full = trainer.TrainingBufferBytes(128);
        long micro = trainer.TrainingBufferBytes(128, 8);
        Assert.True(micro < full, $"{micro} vs {full}");
        Assert.Equal((410 + (2 * 128) + 1) * 4L * 120, full - micro);
    }

    private static int SmallWeights(ParameterSet p)
    {
        int count = 0;
        for (int t = 0; t < p.Layout.Tensors.Count; t++)
        {
            if (p.Layout.Tensors[t].Name.EndsWith(".weight", StringComparison.Ordinal))
            {
                foreach (float v in p.GetTensor(t))
                {
                    if (Math.Abs(v) < 0.01f)
                    {
                        count++;
                    }
                }
            }
        }

        return count;
    }
}
