namespace FedEdge.Training;

/// <summary>The optimiser of the managed trainer.</summary>
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with optional momentum (PyTorch <c>optim.SGD</c>, no dampening).</summary>
    Sgd = 0,

    /// <summary>Adam (PyTorch <c>optim.Adam</c> defaults: β = (0.9, 0.999), ε = 1e-8, bias correction).</summary>
    Adam = 1,
}

/// <summary>How the managed trainer stores parameters and gradients during a training run.</summary>
public enum ParameterPrecision
{
    /// <summary>Float32 parameters, gradients and arithmetic (the default).</summary>
    Float32 = 0,

    /// <summary>
    /// Float16 (IEEE 754 half) parameters and gradients with float32 arithmetic: each weight row is widened to float32
    /// when it is used, dot products and the gradient sum over a block of rows accumulate in float32, and values are rounded
    /// to float16 (nearest even) when stored. Optimiser state stays float32. Halves the bytes of parameters and gradients;
    /// an update smaller than half a float16 step of its weight is lost in the rounding.
    /// </summary>
    Float16 = 1,
}

/// <summary>
/// Weight-elimination regularisation (Weigend et al. 1991, used by MEDNN, Zakariyya et al.):
/// <c>R = λ Σ (w²/w0²) / (1 + w²/w0²)</c> over weight tensors (not biases), with λ adapted once per epoch.
/// </summary>
public sealed record WeightEliminationOptions
{
    /// <summary>The initial λ.</summary>
    public double Lambda { get; init; } = 1e-4;

    /// <summary>The scale w0: weights much smaller than w0 are pushed to zero, much larger ones cost about λ each.</summary>
    public double W0 { get; init; } = 0.1;

    /// <summary>When true, λ is adapted per epoch (Weigend's rule); when false it stays fixed.</summary>
    public bool Adapt { get; init; } = true;

    /// <summary>The additive λ step of the adaptation.</summary>
    public double LambdaStep { get; init; } = 1e-5;

    /// <summary>The target training loss D: below it λ grows.</summary>
    public double TargetLoss { get; init; } = 0.01;

    /// <summary>Smoothing of the running average loss used by the adaptation.</summary>
    public double AverageDecay { get; init; } = 0.9;

    internal void Validate()
    {
        if (!(Lambda >= 0) || !(W0 > 0) || !(LambdaStep >= 0) || !(AverageDecay is >= 0 and < 1) || !double.IsFinite(TargetLoss))
        {
            throw new ArgumentException("Weight elimination needs λ ≥ 0, w0 > 0, a non-negative λ step, a decay in [0, 1) and a finite target loss.");
        }
    }
}

/// <summary>Options of the managed trainer, validated when the trainer is created.</summary>
public sealed record ManagedTrainerOptions
{
    /// <summary>The optimiser (overridable per round with <c>Extra["optimizer"] = "sgd" | "adam"</c>).</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>SGD momentum (overridable with <c>Extra["momentum"]</c>).</summary>
    public float Momentum { get; init; }

    /// <summary>Adam β1.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>Adam β2.</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>Adam ε.</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>When false, batches follow the row order (no shuffle).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Optional MEDNN weight elimination.</summary>
    public WeightEliminationOptions? WeightElimination { get; init; }

    /// <summary>Optional pruning mask: masked parameters are zeroed and kept at zero through training.</summary>
    public PruningMask? Mask { get; init; }

    /// <summary>
    /// How parameters and gradients are stored during training (memory saving, MEDNN); <see cref="ParameterPrecision.Float32"/>
    /// by default. The trained parameters are returned as float32 either way.
    /// </summary>
    public ParameterPrecision Precision { get; init; }

    /// <summary>
    /// When true and a <see cref="Mask"/> is set, the optimiser state (SGD momentum, Adam moments) holds only the surviving
    /// positions, in layout order, instead of one value per parameter: pruned weights hold no state. Results equal the
    /// full-state optimiser's. No effect without a mask.
    /// </summary>
    public bool CompactOptimizerState { get; init; }

    /// <summary>Rows per forward pass during evaluation.</summary>
    public int EvaluationBatchSize { get; init; } = 512;

    /// <summary>The clock for governor pauses and durations.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the trainer logs a summary per run and governor cuts; null logs nothing.</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }

    /// <summary>Creates the <c>FedEdge.Core</c> meter for <c>fededge.training.steps</c> and <c>fededge.training.duration</c>; null uses a plain meter.</summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    internal void Validate()
    {
        if (!(Momentum >= 0 && Momentum < 1) || !(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1) || !(Epsilon > 0))
        {
            throw new ArgumentException("Momentum and Adam betas must be in [0, 1) and ε positive.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(EvaluationBatchSize);
        if (!Enum.IsDefined(Precision))
        {
            throw new ArgumentException($"Unknown parameter precision {Precision}; use Float32 or Float16.");
        }

        ArgumentNullException.ThrowIfNull(TimeProvider);
        WeightElimination?.Validate();
    }
}
