using System.Numerics.Tensors;

namespace FedEdge.Training;

/// <summary>
/// A keep (1) / prune (0) mask over every value of a parameter layout (magnitude pruning, MEDNN).
/// Biases are never pruned by the factory methods.
/// </summary>
public sealed class PruningMask
{
    private readonly float[] _keep;

    private PruningMask(ParameterLayout layout, float[] keep)
    {
        Layout = layout;
        _keep = keep;
        Kept = (int)TensorPrimitives.Sum<float>(keep);
    }

    /// <summary>The layout the mask covers.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>The mask values (1 keep, 0 pruned), in layout order.</summary>
    public ReadOnlySpan<float> Keep => _keep;

    /// <summary>The number of values kept.</summary>
    public int Kept { get; }

    /// <summary>The fraction of all values pruned.</summary>
    public double Sparsity => 1.0 - ((double)Kept / _keep.Length);

    /// <summary>
    /// Prunes the <paramref name="fraction"/> of weight values (tensors named <c>*.weight</c>) with the smallest
    /// magnitude, over all weight tensors together (global magnitude pruning). Ties at the cut are pruned together.
    /// </summary>
    public static PruningMask FromSmallestWeights(ParameterSet parameters, double fraction)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(fraction >= 0 && fraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The pruned fraction must be in [0, 1).");
        }

        var magnitudes = new List<float>();
        ForEachWeight(parameters, v => magnitudes.Add(Math.Abs(v)));
        magnitudes.Sort();
        int cut = (int)Math.Floor(fraction * magnitudes.Count);
        float threshold = cut == 0 ? -1f : magnitudes[cut - 1];
        return FromThreshold(parameters, threshold, inclusive: true);
    }

    /// <summary>Prunes weights whose magnitude is below <paramref name="threshold"/> (or at it when <paramref name="inclusive"/>).</summary>
    public static PruningMask FromThreshold(ParameterSet parameters, float threshold, bool inclusive = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var keep = new float[parameters.Length];
        Array.Fill(keep, 1f);
        ReadOnlySpan<float> values = parameters.Values;
        for (int t = 0; t < parameters.Layout.Tensors.Count; t++)
        {
            if (!IsWeight(parameters.Layout.Tensors[t]))
            {
                continue;
            }

            int offset = parameters.Layout.OffsetOf(t);
            for (int i = 0; i < parameters.Layout.Tensors[t].Length; i++)
            {
                float m = Math.Abs(values[offset + i]);
                if (m < threshold || (inclusive && m == threshold))
                {
                    keep[offset + i] = 0f;
                }
            }
        }

        return new PruningMask(parameters.Layout, keep);
    }

    /// <summary>Zeroes the pruned values of <paramref name="parameters"/> in place.</summary>
    /// <exception cref="ArgumentException">The layouts differ.</exception>
    public void Apply(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Layout.DescribeMismatch(parameters.Layout) is string why)
        {
            throw new ArgumentException("The mask does not fit the parameters: " + why, nameof(parameters));
        }

        TensorPrimitives.Multiply(parameters.Values, _keep, parameters.Values);
    }

    internal void Apply(Span<float> values) => TensorPrimitives.Multiply(values, _keep, values);

    internal static bool IsWeight(TensorSpec spec) => spec.Name.EndsWith(".weight", StringComparison.Ordinal);

    private static void ForEachWeight(ParameterSet parameters, Action<float> action)
    {
        for (int t = 0; t < parameters.Layout.Tensors.Count; t++)
        {
            if (IsWeight(parameters.Layout.Tensors[t]))
            {
                foreach (float v in parameters.GetTensor(t))
                {
                    action(v);
                }
            }
        }
    }
}

/// <summary>Float16 storage of parameters and the byte sizes of a model in its storage forms (MEDNN).</summary>
public static class CompactModel
{
    /// <summary>Converts the parameters to IEEE 754 half precision (round to nearest even; beyond ±65504 becomes ±∞).</summary>
    public static Half[] ToHalf(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var half = new Half[parameters.Length];
        TensorPrimitives.ConvertToHalf(parameters.Values, half);
        return half;
    }

    /// <summary>Restores float32 parameters from half precision.</summary>
    /// <exception cref="ArgumentException">The length differs from the layout.</exception>
    public static ParameterSet FromHalf(ParameterLayout layout, ReadOnlySpan<Half> values)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (values.Length != layout.TotalLength)
        {
            throw new ArgumentException($"{values.Length} half values for a layout of {layout.TotalLength}.", nameof(values));
        }

        var set = new ParameterSet(layout);
        TensorPrimitives.ConvertToSingle(values, set.Values);
        return set;
    }

    /// <summary>Bytes of the parameters as float32.</summary>
    public static long Float32Bytes(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return 4L * parameters.Length;
    }

    /// <summary>Bytes as float16.</summary>
    public static long Float16Bytes(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return 2L * parameters.Length;
    }

    /// <summary>Bytes of a sparse float16 form: the non-zero values (2 bytes each) plus a one-bit-per-value presence bitmap.</summary>
    public static long SparseFloat16Bytes(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        long nonZero = 0;
        foreach (float v in parameters.Values)
        {
            if (v != 0f)
            {
                nonZero++;
            }
        }

        return (2L * nonZero) + ((parameters.Length + 7L) / 8);
    }
}
