using FedEdge.Core.Tests.Data;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Training;

public sealed class AnomalyDetectorTests
{
    [Fact]
    public async Task TrainAsync_BenignNbaiotOnly_DetectsAttacksOnHeldOut()
    {
        (Dataset train, Dataset test, _) = NbaiotFixture.ScaledSplit(seed: 4);
        (Dataset fit, Dataset validation) = DataSplits.StratifiedSplit(train.Select(train.IndicesWithLabel(0)), 0.2, 4);
        ModelBundle model = ModelCatalog.Create("autoencoder", seed: 4);
        (AnomalyDetector detector, TrainingResult training) = await AnomalyDetector.TrainAsync(
            model.Trainer, model.InitialParameters, fit, validation,
            new TrainingHyperParameters { LocalEpochs = 5, BatchSize = 32, LearningRate = 1e-3f, Seed = 4 },
            ThresholdMethod.Quantile, 0.99);
        ClassificationMetrics m = await detector.EvaluateAsync(test);
        Assert.Equal(fit.Count, training.SampleCount);
        Assert.True(m.F1 >= 0.95, $"F1 {m.F1:F4}, recall {m.Recall:F4}, FPR {m.FalsePositiveRate:F4}, AUC {m.RocAuc:F4}, threshold {detector.Threshold.Value}");
        Assert.True(m.FalsePositiveRate <= 0.05, $"FPR {m.FalsePositiveRate:F4}");
    }

    [Fact]
    public void Fit_MeanPlusKStd_MatchesHandComputation()
    {
        AnomalyThreshold t = AnomalyThreshold.Fit([1f, 2f, 3f, 4f], ThresholdMethod.MeanPlusKStd, 2);
        Assert.Equal(2.5, t.Mean, 12);
        Assert.Equal(Math.Sqrt(1.25), t.StdDev, 12);
        Assert.Equal(2.5 + (2 * Math.Sqrt(1.25)), t.Value, 12);
    }

    [Fact]
    public void Fit_Quantile_Interpolates()
    {
        AnomalyThreshold t = AnomalyThreshold.Fit([4f, 1f, 3f, 2f], ThresholdMethod.Quantile, 0.5);
        Assert.Equal(2.5, t.Value, 6);
    }

    [Fact]
    public void Json_RoundTrip_KeepsEverything()
    {
        AnomalyThreshold t = AnomalyThreshold.Fit([0.1f, 0.2f, 0.7f], ThresholdMethod.Quantile, 0.9);
        Assert.Equal(t, AnomalyThreshold.FromJson(t.ToJson()));
        Assert.Contains("\"quantile\"", t.ToJson(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("nope")]
    public void FromJson_Bad_ThrowsFormatException(string json) => Assert.Throws<FormatException>(() => AnomalyThreshold.FromJson(json));

    [Fact]
    public async Task TrainAsync_NoBenignRows_Throws()
    {
        var attacks = new Dataset(new float[115 * 2], [1, 1], 115);
        ModelBundle model = ModelCatalog.Create("autoencoder", 1);
        await Assert.ThrowsAsync<ArgumentException>(() => AnomalyDetector.TrainAsync(model.Trainer, model.InitialParameters, attacks, attacks, new TrainingHyperParameters()));
    }
}
