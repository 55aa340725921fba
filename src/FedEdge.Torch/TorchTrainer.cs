using System.Diagnostics;
using System.Globalization;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedEdge.Torch;

/// <summary>What a TorchSharp model is trained to reproduce and how its output becomes a score.</summary>
public enum TorchTargetKind
{
    /// <summary>A binary classifier on one logit: the target is the row's 0/1 label, the score is sigmoid(logit).</summary>
    LabelLogit = 0,

    /// <summary>A regressor with one output: the target is the row's label, the score is the output.</summary>
    Label = 1,

    /// <summary>An autoencoder: the target is the input row, the score is the per-row mean squared reconstruction error.</summary>
    Input = 2,
}

/// <summary>Options of the TorchSharp trainer.</summary>
public sealed record TorchTrainerOptions
{
    /// <summary>The training target and scoring.</summary>
    public TorchTargetKind Target { get; init; } = TorchTargetKind.LabelLogit;

    /// <summary>
    /// The loss (output, target) → mean loss; null picks <c>BCEWithLogitsLoss</c> for <see cref="TorchTargetKind.LabelLogit"/>
    /// and <c>MSELoss</c> otherwise. Any TorchSharp loss works.
    /// </summary>
    public Func<Tensor, Tensor, Tensor>? Loss { get; init; }

    /// <summary>
    /// Creates the optimiser for a run from the module's parameters and the round's hyper-parameters; null creates
    /// <see cref="Optimizer"/> (Adam or SGD with <see cref="Momentum"/>) at the round's learning rate. Any TorchSharp optimiser works.
    /// </summary>
    public Func<IEnumerable<Parameter>, TrainingHyperParameters, optim.Optimizer>? OptimizerFactory { get; init; }

    /// <summary>The built-in optimiser when no factory is given (overridable per round with <c>Extra["optimizer"]</c>).</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>SGD momentum for the built-in optimiser.</summary>
    public float Momentum { get; init; }

    /// <summary>When false, batches follow the row order.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Rows per forward pass during evaluation.</summary>
    public int EvaluationBatchSize { get; init; } = 512;

    /// <summary>The clock for governor pauses and durations.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// Trains any TorchSharp <c>nn.Module</c> behind Core's trainer port. The parameters travel as the module's
/// <c>state_dict</c> (names and shapes checked). Batches follow Core's <see cref="BatchSchedule"/>, so with equal seeds it
/// visits rows in the same order as the managed trainer. Runs on one module are serialised; dispose the trainer to
/// release the module.
/// </summary>
public sealed class TorchTrainer : ITrainer, IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _module;
    private readonly TorchTrainerOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly bool _ownsModule;

