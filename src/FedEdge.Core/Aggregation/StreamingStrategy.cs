using System.Numerics.Tensors;
using FedEdge.Training;

namespace FedEdge.Aggregation;

/// <summary>The server step a streaming strategy applies to the round's averaged pseudo-gradient.</summary>
internal enum ServerOptimizer
{
    /// <summary>w ← w + η·Δ (FedAvg, FedSGD, FedProx).</summary>
    Sgd,

    /// <summary>v ← βv + Δ; w ← w + η·v (FedAvgM).</summary>
    Momentum,

    /// <summary>Adam on the pseudo-gradient (FedAdam).</summary>
    Adam,

    /// <summary>Yogi on the pseudo-gradient (FedYogi).</summary>
    Yogi,

    /// <summary>Adagrad on the pseudo-gradient (FedAdagrad).</summary>
    Adagrad,
}

/// <summary>
/// The streaming strategies: the round keeps one running weighted sum (O(parameters) memory whatever
/// the number of clients); completing it forms the sample-weighted mean pseudo-gradient
/// Δ = Σ nₖ(xₖ − w) / Σ nₖ and applies a server optimiser (Reddi et al., "Adaptive Federated Optimization").
/// </summary>
internal sealed class StreamingStrategy : IAggregationStrategy
{
    private readonly ServerOptimizer _optimizer;
    private readonly float _eta;
    private readonly float _momentum;
    private readonly float _beta1;
    private readonly float _beta2;
    private readonly float _tau;
    private readonly int? _localIterations;
    private readonly float _proximalMu;
    private readonly Lock _gate = new();
    private float[]? _m;
    private float[]? _v;
    private long _step;

    public StreamingStrategy(string name, ServerOptimizer optimizer, AggregationOptions options, double defaultEta, int? localIterations = null, double proximalMu = 0)
    {
        Name = name;
        _optimizer = optimizer;
        _eta = (float)(options.ServerLearningRate ?? defaultEta);
        _momentum = (float)options.ServerMomentum;
        _beta1 = (float)options.Beta1;
        _beta2 = (float)options.Beta2;
        _tau = (float)options.Tau;
        _localIterations = localIterations;
        _proximalMu = (float)proximalMu;
        Requirements = AggregationRequirements.None with { Strategy = name };
    }

    public string Name { get; }

    public bool IsStreaming => true;

    /// <summary>Works on the running sum: one update is enough and secure aggregation can feed it.</summary>
    public AggregationRequirements Requirements { get; }

    public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(globalParameters);
        lock (_gate)
        {
            if ((_m is not null && _m.Length != globalParameters.Length) || (_v is not null && _v.Length != globalParameters.Length))
            {
                throw new InvalidOperationException($"Strategy '{Name}' holds optimiser state for {(_m ?? _v)!.Length} parameters but the global model has {globalParameters.Length}; import matching state or start a fresh strategy.");
            }
        }

