using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using FedEdge.Data;
using FedEdge.Metrics;

namespace FedEdge.Training;

/// <summary>
/// The managed trainer: fully connected networks (<see cref="NetworkSpec"/>) trained on the CPU in pure .NET
/// with SIMD (System.Numerics.Tensors), for devices where libtorch does not run. Mini-batches with optional
/// micro-batching (gradient accumulation), SGD with momentum or Adam, FedProx, MEDNN weight elimination and
/// pruning masks; deterministic given the seed; every buffer is allocated once per run, none per step.
/// Thread-safe: runs share no mutable state.
/// </summary>
public sealed class ManagedTrainer : ITrainer
{
    private readonly ManagedTrainerOptions _options;
    private readonly TrainingInstruments _instruments;

    /// <summary>Creates a trainer for <paramref name="spec"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid or the mask does not fit the layout.</exception>
    public ManagedTrainer(NetworkSpec spec, ManagedTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _options = options ?? new ManagedTrainerOptions();
        _options.Validate();
        _instruments = new TrainingInstruments(_options.MeterFactory);
        Spec = spec;
        Layout = spec.CreateLayout();
        if (_options.Mask is not null && Layout.DescribeMismatch(_options.Mask.Layout) is string why)
        {
            throw new ArgumentException("The pruning mask does not fit the network: " + why, nameof(options));
        }
    }

    /// <summary>The network.</summary>
    public NetworkSpec Spec { get; }

    /// <inheritdoc />
    public ParameterLayout Layout { get; }

    /// <summary>The options.</summary>
    public ManagedTrainerOptions Options => _options;

    /// <summary>
    /// Bytes of the buffers one training run holds for a mini-batch of <paramref name="batchSize"/> rows and micro-batches of
    /// <paramref name="microBatchSize"/> (null: none): parameters, global copy, gradient, optimiser state, activations,
    /// deltas and the batch targets. This is the run's working memory apart from the data set itself.
    /// </summary>
    public long TrainingBufferBytes(int batchSize, int? microBatchSize = null, OptimizerKind? optimizer = null)
    {
        int block = Math.Min(batchSize, microBatchSize ?? batchSize);
        var engine = new MlpEngine(Spec, Layout, block);
        int stateArrays = (optimizer ?? _options.Optimizer) == OptimizerKind.Adam ? 3 : 2;
        return engine.BufferBytes + (4L * Layout.TotalLength * (3 + stateArrays)) + (4L * block * Spec.OutputSize);
    }

    /// <inheritdoc />
    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        TrainingHyperParameters hp = request.HyperParameters ?? throw new ArgumentException("Hyper-parameters are required.", nameof(request));
        CheckInputs(request.GlobalParameters, request.Data);
        if (request.Data.Count == 0)
        {
            throw new ArgumentException("The local data set has no rows.", nameof(request));
        }

        if (hp.BatchSize <= 0 || hp.MicroBatchSize is <= 0 || !(hp.LearningRate > 0) || !float.IsFinite(hp.LearningRate) || !(hp.ProximalMu >= 0) || hp.LocalEpochs < 0 || hp.LocalIterations is < 0)
        {
            throw new ArgumentException("Hyper-parameters need a positive batch size, micro-batch size and learning rate, and non-negative μ, epochs and iterations.", nameof(request));
        }

        cancellationToken.ThrowIfCancellationRequested();
        long startTimestamp = _options.TimeProvider.GetTimestamp();
        (OptimizerKind optimizer, float momentum) = ResolveOptimizer(hp);

        var schedule = new BatchSchedule(request.Data.Count, hp.BatchSize, hp.Seed, _options.Shuffle);
        int planned = schedule.PlannedSteps(hp);
        GovernorSession governor = await GovernorSession.BeginAsync(request, planned, _options.TimeProvider, startTimestamp, cancellationToken).ConfigureAwait(false);
        if (governor.Declined is TrainingResult declined)
        {
            return declined;
        }

        planned = governor.PlannedSteps;
        bool cut = governor.Cut;
        string? reason = governor.Reason;

        var run = new Run(this, request, optimizer, momentum);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        int steps = 0;
        double windowLoss = 0;
        int windowSteps = 0;
        double epochLoss = 0;
        long epochRows = 0;
        double? previousEpochLoss = null;
        double averageLoss = double.NaN;
        long samplesSeen = 0;
        long allocatedInSteps = 0;
        while (steps < planned)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool proceed = await governor.ContinueAsync(steps, cancellationToken).ConfigureAwait(false);
            (planned, cut, reason) = (governor.PlannedSteps, governor.Cut, governor.Reason);
            if (!proceed)
            {
                break;
            }

