using System.Text.Json;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>train --mednn-report</c>: MEDNN's memory-efficiency recipe measured on the real N-BaIoT rows (80/20 stratified split,
/// min–max scaled on the training part): a dense float32 baseline against weight elimination + micro-batching, then
/// magnitude pruning at several sparsities with one masked fine-tuning epoch and float16 storage.
/// </summary>
internal static class MednnReport
{
    public static async Task<int> RunAsync(string dataDir, int epochs)
    {
        Dataset all = Dataset.Concat(NbaiotReader.ReadDirectory(dataDir).Select(d => d.Data).ToList());
        (Dataset train, Dataset test, _) = DataSplits.ScaledStratifiedSplit(all, 0.2, 1);
        NetworkSpec spec = NetworkSpec.Mednn;
        ParameterSet init = spec.InitializeParameters(1);
        var hp = new TrainingHyperParameters { LocalEpochs = epochs, BatchSize = 128, LearningRate = 1e-3f, Seed = 1 };

        var dense = new ManagedTrainer(spec);
        TrainingResult baseline = await dense.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = train, HyperParameters = hp }).ConfigureAwait(false);
        ClassificationMetrics baseMetrics = await Metrics(dense, baseline.Parameters, test).ConfigureAwait(false);

        var we = new WeightEliminationOptions { Lambda = 1e-4, W0 = 0.1 };
        var regularised = new ManagedTrainer(spec, new ManagedTrainerOptions { WeightElimination = we });
        TrainingResult mednn = await regularised.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = train, HyperParameters = hp with { MicroBatchSize = 8 } }).ConfigureAwait(false);
        ClassificationMetrics mednnMetrics = await Metrics(regularised, mednn.Parameters, test).ConfigureAwait(false);

        var pruned = new List<Dictionary<string, object?>>();
        foreach (double sparsity in new[] { 0.5, 0.8, 0.9, 0.95, 0.97, 0.99 })
        {
            PruningMask mask = PruningMask.FromSmallestWeights(mednn.Parameters, sparsity);
            var masked = new ManagedTrainer(spec, new ManagedTrainerOptions { Mask = mask, WeightElimination = we with { Adapt = false } });
            ParameterSet start = mednn.Parameters.Clone();
            mask.Apply(start);
            ClassificationMetrics beforeTune = await Metrics(masked, start, test).ConfigureAwait(false);
            TrainingResult tuned = await masked.TrainAsync(new TrainingRequest { GlobalParameters = start, Data = train, HyperParameters = hp with { LocalEpochs = 1, MicroBatchSize = 8 } }).ConfigureAwait(false);
            ParameterSet half = CompactModel.FromHalf(tuned.Parameters.Layout, CompactModel.ToHalf(tuned.Parameters));
            ClassificationMetrics m = await Metrics(masked, half, test).ConfigureAwait(false);
            long bytes = CompactModel.SparseFloat16Bytes(half);
            pruned.Add(new Dictionary<string, object?>
            {
                ["sparsity"] = Math.Round(mask.Sparsity, 4),
                ["f1_pruned_no_finetune"] = Math.Round(beforeTune.F1, 4),
                ["f1_finetuned_fp16"] = Math.Round(m.F1, 4),
                ["accuracy_finetuned_fp16"] = Math.Round(m.Accuracy, 4),
                ["model_bytes_sparse_fp16"] = bytes,
                ["model_size_reduction"] = Math.Round(1 - ((double)bytes / CompactModel.Float32Bytes(half)), 4),
            });
        }

        long baseBuffers = dense.TrainingBufferBytes(128);
        long microBuffers = regularised.TrainingBufferBytes(128, 8);
        var report = new Dictionary<string, object?>
        {
            ["mode"] = "train --mednn-report",
            ["rows_train"] = train.Count,
            ["rows_test"] = test.Count,
            ["epochs"] = epochs,
            ["baseline"] = new Dictionary<string, object?>
            {
                ["f1"] = Math.Round(baseMetrics.F1, 4),
                ["accuracy"] = Math.Round(baseMetrics.Accuracy, 4),
                ["model_bytes_fp32"] = CompactModel.Float32Bytes(baseline.Parameters),
                ["training_buffer_bytes_batch128"] = baseBuffers,
            },
            ["weight_elimination_microbatch8"] = new Dictionary<string, object?>
            {
                ["f1"] = Math.Round(mednnMetrics.F1, 4),
                ["accuracy"] = Math.Round(mednnMetrics.Accuracy, 4),
                ["final_lambda"] = mednn.Metrics["weight_elimination_lambda"],
                ["weights_below_0.01"] = mednn.Parameters.Values.ToArray().Count(v => Math.Abs(v) < 0.01f),
                ["parameters"] = mednn.Parameters.Length,
                ["training_buffer_bytes"] = microBuffers,
                ["training_memory_reduction"] = Math.Round(1 - ((double)microBuffers / baseBuffers), 4),
                ["model_bytes_fp16_dense"] = CompactModel.Float16Bytes(mednn.Parameters),
            },
            ["pruned_finetuned_fp16"] = pruned,
        };
        Console.WriteLine(JsonSerializer.Serialize(report));
        return 0;
    }

    private static async Task<ClassificationMetrics> Metrics(ManagedTrainer trainer, ParameterSet parameters, Dataset test)
    {
        EvaluationResult e = await trainer.EvaluateAsync(parameters, test).ConfigureAwait(false);
        return ClassificationMetrics.Compute(e.Scores, test.Labels);
    }
}
