using System.Numerics.Tensors;

namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>Per-update L2 clipping: scales an update down so that its L2 norm is at most the clipping norm C.</summary>
public static class L2Clipping
{
    /// <summary>Clips <paramref name="values"/> in place to L2 norm ≤ <paramref name="clipNorm"/> and returns the norm before clipping.</summary>
    /// <exception cref="ArgumentException">A value is not finite (a NaN update must be refused, not clipped).</exception>
    public static double Clip(Span<float> values, double clipNorm)
    {
        if (!(clipNorm > 0) || double.IsInfinity(clipNorm))
        {
            throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "The clipping norm must be positive and finite.");
        }

        double sumSquares = 0;
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
            {
                throw new ArgumentException("The update holds NaN or infinite values; it cannot be clipped.", nameof(values));
            }

            sumSquares += (double)v * v;
        }

        double norm = Math.Sqrt(sumSquares);
        if (norm > clipNorm)
        {
            TensorPrimitives.Multiply(values, (float)(clipNorm / norm), values);
        }

        return norm;
    }
}