    /// <summary>Creates a trainer around <paramref name="module"/>.</summary>
    /// <param name="module">The model; its <c>state_dict</c> must be float32.</param>
    /// <param name="options">Options; null uses the defaults (binary classifier, Adam).</param>
    /// <param name="ownsModule">When true, disposing the trainer disposes the module.</param>
    public TorchTrainer(nn.Module<Tensor, Tensor> module, TorchTrainerOptions? options = null, bool ownsModule = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        _module = module;
        _options = options ?? new TorchTrainerOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.EvaluationBatchSize);
        ArgumentNullException.ThrowIfNull(_options.TimeProvider);
        _ownsModule = ownsModule;
        Layout = StateDictConverter.GetLayout(module);
    }

    /// <inheritdoc />
    public ParameterLayout Layout { get; }

    /// <summary>The module being trained.</summary>
    public nn.Module<Tensor, Tensor> Module => _module;

    /// <inheritdoc />
    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        TrainingHyperParameters hp = request.HyperParameters ?? throw new ArgumentException("Hyper-parameters are required.", nameof(request));
        CheckLayout(request.GlobalParameters);
        Dataset data = request.Data ?? throw new ArgumentException("Data are required.", nameof(request));
        if (data.Count == 0)
        {
            throw new ArgumentException("The local data set has no rows.", nameof(request));
        }

        if (hp.BatchSize <= 0 || hp.MicroBatchSize is <= 0 || !(hp.LearningRate > 0) || !(hp.ProximalMu >= 0) || hp.LocalEpochs < 0 || hp.LocalIterations is < 0)
        {
            throw new ArgumentException("Hyper-parameters need a positive batch size, micro-batch size and learning rate, and non-negative μ, epochs and iterations.", nameof(request));
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await TrainLockedAsync(request, hp, data, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckLayout(parameters);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            StateDictConverter.Load(_module, parameters);
            _module.eval();
            var scores = new float[data.Count];
            double lossSum = 0;
            using (no_grad())
            {
                for (int start = 0; start < data.Count; start += _options.EvaluationBatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int rows = Math.Min(_options.EvaluationBatchSize, data.Count - start);
                    using var scope = NewDisposeScope();
                    Tensor x = torch.tensor(data.Features.Slice(start * data.FeatureCount, rows * data.FeatureCount).ToArray(), [rows, data.FeatureCount]);
                    Tensor output = _module.forward(x);
                    Tensor perRow;
                    Tensor score;
                    switch (_options.Target)
                    {
                        case TorchTargetKind.Input:
                            perRow = (output - x).pow(2).mean([1]);
                            score = perRow;
                            break;
                        case TorchTargetKind.LabelLogit:
                            {
                                Tensor y = torch.tensor(data.Labels.Slice(start, rows).ToArray(), [rows, 1]);
                                perRow = nn.functional.binary_cross_entropy_with_logits(output, y, reduction: nn.Reduction.None).reshape(rows);
                                score = sigmoid(output).reshape(rows);
                                break;
                            }

                        default:
                            {
                                Tensor y = torch.tensor(data.Labels.Slice(start, rows).ToArray(), [rows, 1]);
                                perRow = (output - y).pow(2).reshape(rows);
                                score = output.reshape(rows);
                                break;
                            }
                    }

                    lossSum += perRow.sum().item<float>();
                    score.data<float>().ToArray().CopyTo(scores, start);
                }
            }

            IReadOnlyDictionary<string, double> metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            bool binary = data.Count > 0 && data.Labels.ToArray().All(l => l is 0f or 1f);
            if (binary && _options.Target == TorchTargetKind.LabelLogit)
            {
                metrics = ClassificationMetrics.Compute(scores, data.Labels).ToDictionary();
            }
            else if (binary && ClassificationMetrics.ComputeRocAuc(scores, data.Labels) is double auc)
            {
                metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["roc_auc"] = auc };
            }

            return new EvaluationResult { Loss = data.Count == 0 ? double.NaN : lossSum / data.Count, Count = data.Count, Scores = scores, Metrics = metrics };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _gate.Dispose();
        if (_ownsModule)
        {
            _module.Dispose();
        }
    }

    private async Task<TrainingResult> TrainLockedAsync(TrainingRequest request, TrainingHyperParameters hp, Dataset data, CancellationToken cancellationToken)
    {
        long start = _options.TimeProvider.GetTimestamp();
        var schedule = new BatchSchedule(data.Count, hp.BatchSize, hp.Seed, _options.Shuffle);
        int planned = schedule.PlannedSteps(hp);
        GovernorSession governor = await GovernorSession.BeginAsync(request, planned, _options.TimeProvider, start, cancellationToken).ConfigureAwait(false);
        if (governor.Declined is TrainingResult declined)
        {
            return declined;
        }

        planned = governor.PlannedSteps;
        bool cut = governor.Cut;
        string? reason = governor.Reason;

        StateDictConverter.Load(_module, request.GlobalParameters);
        _module.train();
        Parameter[] parameters = _module.parameters().ToArray();
        Tensor[] global = parameters.Select(p => p.detach().clone()).ToArray();
        using Tensor allX = torch.tensor(data.Features.ToArray(), [data.Count, data.FeatureCount]);
        using Tensor allY = torch.tensor(data.Labels.ToArray(), [data.Count, 1]);
        Func<Tensor, Tensor, Tensor> loss = _options.Loss ?? (_options.Target == TorchTargetKind.LabelLogit
            ? (o, t) => nn.functional.binary_cross_entropy_with_logits(o, t)
            : (o, t) => nn.functional.mse_loss(o, t));
        using optim.Optimizer optimizer = _options.OptimizerFactory?.Invoke(parameters, hp) ?? CreateOptimizer(parameters, hp);
        int micro = Math.Min(hp.MicroBatchSize ?? hp.BatchSize, hp.BatchSize);
        var index = new long[hp.BatchSize];
        int steps = 0;
        double windowLoss = 0;
        int windowSteps = 0;
        long samples = 0;
        try
        {
            while (steps < planned)
            {
                cancellationToken.ThrowIfCancellationRequested();
                bool proceed = await governor.ContinueAsync(steps, cancellationToken).ConfigureAwait(false);
                (planned, cut, reason) = (governor.PlannedSteps, governor.Cut, governor.Reason);
                if (!proceed)
                {
                    break;
                }

                ReadOnlySpan<int> batch = schedule.Next(out bool startsEpoch);
                if (startsEpoch)
                {
                    windowLoss = 0;
                    windowSteps = 0;
                }

                double stepLoss = 0;
                optimizer.zero_grad();
                for (int m = 0; m < batch.Length; m += micro)
                {
                    int rows = Math.Min(micro, batch.Length - m);
                    for (int i = 0; i < rows; i++)
                    {
                        index[i] = batch[m + i];
                    }

                    using var scope = NewDisposeScope();
                    Tensor idx = torch.tensor(index.AsSpan(0, rows).ToArray(), [rows]);
                    Tensor x = allX.index_select(0, idx);
                    Tensor target = _options.Target == TorchTargetKind.Input ? x : allY.index_select(0, idx);
                    Tensor part = loss(_module.forward(x), target) * ((double)rows / batch.Length);
                    part.backward();
                    stepLoss += part.item<float>();
                }

                if (hp.ProximalMu > 0)
                {
                    using var scope = NewDisposeScope();
                    Tensor prox = torch.zeros(1);
                    for (int p = 0; p < parameters.Length; p++)
                    {
                        prox = prox + (parameters[p] - global[p]).pow(2).sum();
                    }

                    Tensor proxLoss = prox * (0.5 * hp.ProximalMu);
                    proxLoss.backward();
                    stepLoss += proxLoss.item<float>();
                }

                optimizer.step();
                samples += batch.Length;
                steps++;
                windowLoss += stepLoss;
                windowSteps++;
                request.Progress?.Report(new TrainingProgress(steps, planned, stepLoss));
            }
        }
        finally
        {
            foreach (Tensor g in global)
            {
                g.Dispose();
            }
        }

        ParameterSet trained = StateDictConverter.ToParameterSet(_module);
        if (!trained.AllFinite())
        {
            throw new TrainingDivergedException($"TorchSharp training produced non-finite parameters after {steps} steps; lower the learning rate.");
        }

        return new TrainingResult
        {
            Parameters = trained,
            SampleCount = data.Count,
            Steps = steps,
            Loss = windowSteps > 0 ? windowLoss / windowSteps : double.NaN,
            Duration = _options.TimeProvider.GetElapsedTime(start),
            PeakMemoryBytes = PeakResidentBytes(),
            CutByGovernor = cut,
            GovernorReason = cut ? reason ?? "steps capped by the governor" : null,
            Metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["samples_seen"] = samples },
        };
    }

    private optim.Optimizer CreateOptimizer(IEnumerable<Parameter> parameters, TrainingHyperParameters hp)
    {
        OptimizerKind kind = _options.Optimizer;
        double momentum = _options.Momentum;
        if (hp.Extra.TryGetValue("optimizer", out string? name))
        {
            kind = name.Trim().ToUpperInvariant() switch
            {
                "SGD" => OptimizerKind.Sgd,
                "ADAM" => OptimizerKind.Adam,
                _ => throw new ArgumentException($"Unknown optimizer '{name}' in the round's extra settings; use 'sgd' or 'adam'."),
            };
        }

        if (hp.Extra.TryGetValue("momentum", out string? m) && (!double.TryParse(m, NumberStyles.Float, CultureInfo.InvariantCulture, out momentum) || momentum is < 0 or >= 1))
        {
            throw new ArgumentException($"Momentum '{m}' in the round's extra settings is not a number in [0, 1).");
        }

        return kind == OptimizerKind.Adam
            ? optim.Adam(parameters, lr: hp.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8)
            : optim.SGD(parameters, hp.LearningRate, momentum: momentum);
    }

    private void CheckLayout(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Layout.DescribeMismatch(parameters.Layout) is string why)
        {
            throw new ParameterLayoutMismatchException($"The parameters do not fit the module's state_dict: {why}.");
        }
    }

    /// <summary>The process's peak resident set (VmHWM) on Linux, which includes libtorch's native memory; null elsewhere.</summary>
    internal static long? PeakResidentBytes()
    {
        const string status = "/proc/self/status";
        if (!OperatingSystem.IsLinux() || !File.Exists(status))
        {
            return null;
        }

        foreach (string line in File.ReadLines(status))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                string kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return null;
    }
}
