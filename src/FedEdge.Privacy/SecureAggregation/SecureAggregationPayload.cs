namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// Packs what a worker contributes to a secure round into one vector, and unpacks the secure sum on
/// the coordinator: the update scaled by the worker's weight, the weight itself (so the coordinator
/// learns only Σ wᵢ·xᵢ and Σ wᵢ, enough for the weighted mean), and optionally the adaptive-clipping
/// bit (so the coordinator learns only how many updates were within the clipping norm).
/// </summary>
/// <remarks>
/// Keep weights in (0, 1] (e.g. sample count / the round's maximum) so that wᵢ·xᵢ stays within the
/// round's clip range; for differential privacy use weight 1 (a uniform mean), since sample-count
/// weights change the sensitivity.
/// </remarks>
public static class SecureAggregationPayload
{
    /// <summary>The vector length for <paramref name="parameterCount"/> parameters.</summary>
    public static int VectorLength(int parameterCount, bool withClipBit) => checked(parameterCount + 1 + (withClipBit ? 1 : 0));

    /// <summary>Builds [w·x₁, …, w·xₙ, w, (bit)].</summary>
    /// <param name="update">The (clipped, noised) update.</param>
    /// <param name="weight">The aggregation weight in (0, 1].</param>
    /// <param name="withinClipNorm">The adaptive-clipping bit, or null to leave it out.</param>
    public static float[] Pack(ReadOnlySpan<float> update, float weight, bool? withinClipNorm = null)
    {
        if (!(weight > 0 && weight <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(weight), weight, "The weight must be in (0, 1] so that weighted values stay within the clip range.");
        }

        float[] vector = new float[VectorLength(update.Length, withinClipNorm.HasValue)];
        System.Numerics.Tensors.TensorPrimitives.Multiply(update, weight, vector.AsSpan(0, update.Length));
        vector[update.Length] = weight;
        if (withinClipNorm is { } bit)
        {
            vector[update.Length + 1] = bit ? 1 : 0;
        }

        return vector;
    }

    /// <summary>Turns a secure sum of packed vectors into the weighted mean, the total weight and the unclipped count.</summary>
    /// <exception cref="ArgumentException">The sum's length does not match, or the total weight is not positive.</exception>
    public static SecureAggregate Unpack(ReadOnlySpan<float> sum, int parameterCount, bool withClipBit)
    {
        if (sum.Length != VectorLength(parameterCount, withClipBit))
        {
            throw new ArgumentException($"A packed sum for {parameterCount} parameters has {VectorLength(parameterCount, withClipBit)} values, not {sum.Length}.", nameof(sum));
        }

        double totalWeight = sum[parameterCount];
        if (!(totalWeight > 0))
        {
            throw new ArgumentException($"The total weight {totalWeight} is not positive; the sum is corrupt or empty.", nameof(sum));
        }

        float[] mean = new float[parameterCount];
        System.Numerics.Tensors.TensorPrimitives.Multiply(sum[..parameterCount], (float)(1 / totalWeight), mean);
        int? unclipped = withClipBit ? (int)Math.Round(sum[parameterCount + 1]) : null;
        return new SecureAggregate(mean, totalWeight, unclipped);
    }
}

/// <summary>A secure sum unpacked by <see cref="SecureAggregationPayload.Unpack"/>.</summary>
/// <param name="WeightedMean">Σ wᵢ·xᵢ / Σ wᵢ.</param>
/// <param name="TotalWeight">Σ wᵢ.</param>
/// <param name="UnclippedCount">How many contributors were within the clipping norm, when the bit was packed.</param>
public sealed record SecureAggregate(float[] WeightedMean, double TotalWeight, int? UnclippedCount);
