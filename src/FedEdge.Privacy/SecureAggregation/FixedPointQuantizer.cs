namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// Maps floats into the ring Z/2^32 and back. A value x is clipped to [−c, c] and becomes
/// round(x · s) as a two's-complement 32-bit word. With s = (2^31 − 1 − n) / (n · c), the sum of n
/// such words never wraps, so the signed sum decodes exactly and
/// |decoded − Σ clip(x_i)| ≤ n / (2s) per coordinate (plus the float32 rounding of the result).
/// </summary>
public static class FixedPointQuantizer
{
    /// <summary>The largest scale for which <paramref name="clientCount"/> values clipped to ±<paramref name="clipRange"/> sum without wrapping.</summary>
    public static double ComputeScale(int clientCount, float clipRange)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clientCount, 1);
        if (!(clipRange > 0) || !float.IsFinite(clipRange))
        {
            throw new ArgumentOutOfRangeException(nameof(clipRange), clipRange, "The clip range must be a positive finite number.");
        }

        return (int.MaxValue - (double)clientCount) / (clientCount * (double)clipRange);
    }

    /// <summary>The worst-case absolute error per coordinate of a decoded sum of <paramref name="contributors"/> inputs, before float32 rounding.</summary>
    public static double ErrorBound(int contributors, double scale) => contributors / (2 * scale);

    /// <summary>Clips and quantises <paramref name="values"/> into <paramref name="destination"/>. Non-finite values are refused.</summary>
    /// <exception cref="ArgumentException">A value is NaN or infinite, or the lengths differ.</exception>
    public static void Quantize(ReadOnlySpan<float> values, float clipRange, double scale, Span<uint> destination)
    {
        if (values.Length != destination.Length)
        {
            throw new ArgumentException($"{values.Length} values but a destination of {destination.Length}.", nameof(destination));
        }

        for (int i = 0; i < values.Length; i++)
        {
            float x = values[i];
            if (!float.IsFinite(x))
            {
                throw new ArgumentException($"Value {i} is {x}; secure aggregation needs finite values.", nameof(values));
            }

            x = Math.Clamp(x, -clipRange, clipRange);
            double q = Math.Round(x * scale, MidpointRounding.AwayFromZero);
            destination[i] = unchecked((uint)(int)q);
        }
    }

    /// <summary>Decodes a ring sum into floats (the sum of the clipped inputs).</summary>
    public static void Dequantize(ReadOnlySpan<uint> sum, double scale, Span<float> destination)
    {
        if (sum.Length != destination.Length)
        {
            throw new ArgumentException($"{sum.Length} words but a destination of {destination.Length}.", nameof(destination));
        }

        double inverse = 1.0 / scale;
        for (int i = 0; i < sum.Length; i++)
        {
            destination[i] = (float)(unchecked((int)sum[i]) * inverse);
        }
    }
}
