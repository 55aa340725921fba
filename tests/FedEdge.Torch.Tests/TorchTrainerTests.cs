using FedEdge.Data;
using FedEdge.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FedEdge.Torch.Tests;

public sealed class TorchTrainerTests
{
    private static readonly Lazy<(Dataset Train, Dataset Test)> Split = new(() =>
    {
        IReadOnlyList<DataPartition> devices = NbaiotReader.ReadDirectory(Path.Combine(RepoPaths.Data, "nbaiot"));
        (Dataset train, Dataset test, _) = DataSplits.ScaledStratifiedSplit(Dataset.Concat(devices.Select(d => d.Data).ToList()), 0.2, 1);
        return (train, test);
    });

    [Theory]
    [InlineData("mednn", 2, 64, 1e-3f)]
    [InlineData("colearn", 3, 16, 3e-3f)]
    public async Task TrainAsync_SeedNetworkOnNbaiot_ReachesF1AtLeast095(string name, int epochs, int batch, float lr)
    {
        ModelBundle model = TorchModels.CreateBundle(name, seed: 1);
        using var trainer = (TorchTrainer)model.Trainer;
        (Dataset train, Dataset test) = Split.Value;
        if (model.FeatureSubset is not null)
        {
            train = train.SelectFeatures(model.FeatureSubset);
            test = test.SelectFeatures(model.FeatureSubset);
        }

        TrainingResult result = await trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = model.InitialParameters,
            Data = train,
            HyperParameters = new TrainingHyperParameters { LocalEpochs = epochs, BatchSize = batch, LearningRate = lr, Seed = 1 },
        });
        EvaluationResult eval = await trainer.EvaluateAsync(result.Parameters, test);
        Assert.True(eval.Metrics["f1"] >= 0.95, $"{name}: F1 {eval.Metrics["f1"]:F4}");
    }

    [Theory]
    [InlineData("mednn", "adam", 0f, null)]
    [InlineData("colearn", "sgd", 0.1f, 4)]
    [InlineData("autoencoder", "adam", 0f, null)]
    public async Task TrainAsync_SameSetupAsManaged_GivesSameLossCurve(string name, string optimizer, float mu, int? micro)
    {
        NetworkSpec spec = ModelCatalog.GetSpec(name);
        ParameterSet init = spec.InitializeParameters(11);
        (Dataset train, _) = Split.Value;
        Dataset data = train.Select(Enumerable.Range(0, 2000).Select(i => i * 5).ToList());
        if (ModelCatalog.FeatureSubsetOf(spec) is { } subset)
        {
            data = data.SelectFeatures(subset);
        }

        var hp = new TrainingHyperParameters
        {
            LocalIterations = 60,
            BatchSize = 32,
            MicroBatchSize = micro,
            LearningRate = optimizer == "sgd" ? 0.05f : 1e-3f,
            ProximalMu = mu,
            Seed = 5,
            Extra = new Dictionary<string, string> { ["optimizer"] = optimizer, ["momentum"] = "0.9" },
        };
        var managedCurve = new LossRecorder();
        var torchCurve = new LossRecorder();
        var managed = new ManagedTrainer(spec);
        TrainingResult m = await managed.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = data, HyperParameters = hp, Progress = managedCurve });
        using var torchTrainer = new TorchTrainer(TorchModels.Create(spec), new TorchTrainerOptions { Target = TorchModels.TargetOf(spec) });
        TrainingResult t = await torchTrainer.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = data, HyperParameters = hp, Progress = torchCurve });

        Assert.Equal(60, managedCurve.Losses.Count);
        Assert.Equal(60, torchCurve.Losses.Count);
        for (int i = 0; i < 60; i++)
        {
            double a = managedCurve.Losses[i], b = torchCurve.Losses[i];
            Assert.True(Math.Abs(a - b) <= 1e-4 + (1e-3 * Math.Abs(b)), $"step {i + 1}: managed {a}, torch {b}");
        }

        Assert.True(managedCurve.Losses[^1] < managedCurve.Losses[0]);
        double maxDiff = 0;
        for (int i = 0; i < init.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(m.Parameters.Values[i] - t.Parameters.Values[i]));
        }

        Assert.True(maxDiff < 1e-3, $"parameters differ by up to {maxDiff}");
    }

    [Fact]
    public void StateDictConverter_RoundTrip_KeepsValuesAndNames()
    {
        using var module = TorchModels.Create(NetworkSpec.Mednn);
        ParameterSet set = NetworkSpec.Mednn.InitializeParameters(3);
        StateDictConverter.Load(module, set);
        ParameterSet back = StateDictConverter.ToParameterSet(module);
        Assert.Equal(set.ComputeHash(), back.ComputeHash());
        Assert.Equal(NetworkSpec.Mednn.CreateLayout(), back.Layout);
    }

    [Fact]
    public void StateDictConverter_WrongShape_ThrowsTypedErrorNamingTheEntry()
    {
        using var module = nn.Sequential(("fc1", nn.Linear(10, 50)), ("act1", nn.ReLU()), ("fc2", nn.Linear(50, 31)), ("fc3", nn.Linear(31, 1)));
        ParameterSet colearn = NetworkSpec.CoLearn.InitializeParameters(1);
        var ex = Assert.Throws<ParameterLayoutMismatchException>(() => StateDictConverter.Load(module, colearn));
        Assert.Contains("fc2.weight", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StateDictConverter_WrongNames_ThrowsTypedError()
    {
        using var module = nn.Sequential(("layer1", nn.Linear(10, 50)), ("fc2", nn.Linear(50, 30)), ("fc3", nn.Linear(30, 1)));
        var ex = Assert.Throws<ParameterLayoutMismatchException>(() => StateDictConverter.Load(module, NetworkSpec.CoLearn.InitializeParameters(1)));
        Assert.Contains("layer1.weight", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainAsync_AnyOptimizerAndLoss_UsesThem()
    {
        NetworkSpec spec = NetworkSpec.CoLearn;
        (Dataset train, _) = Split.Value;
        Dataset data = train.Select(Enumerable.Range(0, 500).ToList()).SelectFeatures(ModelCatalog.CoLearnNbaiotFeatures);
        int lossCalls = 0;
        using var trainer = new TorchTrainer(TorchModels.Create(spec), new TorchTrainerOptions
        {
            OptimizerFactory = (p, hp) => optim.RMSProp(p, hp.LearningRate),
            Loss = (o, t) =>
            {
                lossCalls++;
                return nn.functional.binary_cross_entropy_with_logits(o, t);
            },
        });
        TrainingResult r = await trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = spec.InitializeParameters(1),
            Data = data,
            HyperParameters = new TrainingHyperParameters { LocalIterations = 10, BatchSize = 50, LearningRate = 1e-3f },
        });
        Assert.Equal(10, lossCalls);
        Assert.Equal(10, r.Steps);
        Assert.NotEqual(spec.InitializeParameters(1).ComputeHash(), r.Parameters.ComputeHash());
    }

    private sealed class LossRecorder : IProgress<TrainingProgress>
    {
        public List<double> Losses { get; } = [];

        public void Report(TrainingProgress value) => Losses.Add(value.Loss);
    }
}
