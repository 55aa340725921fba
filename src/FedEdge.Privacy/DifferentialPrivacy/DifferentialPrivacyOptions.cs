namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>Where the Gaussian noise of DP-FedAvg is added.</summary>
public enum NoisePlacement
{
    /// <summary>The coordinator clips each update and adds N(0, (σC)²) to the sum (trusts the coordinator).</summary>
    Central = 0,

    /// <summary>Each device adds the full N(0, (σC)²) to its own update (trusts no one; costs accuracy).</summary>
    Local = 1,

    /// <summary>Each of n devices adds N(0, (σC)²/n) so that the securely aggregated sum carries N(0, (σC)²): use with secure aggregation.</summary>
    Distributed = 2,
}

/// <summary>Settings of DP-FedAvg (McMahan et al., ICLR 2018) with optional adaptive clipping (Andrew et al., NeurIPS 2021).</summary>
public sealed class DifferentialPrivacyOptions
{
    /// <summary>The noise multiplier z = σ/C (default 1.0). CLI: <c>--dp-noise</c>.</summary>
    public double NoiseMultiplier { get; set; } = 1.0;

    /// <summary>The L2 clipping norm C, or its starting value under adaptive clipping (default 1.0). CLI: <c>--dp-clip</c>.</summary>
    public double ClipNorm { get; set; } = 1.0;

    /// <summary>Where noise is added (default central).</summary>
    public NoisePlacement Placement { get; set; } = NoisePlacement.Central;

    /// <summary>The expected number of devices per round n, used to split distributed noise (default 10).</summary>
    public int ExpectedClientsPerRound { get; set; } = 10;

    /// <summary>The probability q with which a device takes part in a round, for accounting (default 1).</summary>
    public double SamplingRate { get; set; } = 1.0;

    /// <summary>The target δ of the reported (ε, δ) (default 1e-5).</summary>
    public double TargetDelta { get; set; } = 1e-5;

    /// <summary>Stop training once ε would exceed this (default none). CLI: <c>--dp-target-epsilon</c>.</summary>
    public double? TargetEpsilon { get; set; }

    /// <summary>Adapt the clipping norm towards <see cref="TargetUnclippedQuantile"/> (default false).</summary>
    public bool AdaptiveClipping { get; set; }

    /// <summary>The target fraction γ of updates left unclipped (default 0.5, the median).</summary>
    public double TargetUnclippedQuantile { get; set; } = 0.5;

    /// <summary>The clip learning rate η for the geometric update C ← C·exp(−η(b̄ − γ)) (default 0.2).</summary>
    public double ClipLearningRate { get; set; } = 0.2;

    /// <summary>The standard deviation σ_b of the noise on the unclipped count (default n/20 as suggested by Andrew et al.).</summary>
    public double? ClipCountNoiseStdDev { get; set; }

    /// <summary>Throws when a setting is out of range.</summary>
    /// <exception cref="ArgumentException">The message names the setting.</exception>
    public void Validate()
    {
        if (!(NoiseMultiplier >= 0) || double.IsInfinity(NoiseMultiplier))
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.NoiseMultiplier must be finite and non-negative, not {NoiseMultiplier}.");
        }

        if (!(ClipNorm > 0) || double.IsInfinity(ClipNorm))
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.ClipNorm must be positive and finite, not {ClipNorm}.");
        }

        if (ExpectedClientsPerRound < 1)
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.ExpectedClientsPerRound must be at least 1, not {ExpectedClientsPerRound}.");
        }

        if (!(SamplingRate > 0 && SamplingRate <= 1))
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.SamplingRate must be in (0, 1], not {SamplingRate}.");
        }

        if (!(TargetDelta > 0 && TargetDelta < 1))
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.TargetDelta must be in (0, 1), not {TargetDelta}.");
        }

        if (TargetEpsilon is { } eps && !(eps > 0))
        {
            throw new ArgumentException($"DifferentialPrivacyOptions.TargetEpsilon must be positive, not {eps}.");
        }

        if (!(TargetUnclippedQuantile > 0 && TargetUnclippedQuantile < 1) || !(ClipLearningRate > 0) || ClipCountNoiseStdDev is < 0)
        {
            throw new ArgumentException("Adaptive clipping needs a quantile in (0, 1), a positive learning rate and a non-negative count noise.");
        }
    }
}
