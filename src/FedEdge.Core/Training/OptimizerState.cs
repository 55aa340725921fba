using System.Numerics;

namespace FedEdge.Training;

/// <summary>
/// SGD-with-momentum and Adam state for the memory-saving modes: float32 state over either every parameter or, with a
/// compact mask, only the surviving positions (walked in layout order, so no index array is kept), and parameters in
/// float32 or float16. The arithmetic is the same, operation by operation, as the trainer's vector steps, so a compact
/// state gives the same float32 results as a full one.
/// </summary>
internal sealed class OptimizerState
{
    private readonly OptimizerKind _kind;
    private readonly float _momentum;
    private readonly float _beta1;
    private readonly float _beta2;
    private readonly float _epsilon;
    private readonly PruningMask? _compactMask;
    private readonly float[] _first;
    private readonly float[] _second;
    private bool _started;

    public OptimizerState(OptimizerKind kind, float momentum, ManagedTrainerOptions options, int length, PruningMask? compactMask)
    {
        _kind = kind;
        _momentum = momentum;
        _beta1 = options.Beta1;
        _beta2 = options.Beta2;
        _epsilon = options.Epsilon;
        _compactMask = compactMask;
        int slots = compactMask?.Kept ?? length;
        bool firstMoment = kind == OptimizerKind.Adam || momentum > 0;
        _first = firstMoment ? new float[slots] : [];
        _second = kind == OptimizerKind.Adam ? new float[slots] : [];
    }

    /// <summary>Bytes of the state.</summary>
    public long Bytes => 4L * (_first.Length + _second.Length);

    /// <summary>One step on <paramref name="parameters"/> with <paramref name="gradient"/>; pruned positions of a compact mask are left alone.</summary>
    public void Step<T>(Span<T> parameters, ReadOnlySpan<T> gradient, float learningRate, int stepNumber)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ReadOnlySpan<float> keep = _compactMask is null ? default : _compactMask.Keep;
        bool compact = _compactMask is not null;
        if (_kind == OptimizerKind.Adam)
        {
            double bc1 = 1 - Math.Pow(_beta1, stepNumber);
            double bc2 = 1 - Math.Pow(_beta2, stepNumber);
            float oneMinusB1 = 1f - _beta1;
            float oneMinusB2 = 1f - _beta2;
            float invSqrtBc2 = (float)(1.0 / Math.Sqrt(bc2));
            float stepScale = (float)(-learningRate / bc1);
            int k = 0;
            for (int i = 0; i < parameters.Length; i++)
            {
                if (compact && keep[i] == 0f)
                {
                    continue;
                }

                float g = float.CreateTruncating(gradient[i]);
                float m = (g * oneMinusB1) + (_first[k] * _beta1);
                float v = ((g * g) * oneMinusB2) + (_second[k] * _beta2);
                _first[k] = m;
                _second[k] = v;
                float denominator = (MathF.Sqrt(v) * invSqrtBc2) + _epsilon;
                parameters[i] = T.CreateTruncating(((m / denominator) * stepScale) + float.CreateTruncating(parameters[i]));
                k++;
            }

            return;
        }

        float lr = learningRate;
        bool useMomentum = _momentum > 0;
        int j = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            if (compact && keep[i] == 0f)
            {
                continue;
            }

            float g = float.CreateTruncating(gradient[i]);
            float update = g;
            if (useMomentum)
            {
                update = _started ? (_first[j] * _momentum) + g : g;
                _first[j] = update;
            }

            parameters[i] = T.CreateTruncating((update * -lr) + float.CreateTruncating(parameters[i]));
            j++;
        }

        _started = true;
    }
}