        return new Round(this, globalParameters);
    }

    public StrategyState? ExportState()
    {
        lock (_gate)
        {
            if (_optimizer == ServerOptimizer.Sgd)
            {
                return null;
            }

            var arrays = new Dictionary<string, float[]>(StringComparer.Ordinal);
            if (_m is not null)
            {
                arrays["m"] = (float[])_m.Clone();
            }

            if (_v is not null)
            {
                arrays["v"] = (float[])_v.Clone();
            }

            return new StrategyState
            {
                Strategy = Name,
                Arrays = arrays,
                Scalars = new Dictionary<string, double>(StringComparer.Ordinal) { ["step"] = _step },
            };
        }
    }

    public void ImportState(StrategyState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!string.Equals(state.Strategy, Name, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The state belongs to strategy '{state.Strategy}', not '{Name}'.", nameof(state));
        }

        state.Arrays.TryGetValue("m", out float[]? m);
        state.Arrays.TryGetValue("v", out float[]? v);
        if (m is not null && v is not null && m.Length != v.Length)
        {
            throw new ArgumentException($"State arrays 'm' ({m.Length}) and 'v' ({v.Length}) differ in length.", nameof(state));
        }

        if ((m is not null && !TensorPrimitives.IsFiniteAll<float>(m)) || (v is not null && !TensorPrimitives.IsFiniteAll<float>(v)))
        {
            throw new ArgumentException("State arrays hold non-finite values.", nameof(state));
        }

        double step = state.Scalars.TryGetValue("step", out double s) ? s : 0;
        if (!(step >= 0 && double.IsFinite(step)))
        {
            throw new ArgumentException($"State step {step} is not a count.", nameof(state));
        }

        lock (_gate)
        {
            _m = (float[]?)m?.Clone();
            _v = (float[]?)v?.Clone();
            _step = (long)step;
        }
    }

    public TrainingHyperParameters ConfigureTraining(TrainingHyperParameters hyperParameters)
    {
        ArgumentNullException.ThrowIfNull(hyperParameters);
        TrainingHyperParameters result = hyperParameters;
        if (_localIterations is int k)
        {
            result = result with { LocalIterations = k };
        }

        if (_proximalMu > 0)
        {
            result = result with { ProximalMu = _proximalMu };
        }

        return result;
    }

    public override string ToString() => Name;

    /// <summary>Applies the server step; <paramref name="delta"/> is the averaged pseudo-gradient and may be overwritten.</summary>
    private void Apply(ReadOnlySpan<float> global, Span<float> delta, Span<float> result)
    {
        lock (_gate)
        {
            switch (_optimizer)
            {
                case ServerOptimizer.Sgd:
                    TensorPrimitives.MultiplyAdd(delta, _eta, global, result);
                    break;
                case ServerOptimizer.Momentum:
                    _m ??= new float[global.Length];
                    TensorPrimitives.MultiplyAdd(_m, _momentum, delta, _m);
                    TensorPrimitives.MultiplyAdd(_m, _eta, global, result);
                    break;
                default:
                    ApplyAdaptive(global, delta, result);
                    break;
            }

            _step++;
        }
    }

    private void ApplyAdaptive(ReadOnlySpan<float> global, ReadOnlySpan<float> delta, Span<float> result)
    {
        float[] m = _m ??= new float[global.Length];
        if (_v is null)
        {
            _v = new float[global.Length];
            Array.Fill(_v, _tau * _tau);
        }

        float[] v = _v;
        float b1 = _beta1;
        float b2 = _beta2;
        for (int i = 0; i < delta.Length; i++)
        {
            float d = delta[i];
            float d2 = d * d;
            m[i] = (b1 * m[i]) + ((1 - b1) * d);
            v[i] = _optimizer switch
            {
                ServerOptimizer.Adam => (b2 * v[i]) + ((1 - b2) * d2),
                ServerOptimizer.Yogi => v[i] - ((1 - b2) * d2 * MathF.Sign(v[i] - d2)),
                _ => v[i] + d2,
            };
            result[i] = global[i] + (_eta * m[i] / (MathF.Sqrt(v[i]) + _tau));
        }
    }

    private sealed class Round : IAggregationRound, IOrderedFold
    {
        /// <summary>Coordinates per block of the ordered fold: 64 KB of the running sum, which stays in cache.</summary>
        private const int FoldBlock = 16 * 1024;

        private readonly StreamingStrategy _owner;
        private readonly ParameterSet _global;
        private float[]? _sum;
        private double _weight;
        private double _parameterWeight;
        private bool _anyDelta;
        private bool _completed;

        public Round(StreamingStrategy owner, ParameterSet global)
        {
            _owner = owner;
            _global = global;
            // Uninitialised: the first update overwrites it; the buffer becomes the result, so a round allocates once.
            _sum = GC.AllocateUninitializedArray<float>(global.Length);
        }

        public int Count { get; private set; }

        public void Add(ModelUpdate update)
        {
            ArgumentNullException.ThrowIfNull(update);
            float[] sum = RoundGuards.EnsureOpen(_sum, _completed, _owner.Name);
            RoundGuards.CheckUpdate(update, _global);
            float weight = update.SampleCount;
            if (Count == 0)
            {
                TensorPrimitives.Multiply(update.Values.Values, weight, sum);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(update.Values.Values, weight, sum, sum);
            }

            _weight += weight;
            if (update.Kind == UpdateKind.Delta)
            {
                _anyDelta = true;
            }
            else
            {
                _parameterWeight += weight;
            }

            Count++;
        }

        /// <summary>
        /// Folds <paramref name="updates"/> in their order, with the same bits as calling <see cref="Add"/> on each in turn
        /// (each coordinate sees the same operations in the same order), but a block of coordinates at a time, so the
        /// block of the running sum stays in cache while every update's block streams past it once, and the blocks are
        /// shared among the thread pool. The values were validated by the caller (finite, layout); only the cheap checks run.
        /// </summary>
        public void AddInOrder(IReadOnlyList<ModelUpdate> updates)
        {
            ArgumentNullException.ThrowIfNull(updates);
            float[] sum = RoundGuards.EnsureOpen(_sum, _completed, _owner.Name);
            if (updates.Count == 0)
            {
                return;
            }

            var weights = new float[updates.Count];
            for (int k = 0; k < updates.Count; k++)
            {
                ModelUpdate update = updates[k];
                RoundGuards.CheckUpdate(update, _global, checkFinite: false);
                weights[k] = update.SampleCount;
            }

            bool first = Count == 0;
            int blocks = (sum.Length + FoldBlock - 1) / FoldBlock;
            Parallel.For(0, blocks, block =>
            {
                int start = block * FoldBlock;
                int length = Math.Min(FoldBlock, sum.Length - start);
                Span<float> target = sum.AsSpan(start, length);
                for (int k = 0; k < updates.Count; k++)
                {
                    ReadOnlySpan<float> x = updates[k].Values.Values.Slice(start, length);
                    if (first && k == 0)
                    {
                        TensorPrimitives.Multiply(x, weights[k], target);
                    }
                    else
                    {
                        TensorPrimitives.MultiplyAdd(x, weights[k], target, target);
                    }
                }
            });

            foreach (ModelUpdate update in updates)
            {
                _weight += update.SampleCount;
                if (update.Kind == UpdateKind.Delta)
                {
                    _anyDelta = true;
                }
                else
                {
                    _parameterWeight += update.SampleCount;
                }

                Count++;
            }
        }

        public AggregationResult Complete()
        {
            float[] sum = RoundGuards.EnsureOpen(_sum, _completed, _owner.Name);
            if (Count == 0)
            {
                throw new EmptyRoundException($"Round of strategy '{_owner.Name}' has no updates; add at least one validated update before completing it.");
            }

            ReadOnlySpan<float> global = _global.Values;

            // The result is computed in place in the running sum (element-wise, so aliasing is safe).
            float[] result = sum;
            float inverse = (float)(1.0 / _weight);
            if (!_anyDelta && _owner._optimizer == ServerOptimizer.Sgd && _owner._eta == 1f)
            {
                // Plain weighted mean of parameters: divide directly, avoiding a round trip through the delta.
                TensorPrimitives.Multiply(sum, inverse, result);
            }
            else
            {
                // Δ = (Σ nₖxₖ − W_params·w) / W, where parameter-kind updates contribute xₖ − w.
                if (_parameterWeight > 0)
                {
                    TensorPrimitives.MultiplyAdd(global, (float)-_parameterWeight, sum, sum);
                }

                TensorPrimitives.Multiply(sum, inverse, sum);
                _owner.Apply(global, sum, result);
            }

            _completed = true;
            _sum = null;
            return new AggregationResult { Parameters = new ParameterSet(_global.Layout, result), Participants = Count };
        }

        public void Dispose()
        {
            _sum = null;
            _completed = true;
        }
    }
}

