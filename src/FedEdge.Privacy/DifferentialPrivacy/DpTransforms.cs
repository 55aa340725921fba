namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>
/// The device-side (or coordinator-side, per update) DP transform: clips the update to L2 norm C and,
/// for local or distributed placement, adds Gaussian noise. Reports <c>dp.l2_norm</c>,
/// <c>dp.unclipped</c> (1 when the norm was within C, for adaptive clipping) and <c>dp.clip_norm</c>.
/// </summary>
public sealed class DpUpdateTransform : IUpdateTransform
{
    private readonly DifferentialPrivacyOptions _options;
    private readonly GaussianNoise _noise;

    /// <summary>Creates the transform; options are validated here.</summary>
    /// <param name="options">Noise multiplier, clip norm and placement.</param>
    /// <param name="noise">The noise source (default: OS CSPRNG).</param>
    public DpUpdateTransform(DifferentialPrivacyOptions options, GaussianNoise? noise = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _noise = noise ?? new GaussianNoise();
        ClipNorm = options.ClipNorm;
    }

    /// <inheritdoc />
    public string Name => "dp.clip-gaussian";

    /// <summary>The clipping norm for the current round; the coordinator's adaptive clipping sends a new one each round.</summary>
    public double ClipNorm { get; set; }

    /// <summary>The standard deviation of the noise this transform adds to one update.</summary>
    public double NoiseStdDev => _options.Placement switch
    {
        NoisePlacement.Local => _options.NoiseMultiplier * ClipNorm,
        NoisePlacement.Distributed => _options.NoiseMultiplier * ClipNorm / Math.Sqrt(_options.ExpectedClientsPerRound),
        _ => 0,
    };

    /// <inheritdoc />
    public void Apply(ParameterSet update, UpdateTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(context);
        double clip = ClipNorm;
        double norm = L2Clipping.Clip(update.Values, clip);
        context.Metrics["dp.l2_norm"] = norm;
        context.Metrics["dp.unclipped"] = norm <= clip ? 1 : 0;
        context.Metrics["dp.clip_norm"] = clip;
        double std = NoiseStdDev;
        _noise.AddNoise(update.Values, std);
        context.Metrics["dp.noise_stddev"] = std;
    }
}

/// <summary>
/// The coordinator-side central-DP hook: adds N(0, (zC)²) to the sum of clipped updates (or
/// N(0, (zC/n)²) to their mean). Pair it with a coordinator-side <see cref="DpUpdateTransform"/> with
/// <see cref="NoisePlacement.Central"/>, which only clips.
/// </summary>
public sealed class GaussianAggregateNoise : IAggregateTransform
{
    private readonly GaussianNoise _noise;

    /// <summary>Creates the hook.</summary>
    /// <param name="noiseMultiplier">z = σ/C.</param>
    /// <param name="clipNorm">C, the norm every update was clipped to.</param>
    /// <param name="noise">The noise source (default: OS CSPRNG).</param>
    public GaussianAggregateNoise(double noiseMultiplier, double clipNorm, GaussianNoise? noise = null)
    {
        if (!(noiseMultiplier >= 0) || double.IsInfinity(noiseMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "The noise multiplier must be finite and non-negative.");
        }

        if (!(clipNorm > 0) || double.IsInfinity(clipNorm))
        {
            throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "The clipping norm must be positive and finite.");
        }

        NoiseMultiplier = noiseMultiplier;
        ClipNorm = clipNorm;
        _noise = noise ?? new GaussianNoise();
    }

    /// <inheritdoc />
    public string Name => "dp.central-gaussian";

    /// <summary>z = σ/C.</summary>
    public double NoiseMultiplier { get; }

    /// <summary>The clipping norm; follow adaptive clipping by setting it each round.</summary>
    public double ClipNorm { get; set; }

    /// <inheritdoc />
    public void Apply(ParameterSet aggregate, AggregateTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(aggregate);
        ArgumentNullException.ThrowIfNull(context);
        if (context.ContributorCount < 1)
        {
            throw new ArgumentException("An aggregate of no updates cannot be noised; the round should have been empty.", nameof(context));
        }

        double std = NoiseMultiplier * ClipNorm / (context.IsMean ? context.ContributorCount : 1);
        _noise.AddNoise(aggregate.Values, std);
        context.Metrics["dp.noise_stddev"] = std;
    }
}
