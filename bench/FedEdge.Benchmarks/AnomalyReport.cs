using System.Text.Json;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>train --anomaly-report</c>: the FedIoT-style autoencoder trained on benign N-BaIoT rows only (80 % of the benign
/// training split), its threshold fitted on the other 20 % of benign training rows, scored on the held-out test split
/// (benign and attack rows of all four devices) for several threshold rules.
/// </summary>
internal static class AnomalyReport
{
    public static async Task<int> RunAsync(string dataDir, int epochs)
    {
        Dataset all = Dataset.Concat(NbaiotReader.ReadDirectory(dataDir).Select(d => d.Data).ToList());
        (Dataset train, Dataset test, _) = DataSplits.ScaledStratifiedSplit(all, 0.2, 1);
        (Dataset fit, Dataset validation) = DataSplits.StratifiedSplit(train.Select(train.IndicesWithLabel(0)), 0.2, 1);
        ModelBundle model = ModelCatalog.Create("autoencoder", 1);
        var hp = new TrainingHyperParameters { LocalEpochs = epochs, BatchSize = 32, LearningRate = 1e-3f, Seed = 1 };
        (AnomalyDetector detector, TrainingResult training) = await AnomalyDetector.TrainAsync(model.Trainer, model.InitialParameters, fit, validation, hp).ConfigureAwait(false);
        float[] validationErrors = await detector.ScoreAsync(validation).ConfigureAwait(false);
        float[] testErrors = await detector.ScoreAsync(test).ConfigureAwait(false);
        var rules = new List<Dictionary<string, object?>>();
        foreach ((ThresholdMethod method, double parameter) in new[] { (ThresholdMethod.MeanPlusKStd, 1.0), (ThresholdMethod.MeanPlusKStd, 3.0), (ThresholdMethod.Quantile, 0.95), (ThresholdMethod.Quantile, 0.99), (ThresholdMethod.Quantile, 0.999) })
        {
            AnomalyThreshold threshold = AnomalyThreshold.Fit(validationErrors, method, parameter);
            ClassificationMetrics m = ClassificationMetrics.Compute(testErrors, test.Labels, Math.BitIncrement(threshold.Value));
            rules.Add(new Dictionary<string, object?>
            {
                ["rule"] = method == ThresholdMethod.MeanPlusKStd ? $"mean+{parameter}std" : $"q{parameter}",
                ["threshold"] = threshold.Value,
                ["f1"] = Math.Round(m.F1, 4),
                ["precision"] = Math.Round(m.Precision, 4),
                ["recall"] = Math.Round(m.Recall, 4),
                ["fpr"] = Math.Round(m.FalsePositiveRate, 4),
            });
        }

        var report = new Dictionary<string, object?>
        {
            ["mode"] = "train --anomaly-report",
            ["benign_fit_rows"] = fit.Count,
            ["benign_threshold_rows"] = validation.Count,
            ["test_rows"] = test.Count,
            ["epochs"] = epochs,
            ["final_train_loss"] = Math.Round(training.Loss, 6),
            ["roc_auc"] = ClassificationMetrics.ComputeRocAuc(testErrors, test.Labels) is double auc ? Math.Round(auc, 4) : null,
            ["rules"] = rules,
        };
        Console.WriteLine(JsonSerializer.Serialize(report));
        return 0;
    }
}
