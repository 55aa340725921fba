using System.Globalization;
using System.Text.Json;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>train --net mednn --memory [--batch B] [--micro M] [--sparsity S] [--epochs E] --json</c>: the worker's training memory
/// for MEDNN, not the model file. One local training (simulate's optimiser: SGD, lr 0.2, momentum 0.5) per configuration,
/// in one process on the same N-BaIoT split: the dense float32 baseline first, then MEDNN's method (mask + weight
/// elimination) with each memory-saving option added in turn. Per configuration: the trainer's buffers by part (weights,
/// gradients, optimiser state, activations and micro-batch buffers, other), GC bytes allocated per step, and the process's
/// peak working set during the run (VmHWM reset through /proc/self/clear_refs before each run).
/// </summary>
internal static class TrainMemoryBench
{
    public static async Task<int> RunAsync(string dataDir, int batch, int micro, double sparsity, int epochs)
    {
        if (micro < 1 || micro > batch || !(sparsity is >= 0 and < 1) || epochs < 1)
        {
            await Console.Error.WriteLineAsync("--micro must be in [1, batch], --sparsity in [0, 1) and --epochs at least 1").ConfigureAwait(false);
            return 2;
        }

        Dataset all = Dataset.Concat(NbaiotReader.ReadDirectory(dataDir).Select(d => d.Data).ToList());
        (Dataset train, Dataset test, _) = DataSplits.ScaledStratifiedSplit(all, 0.2, 1);
        NetworkSpec spec = NetworkSpec.Mednn;
        ParameterSet init = spec.InitializeParameters(1);
        var hp = new TrainingHyperParameters { LocalEpochs = epochs, BatchSize = batch, LearningRate = 0.2f, Seed = 1 };
        var sgd = new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.5f };

        // The dense baseline trains from the initial weights; MEDNN's configurations fine-tune the baseline's result under a
        // mask of its smallest weights, as a device does once the agreed mask has reached its target sparsity.
        var rows = new List<Dictionary<string, object?>>();
        (Dictionary<string, object?> baseRow, ParameterSet trained) = await MeasureAsync("dense float32 (baseline)", spec, sgd, init, train, test, hp).ConfigureAwait(false);
        rows.Add(baseRow);
        PruningMask mask = PruningMask.FromSmallestWeights(trained, sparsity);
        ParameterSet start = trained.Clone();
        mask.Apply(start);
        var mednn = sgd with { Mask = mask, WeightElimination = new WeightEliminationOptions() };
        var configs = new (string Name, ManagedTrainerOptions Options, ParameterSet Start, int? Micro)[]
        {
            ("dense float16 + micro-batches", sgd with { Precision = ParameterPrecision.Float16 }, init, micro),
            ("mednn mask float32 (simulate --compress before)", mednn, start, null),
            ("mednn mask + compact optimiser state", mednn with { CompactOptimizerState = true }, start, null),
            ("mednn mask + compact state + float16", mednn with { CompactOptimizerState = true, Precision = ParameterPrecision.Float16 }, start, null),
            ("mednn mask + compact state + float16 + micro-batches (all)", mednn with { CompactOptimizerState = true, Precision = ParameterPrecision.Float16 }, start, micro),
        };
        foreach ((string name, ManagedTrainerOptions options, ParameterSet from, int? m) in configs)
        {
            (Dictionary<string, object?> row, _) = await MeasureAsync(name, spec, options, from, train, test, hp with { MicroBatchSize = m }).ConfigureAwait(false);
            rows.Add(row);
        }

        double baseBytes = Convert.ToDouble(baseRow["trainer_bytes"], CultureInfo.InvariantCulture);
        foreach (Dictionary<string, object?> row in rows)
        {
            row["reduction_vs_baseline"] = Math.Round(1 - (Convert.ToDouble(row["trainer_bytes"], CultureInfo.InvariantCulture) / baseBytes), 4);
        }

        var report = new Dictionary<string, object?>
        {
            ["mode"] = "train --memory",
            ["net"] = spec.Name,
            ["layers"] = string.Join('-', spec.LayerSizes),
            ["parameters"] = init.Length,
            ["batch"] = batch,
            ["micro_batch"] = micro,
            ["sparsity"] = Math.Round(mask.Sparsity, 4),
            ["rows_train"] = train.Count,
            ["local_data_bytes"] = 4L * train.Count * (train.FeatureCount + 1),
            ["model_in_out_bytes_float32"] = 4L * init.Length,
            ["configs"] = rows,
        };
        Console.WriteLine(JsonSerializer.Serialize(report));
        return 0;
    }

    private static async Task<(Dictionary<string, object?> Row, ParameterSet Trained)> MeasureAsync(string name, NetworkSpec spec, ManagedTrainerOptions options, ParameterSet start, Dataset train, Dataset test, TrainingHyperParameters hp)
    {
        var trainer = new ManagedTrainer(spec, options);

        // Warm the JIT on a few steps so its allocations do not count, then settle the heap and reset the peak working set.
        await trainer.TrainAsync(new TrainingRequest { GlobalParameters = start, Data = train, HyperParameters = hp with { LocalEpochs = 0, LocalIterations = 50 } }).ConfigureAwait(false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        bool reset = ResetPeak();
        long rssBefore = ProcStatus("VmRSS:") ?? 0;
        TrainingResult result = await trainer.TrainAsync(new TrainingRequest { GlobalParameters = start, Data = train, HyperParameters = hp }).ConfigureAwait(false);
        long? peak = ProcStatus("VmHWM:");
        EvaluationResult eval = await trainer.EvaluateAsync(result.Parameters, test).ConfigureAwait(false);
        IReadOnlyDictionary<string, double> m = result.Metrics;
        var row = new Dictionary<string, object?>
        {
            ["config"] = name,
            ["precision"] = options.Precision.ToString(),
            ["compact_optimizer_state"] = options.CompactOptimizerState && options.Mask is not null,
            ["mask_sparsity"] = options.Mask is null ? 0 : Math.Round(options.Mask.Sparsity, 4),
            ["micro_batch"] = hp.MicroBatchSize,
            ["weights_bytes"] = m["memory_weights_bytes"],
            ["gradients_bytes"] = m["memory_gradients_bytes"],
            ["optimizer_bytes"] = m["memory_optimizer_bytes"],
            ["activations_bytes"] = m["memory_activations_bytes"],
            ["other_bytes"] = m["memory_other_bytes"],
            ["trainer_bytes"] = m["buffer_bytes"],
            ["steps"] = result.Steps,
            ["allocated_bytes_per_step"] = Math.Round(m["allocated_bytes_in_steps"] / Math.Max(1, result.Steps), 2),
            ["allocated_bytes_run"] = m["allocated_bytes_total"],
            ["peak_working_set_mb"] = peak is long p ? Math.Round(p / 1048576.0, 1) : null,
            ["peak_over_start_mb"] = reset && peak is long p2 ? Math.Round((p2 - rssBefore) / 1048576.0, 2) : null,
            ["f1"] = Math.Round(eval.Metrics["f1"], 4),
            ["test_loss"] = Math.Round(eval.Loss, 5),
            ["hash"] = result.Parameters.ComputeHash(), ["w0"] = result.Parameters.Values[5], ["s0"] = start.Values[5],
        };
        return (row, result.Parameters);
    }

    /// <summary>Resets the process's peak resident set (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs).</summary>
    private static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long? ProcStatus(string key)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line is null ? null : long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