/// <summary>A round that can fold a list of validated updates in a given order at once, with the bits of adding them one by one.</summary>
internal interface IOrderedFold
{
    /// <summary>Folds <paramref name="updates"/>, already validated, in their order.</summary>
    void AddInOrder(IReadOnlyList<ModelUpdate> updates);
}

/// <summary>Checks shared by the built-in rounds.</summary>
internal static class RoundGuards
{
    public static T EnsureOpen<T>(T? buffer, bool completed, string strategy)
        where T : class
    {
        if (completed || buffer is null)
        {
            throw new InvalidOperationException($"This '{strategy}' round is already completed or disposed; begin a new round.");
        }

        return buffer;
    }

    public static void CheckUpdate(ModelUpdate update, ParameterSet global, bool checkFinite = true)
    {
        if (update.SampleCount <= 0)
        {
            throw new ArgumentException($"Update from '{update.SenderId}' has sample count {update.SampleCount}; validate updates before adding them.", nameof(update));
        }

        ArgumentNullException.ThrowIfNull(update.Values, nameof(update));
        if (!ReferenceEquals(update.Values.Layout, global.Layout))
        {
            string? mismatch = global.Layout.DescribeMismatch(update.Values.Layout);
            if (mismatch is not null)
            {
                throw new ArgumentException($"Update from '{update.SenderId}' does not match the global parameters: {mismatch}.", nameof(update));
            }
        }

        if (update.Kind is not (UpdateKind.Parameters or UpdateKind.Delta))
        {
            throw new ArgumentException($"Update from '{update.SenderId}' has unknown kind {(int)update.Kind}.", nameof(update));
        }

        // One NaN or infinity would poison every coordinate of the aggregate; the coordinator's UpdateBounds refuse it
        // first, and a strategy used on its own refuses it here, before the round has touched it.
        if (checkFinite && !TensorPrimitives.IsFiniteAll<float>(update.Values.Values))
        {
            throw new ArgumentException($"Update from '{update.SenderId}' holds NaN or infinite values; validate updates (CoordinatorOptions.UpdateBounds) before adding them.", nameof(update));
        }
    }
}
