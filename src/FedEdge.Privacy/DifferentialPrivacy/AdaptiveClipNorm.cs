namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>
/// Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy, "Differentially Private Learning with
/// Adaptive Clipping", NeurIPS 2021): after each round the coordinator moves the clipping norm
/// geometrically towards the γ-quantile of the update norms, C ← C · exp(−η (b̃ − γ)), where b̃ is
/// the (noised) fraction of updates whose norm was within C.
/// </summary>
public sealed class AdaptiveClipNorm
{
    private readonly double _quantile;
    private readonly double _learningRate;
    private readonly double _countNoiseStdDev;
    private readonly GaussianNoise _noise;

    /// <summary>Creates the estimator.</summary>
    /// <param name="initialClipNorm">C₀.</param>
    /// <param name="targetQuantile">γ in (0, 1).</param>
    /// <param name="learningRate">η &gt; 0.</param>
    /// <param name="countNoiseStdDev">σ_b, the noise on the unclipped count (0 to disable; spend some privacy budget otherwise).</param>
    /// <param name="noise">The noise source (default: OS CSPRNG).</param>
    public AdaptiveClipNorm(double initialClipNorm, double targetQuantile = 0.5, double learningRate = 0.2, double countNoiseStdDev = 0, GaussianNoise? noise = null)
    {
        if (!(initialClipNorm > 0) || double.IsInfinity(initialClipNorm))
        {
            throw new ArgumentOutOfRangeException(nameof(initialClipNorm), initialClipNorm, "The clipping norm must be positive and finite.");
        }

        if (!(targetQuantile > 0 && targetQuantile < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(targetQuantile), targetQuantile, "The target quantile must be in (0, 1).");
        }

        if (!(learningRate > 0) || !(countNoiseStdDev >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(learningRate), "The learning rate must be positive and the count noise non-negative.");
        }

        Current = initialClipNorm;
        _quantile = targetQuantile;
        _learningRate = learningRate;
        _countNoiseStdDev = countNoiseStdDev;
        _noise = noise ?? new GaussianNoise();
    }

    /// <summary>The clipping norm for the next round.</summary>
    public double Current { get; private set; }

    /// <summary>
    /// The noise multiplier left for the updates when the count is noised with σ_b and the whole
    /// round must have overall multiplier z: z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) (Andrew et al., §3.1).
    /// </summary>
    /// <exception cref="ArgumentException">σ_b is too small for the overall multiplier z.</exception>
    public static double UpdateNoiseMultiplier(double overallNoiseMultiplier, double countNoiseStdDev)
    {
        if (countNoiseStdDev == 0)
        {
            return overallNoiseMultiplier;
        }

        double rest = Math.Pow(overallNoiseMultiplier, -2) - Math.Pow(2 * countNoiseStdDev, -2);
        if (!(rest > 0))
        {
            throw new ArgumentException($"A count noise of {countNoiseStdDev} leaves no budget for the updates at overall noise multiplier {overallNoiseMultiplier}; raise σ_b.");
        }

        return 1 / Math.Sqrt(rest);
    }

    /// <summary>Updates the norm from how many of <paramref name="total"/> updates were within it, and returns the new norm.</summary>
    public double Update(int unclippedCount, int total)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(total, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(unclippedCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(unclippedCount, total);
        double noisyCount = unclippedCount + (_countNoiseStdDev > 0 ? _countNoiseStdDev * _noise.NextStandard() : 0);
        double fraction = noisyCount / total;
        Current *= Math.Exp(-_learningRate * (fraction - _quantile));
        return Current;
    }

    /// <summary>Updates the norm from the <c>dp.unclipped</c> metric of each update of the round.</summary>
    public double Update(IEnumerable<IReadOnlyDictionary<string, double>> updateMetrics)
    {
        ArgumentNullException.ThrowIfNull(updateMetrics);
        int total = 0;
        int unclipped = 0;
        foreach (IReadOnlyDictionary<string, double> metrics in updateMetrics)
        {
            if (metrics.TryGetValue("dp.unclipped", out double bit))
            {
                total++;
                unclipped += bit >= 0.5 ? 1 : 0;
            }
        }

        return total == 0 ? Current : Update(unclipped, total);
    }
}
