using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Data;
using FedEdge.Torch;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>train --net colearn|mednn|ae --batch B --steps S --engine managed|torch|both|pytorch|all [--python PATH] [--data DIR] [--json]</c>:
/// trains a seed network on the real N-BaIoT rows on one thread and prints steps/s, samples/s, final loss and memory.
/// <c>pytorch</c> runs bench/pytorch/train_batch1.py (Python PyTorch, one thread) on the same rows next to the managed
/// trainer; <c>all</c> adds TorchSharp too.
/// </summary>
internal static class TrainBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        string net = "mednn", engine = "managed";
        int batch = 1, steps = 2000;
        string? dataDir = null;
        string? python = null;
        double warmupSeconds = 3;
        bool mednnReport = false;
        bool anomalyReport = false;
        int reportEpochs = 3;
        bool memory = false;
        int? batchGiven = null;
        int micro = 8;
        double sparsity = 0.95;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--net": net = Next(); break;
                case "--engine": engine = Next(); break;
                case "--batch": batch = int.Parse(Next(), CultureInfo.InvariantCulture); batchGiven = batch; break;
                case "--memory": memory = true; break;
                case "--micro": micro = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--sparsity": sparsity = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": dataDir = Next(); break;
                case "--python": python = Next(); break;
                case "--warmup": warmupSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--mednn-report": mednnReport = true; break;
                case "--anomaly-report": anomalyReport = true; break;
                case "--epochs": reportEpochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--json": break;
                default:
                    await Console.Error.WriteLineAsync($"unknown argument {args[i]}; usage: train --net colearn|mednn|ae --batch B --steps S --engine managed|torch|both|pytorch|all [--python PATH] [--warmup SEC] [--data DIR] --json | train --mednn-report|--anomaly-report [--epochs E] --json | train --net mednn --memory [--batch B] [--micro M] [--sparsity S] [--epochs E] --json").ConfigureAwait(false);
                    return 2;
            }
        }

        if (steps < 2 || batch < 1)
        {
            await Console.Error.WriteLineAsync("--steps must be at least 2 and --batch at least 1").ConfigureAwait(false);
            return 2;
        }

        dataDir ??= FindData();
        if (mednnReport)
        {
            return await MednnReport.RunAsync(dataDir, reportEpochs).ConfigureAwait(false);
        }

        if (memory)
        {
            if (net != "mednn")
            {
                await Console.Error.WriteLineAsync("--memory measures MEDNN's training: use --net mednn").ConfigureAwait(false);
                return 2;
            }

            return await TrainMemoryBench.RunAsync(dataDir, batchGiven ?? 64, micro, sparsity, reportEpochs == 3 && !args.Contains("--epochs") ? 1 : reportEpochs).ConfigureAwait(false);
        }

        if (anomalyReport)
        {
            return await AnomalyReport.RunAsync(dataDir, reportEpochs).ConfigureAwait(false);
        }

        NetworkSpec spec = ModelCatalog.GetSpec(net == "ae" ? "autoencoder" : net);
        Dataset all = Dataset.Concat(NbaiotReader.ReadDirectory(dataDir).Select(d => d.Data).ToList());
        if (spec.IsAutoencoder)
        {
            all = all.Select(all.IndicesWithLabel(0));
        }

        all = MinMaxNormalizer.Fit(all).Transform(all);
        if (ModelCatalog.FeatureSubsetOf(spec) is { } subset)
        {
            all = all.SelectFeatures(subset);
        }

        if (engine is not ("managed" or "torch" or "both" or "pytorch" or "all"))
        {
            await Console.Error.WriteLineAsync("--engine must be managed, torch, both, pytorch or all").ConfigureAwait(false);
            return 2;
        }

        if (engine is "pytorch" or "all")
        {
            return await SideBySidePyTorchAsync(spec, all, engine, batch, steps, warmupSeconds, python).ConfigureAwait(false);
        }

        if (engine == "both")
        {
            // Side by side in one process: TorchSharp (libtorch, PyTorch's engine, one thread) first, then managed.
            Dictionary<string, object?> torch = await MeasureAsync(spec, all, "torch", batch, steps, warmupSeconds).ConfigureAwait(false);
            Dictionary<string, object?> managed = await MeasureAsync(spec, all, "managed", batch, steps, warmupSeconds).ConfigureAwait(false);
            var both = new Dictionary<string, object?>
            {
                ["mode"] = "train",
                ["net"] = spec.Name,
                ["layers"] = string.Join('-', spec.LayerSizes),
                ["engine"] = "both",
                ["batch"] = batch,
                ["threads"] = 1,
                ["managed_steps_per_s"] = managed["steps_per_s"],
                ["torch_steps_per_s"] = torch["steps_per_s"],
                ["managed_to_torch"] = Math.Round((double)managed["steps_per_s"]! / (double)torch["steps_per_s"]!, 2),
                ["managed_allocated_bytes_in_steps"] = managed["allocated_bytes_in_steps"],
                ["managed"] = managed,
                ["torch"] = torch,
            };
            Console.WriteLine(JsonSerializer.Serialize(both));
            return 0;
        }

        Console.WriteLine(JsonSerializer.Serialize(await MeasureAsync(spec, all, engine, batch, steps, warmupSeconds).ConfigureAwait(false)));
        return 0;
    }

    private static async Task<int> SideBySidePyTorchAsync(NetworkSpec spec, Dataset all, string engine, int batch, int steps, double warmupSeconds, string? python)
    {
        // Python PyTorch first (a separate process on the same CSV of normalised rows), then the managed trainer in this
        // process, then TorchSharp for --engine all: one run, the same load on the machine for each.
        (Dictionary<string, object?>? pytorch, string? error) = await PyTorchBench.MeasureAsync(spec, all, batch, steps, warmupSeconds, python).ConfigureAwait(false);
        if (pytorch is null)
        {
            await Console.Error.WriteLineAsync(error).ConfigureAwait(false);
            return 1;
        }

        Dictionary<string, object?> managed = await MeasureAsync(spec, all, "managed", batch, steps, warmupSeconds).ConfigureAwait(false);
        Dictionary<string, object?>? torchSharp = engine == "all"
            ? await MeasureAsync(spec, all, "torch", batch, steps, warmupSeconds).ConfigureAwait(false)
            : null;
        double managedRate = (double)managed["steps_per_s"]!;
        double pytorchRate = (double)pytorch["steps_per_s"]!;
        var output = new Dictionary<string, object?>
        {
            ["mode"] = "train",
            ["net"] = spec.Name,
            ["layers"] = string.Join('-', spec.LayerSizes),
            ["engine"] = engine,
            ["batch"] = batch,
            ["steps"] = steps,
            ["threads"] = 1,
            ["managed_steps_per_s"] = managedRate,
            ["managed_us_per_step"] = Math.Round(1e6 / managedRate, 2),
            ["pytorch_steps_per_s"] = pytorchRate,
            ["pytorch_us_per_step"] = pytorch["us_per_step"],
            ["managed_to_pytorch"] = Math.Round(managedRate / pytorchRate, 2),
            ["torch_steps_per_s"] = torchSharp?["steps_per_s"],
            ["managed_to_torch"] = torchSharp is null ? null : Math.Round(managedRate / (double)torchSharp["steps_per_s"]!, 2),
            ["managed_allocated_bytes_in_steps"] = managed["allocated_bytes_in_steps"],
            ["managed"] = managed,
            ["pytorch"] = pytorch,
            ["torch"] = torchSharp,
        };
        Console.WriteLine(JsonSerializer.Serialize(output));
        return 0;
    }

    private static async Task<Dictionary<string, object?>> MeasureAsync(NetworkSpec spec, Dataset all, string engine, int batch, int steps, double warmupSeconds)
    {
        ITrainer trainer;
        if (engine == "torch")
        {
            TorchSharp.torch.set_num_threads(1);
            trainer = new TorchTrainer(TorchModels.Create(spec), new TorchTrainerOptions { Target = TorchModels.TargetOf(spec) });
        }
        else
        {
            trainer = new ManagedTrainer(spec);
        }

        ParameterSet init = spec.InitializeParameters(1);
        var hp = new TrainingHyperParameters { LocalIterations = steps, BatchSize = batch, LearningRate = 1e-3f, Seed = 1 };

        // Warm-up for at least --warmup seconds (default 3): the JIT's tiered compilation needs time and calls to reach its
        // optimised code, and libtorch its kernels; then the timed run.
        long warmStart = Stopwatch.GetTimestamp();
        do
        {
            await trainer.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = all, HyperParameters = hp with { LocalIterations = Math.Min(200, steps) } }).ConfigureAwait(false);
        }
        while (Stopwatch.GetElapsedTime(warmStart).TotalSeconds < warmupSeconds);

        var clock = new StepClock();
        TrainingResult result = await trainer.TrainAsync(new TrainingRequest { GlobalParameters = init, Data = all, HyperParameters = hp, Progress = clock }).ConfigureAwait(false);
        (trainer as IDisposable)?.Dispose();

        double seconds = Stopwatch.GetElapsedTime(clock.First, clock.Last).TotalSeconds;
        double stepsPerSecond = (clock.Count - 1) / seconds;
        var output = new Dictionary<string, object?>
        {
            ["mode"] = "train",
            ["net"] = spec.Name,
            ["layers"] = string.Join('-', spec.LayerSizes),
            ["engine"] = engine,
            ["batch"] = batch,
            ["steps"] = result.Steps,
            ["threads"] = 1,
            ["warmup_s"] = warmupSeconds,
            ["rows"] = all.Count,
            ["steps_per_s"] = Math.Round(stepsPerSecond, 1),
            ["samples_per_s"] = Math.Round(stepsPerSecond * batch, 1),
            ["final_loss"] = Math.Round(clock.LastLoss, 6),
            ["peak_managed_mb"] = Math.Round(clock.PeakManaged / 1048576.0, 2),
            ["peak_rss_mb"] = PeakRss() is long rss ? Math.Round(rss / 1048576.0, 1) : null,
            ["trainer_buffer_mb"] = result.Metrics.TryGetValue("buffer_bytes", out double b) ? Math.Round(b / 1048576.0, 3) : null,
            ["allocated_bytes_in_steps"] = result.Metrics.TryGetValue("allocated_bytes_in_steps", out double a) ? a : null,
        };
        return output;
    }

    private static string FindData()
    {
        string? env = Environment.GetEnvironmentVariable("FEDEDGE_SHARED");
        if (!string.IsNullOrEmpty(env))
        {
            return Path.Combine(env, "data", "nbaiot");
        }

        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "FedEdge.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir, "..", "shared", "data", "nbaiot"));
            }
        }

        throw new DirectoryNotFoundException("N-BaIoT data not found; pass --data DIR or set FEDEDGE_SHARED.");
    }

    private static long? PeakRss()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    private sealed class StepClock : IProgress<TrainingProgress>
    {
        public long First { get; private set; }

        public long Last { get; private set; }

        public int Count { get; private set; }

        public double LastLoss { get; private set; }

        public long PeakManaged { get; private set; }

        public void Report(TrainingProgress value)
        {
            long now = Stopwatch.GetTimestamp();
            if (Count == 0)
            {
                First = now;
            }

            Last = now;
            Count++;
            LastLoss = value.Loss;
            if ((Count & 63) == 1)
            {
                PeakManaged = Math.Max(PeakManaged, GC.GetTotalMemory(false));
            }
        }
    }
}
