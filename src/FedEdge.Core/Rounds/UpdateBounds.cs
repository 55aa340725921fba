using System.Numerics;
using System.Numerics.Tensors;

namespace FedEdge.Rounds;

/// <summary>
/// Bounds every plaintext update must stay within before it may touch the aggregate (hostile devices send finite
/// but absurd values, or claim absurd sample counts). On by default; set through <see cref="Coordination.CoordinatorOptions"/>.
/// </summary>
public sealed record UpdateBounds
{
    /// <summary>The largest absolute value an update's parameters may hold (beyond NaN and ∞); null disables the check.</summary>
    public float? MaxAbsoluteValue { get; init; } = 1e6f;

    /// <summary>The largest sample count a device may claim for one update; null disables the cap.</summary>
    public long? MaxSampleCount { get; init; } = 10_000_000;

    /// <summary>The largest L2 norm of an update's change from the round's global model; null disables the absolute bound.</summary>
    public double? MaxDeltaNorm { get; init; }

    /// <summary>
    /// The largest L2 norm of an update's change as a multiple of the reference norm (the <see cref="ReferenceQuantile"/>
    /// of the previous completed round's accepted norms); null disables the relative bound. It applies from the second
    /// round on.
    /// </summary>
    public double? MaxDeltaNormFactor { get; init; } = 25;

    /// <summary>
    /// Which quantile of the previous completed round's accepted change norms is the reference for
    /// <see cref="MaxDeltaNormFactor"/> (0 &lt; q &lt; 1). Default 0.75, the upper quartile: on a non-IID federation the
    /// devices whose local data the model already fits send tiny changes, and when they are the majority a median
    /// reference refuses every device that still has something to teach. While fewer than a quarter of the accepted
    /// updates are hostile, the upper quartile is still an honest update's norm, so scaled updates stay bounded.
    /// </summary>
    public double ReferenceQuantile { get; init; } = 0.75;

    /// <summary>The reference norm of a completed round: the <see cref="ReferenceQuantile"/> of <paramref name="acceptedNorms"/> (nearest rank), or null when there are none.</summary>
    public double? Reference(IReadOnlyCollection<double> acceptedNorms)
    {
        ArgumentNullException.ThrowIfNull(acceptedNorms);
        if (acceptedNorms.Count == 0)
        {
            return null;
        }

        double[] sorted = [.. acceptedNorms.Order()];
        int index = Math.Clamp((int)Math.Ceiling(ReferenceQuantile * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[index];
    }

    /// <summary>The L2 norm of <paramref name="update"/>'s values minus <paramref name="global"/> (or of its values when it already is a delta).</summary>
    public static double DeltaNorm(ModelUpdate update, ParameterSet global)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(global);
        ReadOnlySpan<float> v = update.Values.Values;
        if (update.Kind == UpdateKind.Delta)
        {
            return TensorPrimitives.Norm(v);
        }

        return Math.Sqrt(SquaredDistance(v, global.Values));
    }

    /// <summary>
    /// The sum of squared differences in double precision (each float widened before it is subtracted, as the scalar
    /// form does), a vector of lanes at a time: the coordinator runs this once per update on its inbound path.
    /// </summary>
    private static double SquaredDistance(ReadOnlySpan<float> v, ReadOnlySpan<float> g)
    {
        int length = Math.Min(v.Length, g.Length);
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && length >= Vector<float>.Count)
        {
            var low = Vector<double>.Zero;
            var high = Vector<double>.Zero;
            for (; i <= length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(v.Slice(i)), out Vector<double> v0, out Vector<double> v1);
                Vector.Widen(new Vector<float>(g.Slice(i)), out Vector<double> g0, out Vector<double> g1);
                Vector<double> d0 = v0 - g0;
                Vector<double> d1 = v1 - g1;
                low += d0 * d0;
                high += d1 * d1;
            }

            sum = Vector.Sum(low + high);
        }

        for (; i < length; i++)
        {
            double d = (double)v[i] - g[i];
            sum += d * d;
        }

        return sum;
    }

    /// <summary>Why <paramref name="update"/> breaks a bound, or null; <paramref name="deltaNorm"/> is its change's L2 norm.</summary>
    /// <param name="update">The update, already validated for layout and finite values.</param>
    /// <param name="global">The round's global parameters.</param>
    /// <param name="reference">The previous completed round's reference norm (<see cref="Reference"/>), or null.</param>
    /// <param name="deltaNorm">The L2 norm of the update's change.</param>
    public string? Check(ModelUpdate update, ParameterSet global, double? reference, out double deltaNorm)
    {
        ArgumentNullException.ThrowIfNull(update);
        deltaNorm = 0;
        if (MaxSampleCount is long maxSamples && update.SampleCount > maxSamples)
        {
            return $"the update claims {update.SampleCount} samples, more than the {maxSamples} a device may claim";
        }

        if (MaxAbsoluteValue is float maxAbs)
        {
            ReadOnlySpan<float> v = update.Values.Values;
            int index = v.Length == 0 ? -1 : TensorPrimitives.IndexOfMaxMagnitude(v);
            if (index >= 0 && Math.Abs(v[index]) > maxAbs)
            {
                return $"value {v[index]:G4} at flat index {index} is beyond the bound ±{maxAbs:G4}";
            }
        }

        deltaNorm = DeltaNorm(update, global);
        if (MaxDeltaNorm is double maxNorm && deltaNorm > maxNorm)
        {
            return $"the update's change has L2 norm {deltaNorm:G4}, beyond the bound {maxNorm:G4}";
        }

        if (MaxDeltaNormFactor is double factor && reference is double referenceNorm && referenceNorm > 0 && deltaNorm > factor * referenceNorm)
        {
            return $"the update's change has L2 norm {deltaNorm:G4}, more than {factor:G3} × the previous round's reference norm {referenceNorm:G4} (its {ReferenceQuantile:0.##} quantile)";
        }

        return null;
    }
}