            long allocStart = GC.GetAllocatedBytesForCurrentThread();
            ReadOnlySpan<int> batch = schedule.Next(out bool startsEpoch);
            if (startsEpoch && epochRows > 0)
            {
                double meanEpoch = epochLoss / epochRows;
                run.AdaptLambda(meanEpoch, previousEpochLoss, ref averageLoss);
                previousEpochLoss = meanEpoch;
                epochLoss = 0;
                epochRows = 0;
                windowLoss = 0;
                windowSteps = 0;
            }

            double loss = run.Step(batch, steps + 1, out double dataLossSum);
            allocatedInSteps += GC.GetAllocatedBytesForCurrentThread() - allocStart;
            epochLoss += dataLossSum;
            epochRows += batch.Length;
            samplesSeen += batch.Length;
            windowLoss += loss;
            windowSteps++;
            steps++;
            request.Progress?.Report(new TrainingProgress(steps, planned, loss));
        }

        ParameterSet trained = run.Parameters;
        bool finite = trained.AllFinite();
        if (!finite)
        {
            throw new TrainingDivergedException($"Training {Spec.Name} produced non-finite parameters after {steps} steps; lower the learning rate.");
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["samples_seen"] = samplesSeen,
            ["allocated_bytes_in_steps"] = allocatedInSteps,
            ["allocated_bytes_total"] = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore,
            ["buffer_bytes"] = run.BufferBytes,
            ["memory_weights_bytes"] = run.WeightBytes,
            ["memory_gradients_bytes"] = run.GradientBytes,
            ["memory_optimizer_bytes"] = run.OptimizerBytes,
            ["memory_activations_bytes"] = run.ActivationBytes,
            ["memory_other_bytes"] = run.OtherBytes,
        };
        if (_options.WeightElimination is not null)
        {
            metrics["weight_elimination_lambda"] = run.Lambda;
            metrics["weight_elimination_penalty"] = run.WeightEliminationPenalty();
        }

        TimeSpan duration = _options.TimeProvider.GetElapsedTime(startTimestamp);
        double meanLoss = windowSteps > 0 ? windowLoss / windowSteps : double.NaN;
        _instruments.Steps.Add(steps);
        _instruments.Duration.Record(duration.TotalSeconds);
        if (_options.Logger is { } logger)
        {
            TrainingLog.Trained(logger, Spec.Name, steps, samplesSeen, meanLoss, duration.TotalSeconds);
            if (cut)
            {
                TrainingLog.Governed(logger, Spec.Name, steps, reason ?? "steps capped by the governor");
            }
        }

        return new TrainingResult
        {
            Parameters = trained,
            SampleCount = request.Data.Count,
            Steps = steps,
            Loss = meanLoss,
            Duration = duration,
            PeakMemoryBytes = run.BufferBytes,
            CutByGovernor = cut,
            GovernorReason = cut ? reason ?? "steps capped by the governor" : null,
            Metrics = metrics,
        };
    }

    /// <inheritdoc />
    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default)
    {
        CheckInputs(parameters, data);
        cancellationToken.ThrowIfCancellationRequested();
        var scores = Score(parameters, data, out double meanLoss, cancellationToken);
        IReadOnlyDictionary<string, double> metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!Spec.IsAutoencoder && data.Count > 0 && IsBinary(data.Labels))
        {
            metrics = ClassificationMetrics.Compute(scores, data.Labels).ToDictionary();
        }
        else if (Spec.IsAutoencoder && data.Count > 0 && IsBinary(data.Labels) && ClassificationMetrics.ComputeRocAuc(scores, data.Labels) is double auc)
        {
            metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["roc_auc"] = auc };
        }

        return ValueTask.FromResult(new EvaluationResult { Loss = meanLoss, Count = data.Count, Scores = scores, Metrics = metrics });
    }

    /// <summary>
    /// Scores every row: the probability of class 1 (sigmoid of the logit) for classifiers, the mean squared
    /// reconstruction error for autoencoders, and the model's output otherwise.
    /// </summary>
    public float[] Score(ParameterSet parameters, Dataset data, out double meanLoss, CancellationToken cancellationToken = default)
    {
        CheckInputs(parameters, data);
        int block = Math.Max(1, Math.Min(_options.EvaluationBatchSize, data.Count));
        var engine = new MlpEngine(Spec, Layout, block);
        var scores = new float[data.Count];
        var targets = new float[block * Spec.OutputSize];
        var losses = new float[block];
        double lossSum = 0;
        for (int start = 0; start < data.Count; start += block)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int rows = Math.Min(block, data.Count - start);
            data.Features.Slice(start * data.FeatureCount, rows * data.FeatureCount).CopyTo(engine.Input(rows));
            FillTargets(data, engine.Input(rows), start, rows, targets);
            engine.Forward(parameters.Values, rows);
            engine.RowLosses(targets, rows, losses);
            ReadOnlySpan<float> output = engine.Output(rows);
            for (int b = 0; b < rows; b++)
            {
                lossSum += losses[b];
                scores[start + b] = Spec.IsAutoencoder ? losses[b]
                    : Spec.Loss == LossKind.BinaryCrossEntropy ? 1f / (1f + MathF.Exp(-output[b]))
                    : output[b * Spec.OutputSize];
            }
        }

        meanLoss = data.Count == 0 ? double.NaN : lossSum / data.Count;
        return scores;
    }

    private void FillTargets(Dataset data, ReadOnlySpan<float> inputs, int start, int rows, Span<float> targets)
    {
        if (Spec.IsAutoencoder)
        {
            inputs.CopyTo(targets);
        }
        else
        {
            data.Labels.Slice(start, rows).CopyTo(targets);
        }
    }

    private void CheckInputs(ParameterSet parameters, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(data);
        if (Layout.DescribeMismatch(parameters.Layout) is string why)
        {
            throw new ParameterLayoutMismatchException($"The parameters do not fit {Spec}: {why}.");
        }

        if (data.FeatureCount != Spec.InputSize)
        {
            throw new ArgumentException($"The data set has {data.FeatureCount} features but {Spec.Name} takes {Spec.InputSize}.", nameof(data));
        }

        if (!Spec.IsAutoencoder && Spec.OutputSize != 1)
        {
            throw new ArgumentException($"{Spec.Name} has {Spec.OutputSize} outputs; a labelled data set gives one target per row.", nameof(data));
        }
    }

    private static bool IsBinary(ReadOnlySpan<float> labels)
    {
        foreach (float l in labels)
        {
            if (l != 0f && l != 1f)
            {
                return false;
            }
        }

        return true;
    }

    private (OptimizerKind Optimizer, float Momentum) ResolveOptimizer(TrainingHyperParameters hp)
    {
        OptimizerKind optimizer = _options.Optimizer;
        float momentum = _options.Momentum;
        if (hp.Extra.TryGetValue("optimizer", out string? name))
        {
            optimizer = name.Trim().ToUpperInvariant() switch
            {
                "SGD" => OptimizerKind.Sgd,
                "ADAM" => OptimizerKind.Adam,
                _ => throw new ArgumentException($"Unknown optimizer '{name}' in the round's extra settings; use 'sgd' or 'adam'."),
            };
        }

        if (hp.Extra.TryGetValue("momentum", out string? m))
        {
            if (!float.TryParse(m, NumberStyles.Float, CultureInfo.InvariantCulture, out momentum) || !(momentum >= 0 && momentum < 1))
            {
                throw new ArgumentException($"Momentum '{m}' in the round's extra settings is not a number in [0, 1).");
            }
        }

        return (optimizer, momentum);
    }

    /// <summary>The state of one training run: parameters, gradient, optimiser state and the engine.</summary>
    private sealed class Run
    {
        private readonly ManagedTrainer _owner;
        private readonly Dataset _data;
        private readonly TrainingHyperParameters _hp;
        private readonly OptimizerKind _optimizer;
        private readonly float _momentum;
        private readonly float[] _params;
        private readonly float[] _global;
        private readonly float[] _grad;
        private readonly float[] _state1;
        private readonly float[] _state2;
        private readonly float[] _scratch;
        private readonly Half[] _paramsHalf;
        private readonly Half[] _globalHalf;
        private readonly Half[] _gradHalf;
        private readonly OptimizerState? _state;
        private readonly bool _half;
        private readonly float[] _targets;
        private readonly bool[] _isWeight;
        private readonly MlpEngine _engine;
        private readonly int _block;
        private readonly WeightEliminationOptions? _we;
        private bool _momentumStarted;

        public Run(ManagedTrainer owner, TrainingRequest request, OptimizerKind optimizer, float momentum)
        {
            _owner = owner;
            _data = request.Data;
            _hp = request.HyperParameters;
            _optimizer = optimizer;
            _momentum = momentum;
            ParameterLayout layout = owner.Layout;
            ManagedTrainerOptions options = owner._options;
            _half = options.Precision == ParameterPrecision.Float16;
            bool compactState = options.CompactOptimizerState && options.Mask is not null;
            if (_half || compactState)
            {
                // Memory-saving modes: float16 and/or compact state; the global copy only when FedProx needs it.
                _params = _half ? [] : request.GlobalParameters.Values.ToArray();
                _grad = _half ? [] : new float[layout.TotalLength];
                _global = !_half && _hp.ProximalMu > 0 ? request.GlobalParameters.Values.ToArray() : [];
                _paramsHalf = _half ? ToHalf(request.GlobalParameters.Values) : [];
                _gradHalf = _half ? new Half[layout.TotalLength] : [];
                _globalHalf = _half && _hp.ProximalMu > 0 ? ToHalf(request.GlobalParameters.Values) : [];
                _state1 = [];
                _state2 = [];
                _scratch = [];
                _state = new OptimizerState(optimizer, momentum, options, layout.TotalLength, compactState ? options.Mask : null);
            }
            else
            {
                _params = request.GlobalParameters.Values.ToArray();
                _global = request.GlobalParameters.Values.ToArray();
                _grad = new float[layout.TotalLength];
                _state1 = new float[layout.TotalLength];
                _state2 = optimizer == OptimizerKind.Adam ? new float[layout.TotalLength] : [];
                _scratch = new float[layout.TotalLength];
                _paramsHalf = [];
                _globalHalf = [];
                _gradHalf = [];
            }

            _block = Math.Min(_hp.BatchSize, Math.Min(_hp.MicroBatchSize ?? _hp.BatchSize, _data.Count));
            _engine = new MlpEngine(owner.Spec, layout, _block, float16Rows: _half);
            _targets = new float[_block * owner.Spec.OutputSize];
            _isWeight = new bool[layout.TotalLength];
            for (int t = 0; t < layout.Tensors.Count; t++)
            {
                if (PruningMask.IsWeight(layout.Tensors[t]))
                {
                    _isWeight.AsSpan(layout.OffsetOf(t), layout.Tensors[t].Length).Fill(true);
                }
            }

            _we = owner._options.WeightElimination;
            Lambda = _we?.Lambda ?? 0;
            if (!_half)
            {
                owner._options.Mask?.Apply(_params);
            }

            ApplyMaskHalf();

            WeightBytes = (4L * _params.Length) + (2L * _paramsHalf.Length);
            GradientBytes = (4L * _grad.Length) + (2L * _gradHalf.Length);
            OptimizerBytes = _state?.Bytes ?? 4L * (_state1.Length + _state2.Length);
            ActivationBytes = _engine.BufferBytes + (4L * _targets.Length);
            OtherBytes = (4L * (_global.Length + _scratch.Length)) + (2L * _globalHalf.Length);
            BufferBytes = WeightBytes + GradientBytes + OptimizerBytes + ActivationBytes + OtherBytes;
        }

        /// <summary>Bytes of the parameters the run trains.</summary>
        public long WeightBytes { get; }

        /// <summary>Bytes of the gradient.</summary>
        public long GradientBytes { get; }

        /// <summary>Bytes of the optimiser state (momentum or Adam moments).</summary>
        public long OptimizerBytes { get; }

        /// <summary>Bytes of the activation and delta buffers (scale with the micro-batch) and the block's targets.</summary>
        public long ActivationBytes { get; }

        /// <summary>Bytes of the global copy (FedProx) and scratch buffers.</summary>
        public long OtherBytes { get; }

        public double Lambda { get; private set; }

        public long BufferBytes { get; }

        public ParameterSet Parameters => _half ? CompactModel.FromHalf(_owner.Layout, _paramsHalf) : new(_owner.Layout, _params);

        /// <summary>One optimiser step on <paramref name="batch"/>; returns the step's total loss (data + FedProx + weight elimination).</summary>
        public double Step(ReadOnlySpan<int> batch, int stepNumber, out double dataLossSum)
        {
            Array.Clear(_grad);
            Array.Clear(_gradHalf);
            float scale = 1f / batch.Length;
            dataLossSum = 0;
            int featureCount = _data.FeatureCount;
            NetworkSpec spec = _owner.Spec;
            for (int start = 0; start < batch.Length; start += _block)
            {
                int rows = Math.Min(_block, batch.Length - start);
                Span<float> input = _engine.Input(rows);
                for (int b = 0; b < rows; b++)
                {
                    int row = batch[start + b];
                    _data.Row(row).CopyTo(input.Slice(b * featureCount, featureCount));
                    if (!spec.IsAutoencoder)
                    {
                        _targets[b] = _data.Labels[row];
                    }
                }

                if (spec.IsAutoencoder)
                {
                    input.CopyTo(_targets);
                }

                if (_half)
                {
                    _engine.Forward(_paramsHalf, rows);
                    dataLossSum += _engine.Backward(_paramsHalf, _targets.AsSpan(0, rows * spec.OutputSize), rows, scale, _gradHalf);
                }
                else
                {
                    _engine.Forward(_params, rows);
                    dataLossSum += _engine.Backward(_params, _targets.AsSpan(0, rows * spec.OutputSize), rows, scale, _grad);
                }
            }

            double loss = dataLossSum / batch.Length;
            if (_state is not null)
            {
                return loss + FinishCompactStep(stepNumber);
            }

            if (_hp.ProximalMu > 0)
            {
                // FedProx: (μ/2)‖w − w_global‖², gradient μ (w − w_global).
                TensorPrimitives.Subtract(_params, _global, _scratch);
                loss += 0.5 * _hp.ProximalMu * TensorPrimitives.Dot<float>(_scratch, _scratch);
                TensorPrimitives.MultiplyAdd(_scratch, _hp.ProximalMu, _grad, _grad);
            }

            if (_we is not null && Lambda > 0)
            {
                loss += AddWeightElimination();
            }

            if (_optimizer == OptimizerKind.Adam)
            {
                AdamStep(stepNumber);
            }
            else
            {
                SgdStep();
            }

            _owner._options.Mask?.Apply(_params);
            return loss;
        }

        public double WeightEliminationPenalty()
        {
            if (_we is null)
            {
                return 0;
            }

            double inv = 1.0 / (_we.W0 * _we.W0);
            double sum = 0;
            for (int i = 0; i < _isWeight.Length; i++)
            {
                if (_isWeight[i])
                {
                    float w = _half ? (float)_paramsHalf[i] : _params[i];
                    double s = w * (double)w * inv;
                    sum += s / (1 + s);
                }
            }

            return Lambda * sum;
        }

        /// <summary>
        /// Weigend et al.'s λ rule, once per epoch with the epoch's mean data loss E: grow λ by the step when E is below the
        /// target or falling; shrink it by the step when E rose but stays under its running average; cut it by 10 % when
        /// E rose above the average; never below 0.
        /// </summary>
        public void AdaptLambda(double epochLoss, double? previous, ref double average)
        {
            if (_we is null || !_we.Adapt)
            {
                return;
            }

            average = double.IsNaN(average) ? epochLoss : (_we.AverageDecay * average) + ((1 - _we.AverageDecay) * epochLoss);
            if (epochLoss < _we.TargetLoss || previous is null || epochLoss < previous)
            {
                Lambda += _we.LambdaStep;
            }
            else if (epochLoss < average)
            {
                Lambda -= _we.LambdaStep;
            }
            else
            {
                Lambda *= 0.9;
            }

            Lambda = Math.Max(0, Lambda);
        }

        private double AddWeightElimination()
        {
            float lambda = (float)Lambda;
            float inv = (float)(1.0 / (_we!.W0 * _we.W0));
            double penalty = 0;
            for (int i = 0; i < _params.Length; i++)
            {
                if (!_isWeight[i])
                {
                    continue;
                }

                float w = _params[i];
                float s = w * w * inv;
                float d = 1f + s;
                penalty += s / d;
                _grad[i] += lambda * 2f * w * inv / (d * d);
            }

            return Lambda * penalty;
        }

        private void ApplyMaskHalf()
        {
            if (!_half || _owner._options.Mask is not { } mask)
            {
                return;
            }

            ReadOnlySpan<float> keep = mask.Keep;
            for (int i = 0; i < keep.Length; i++)
            {
                if (keep[i] == 0f)
                {
                    _paramsHalf[i] = Half.Zero;
                }
            }
        }

        private static Half[] ToHalf(ReadOnlySpan<float> values)
        {
            var half = new Half[values.Length];
            TensorPrimitives.ConvertToHalf(values, half);
            return half;
        }

        /// <summary>
        /// The memory-saving modes' end of a step: FedProx and weight elimination added to the gradient element by element
        /// (float32 arithmetic on float16 values), then the optimiser. Returns the added loss.
        /// </summary>
        private double FinishCompactStep(int stepNumber)
        {
            double extra = 0;
            if (_hp.ProximalMu > 0)
            {
                float mu = _hp.ProximalMu;
                double squares = 0;
                for (int i = 0; i < _isWeight.Length; i++)
                {
                    float diff = _half ? (float)_paramsHalf[i] - (float)_globalHalf[i] : _params[i] - _global[i];
                    squares += diff * (double)diff;
                    if (_half)
                    {
                        _gradHalf[i] = (Half)((float)_gradHalf[i] + (diff * mu));
                    }
                    else
                    {
                        _grad[i] += diff * mu;
                    }
                }

                extra += 0.5 * mu * squares;
            }

            if (_we is not null && Lambda > 0)
            {
                if (_half)
                {
                    float lambda = (float)Lambda;
                    float inv = (float)(1.0 / (_we.W0 * _we.W0));
                    double penalty = 0;
                    for (int i = 0; i < _isWeight.Length; i++)
                    {
                        if (_isWeight[i])
                        {
                            float w = (float)_paramsHalf[i];
                            float s = w * w * inv;
                            float d = 1f + s;
                            penalty += s / d;
                            _gradHalf[i] = (Half)((float)_gradHalf[i] + (lambda * 2f * w * inv / (d * d)));
                        }
                    }

                    extra += Lambda * penalty;
                }
                else
                {
                    extra += AddWeightElimination();
                }
            }

            if (_half)
            {
                _state!.Step<Half>(_paramsHalf, _gradHalf, _hp.LearningRate, stepNumber);
                ApplyMaskHalf();
            }
            else
            {
                _state!.Step<float>(_params, _grad, _hp.LearningRate, stepNumber);
                _owner._options.Mask?.Apply(_params);
            }

            return extra;
        }

        private void AdamStep(int t)
        {
            OptionsView o = new(_owner._options);
            float lr = _hp.LearningRate;
            double bc1 = 1 - Math.Pow(o.Beta1, t);
            double bc2 = 1 - Math.Pow(o.Beta2, t);
            TensorPrimitives.Multiply(_state1, o.Beta1, _state1);
            TensorPrimitives.MultiplyAdd(_grad, 1f - o.Beta1, _state1, _state1);
            TensorPrimitives.Multiply(_state2, o.Beta2, _state2);
            TensorPrimitives.Multiply(_grad, _grad, _scratch);
            TensorPrimitives.MultiplyAdd(_scratch, 1f - o.Beta2, _state2, _state2);
            TensorPrimitives.Sqrt(_state2, _scratch);
            TensorPrimitives.Multiply(_scratch, (float)(1.0 / Math.Sqrt(bc2)), _scratch);
            TensorPrimitives.Add(_scratch, o.Epsilon, _scratch);
            TensorPrimitives.Divide(_state1, _scratch, _scratch);
            TensorPrimitives.MultiplyAdd(_scratch, (float)(-lr / bc1), _params, _params);
        }

        private void SgdStep()
        {
            float lr = _hp.LearningRate;
            if (_momentum > 0)
            {
                if (_momentumStarted)
                {
                    TensorPrimitives.MultiplyAdd(_state1, _momentum, _grad, _state1);
                }
                else
                {
                    _grad.CopyTo(_state1, 0);
                    _momentumStarted = true;
                }

                TensorPrimitives.MultiplyAdd(_state1, -lr, _params, _params);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(_grad, -lr, _params, _params);
            }
        }

        private readonly struct OptionsView(ManagedTrainerOptions options)
        {
            public float Beta1 { get; } = options.Beta1;

            public float Beta2 { get; } = options.Beta2;

            public float Epsilon { get; } = options.Epsilon;
        }
    }
}

/// <summary>Parameters do not have the layout a trainer's model needs (names, shapes or order differ).</summary>
public sealed class ParameterLayoutMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public ParameterLayoutMismatchException()
        : base("The parameters do not have the model's layout.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ParameterLayoutMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public ParameterLayoutMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Training produced non-finite parameters (the learning rate is too high or the data are not scaled).</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException()
        : base("Training diverged.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TrainingDivergedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public TrainingDivergedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
