namespace FedEdge.Privacy;

/// <summary>
/// Tracks the differential-privacy cost of training rounds and tells the coordinator when the
/// budget is spent. One call to <see cref="RecordRound"/> per round that released a noised aggregate.
/// </summary>
public interface IPrivacyAccountant
{
    /// <summary>The privacy spent so far.</summary>
    PrivacySpent Spent { get; }

    /// <summary>True when another round of the last recorded kind would exceed the budget, or the budget is already exceeded.</summary>
    bool IsExhausted { get; }

    /// <summary>Records one round of the subsampled Gaussian mechanism and returns the privacy spent after it.</summary>
    /// <param name="samplingRate">The probability q with which each device (or record) took part, 0 ≤ q ≤ 1.</param>
    /// <param name="noiseMultiplier">The noise standard deviation divided by the clipping norm (σ/C), &gt; 0.</param>
    PrivacySpent RecordRound(double samplingRate, double noiseMultiplier);

    /// <summary>The privacy that would be spent after <paramref name="additionalRounds"/> more rounds like the given one, without recording them.</summary>
    PrivacySpent Preview(double samplingRate, double noiseMultiplier, int additionalRounds);
}

/// <summary>An (ε, δ) guarantee after some rounds.</summary>
/// <param name="Epsilon">ε for <paramref name="Delta"/>.</param>
/// <param name="Delta">The target δ.</param>
/// <param name="Rounds">How many rounds were recorded.</param>
/// <param name="EpsilonBudget">The budget ε, or null when there is none.</param>
/// <param name="OptimalOrder">The Rényi order that gave the tightest ε, or null when no round was recorded.</param>
public sealed record PrivacySpent(double Epsilon, double Delta, int Rounds, double? EpsilonBudget, double? OptimalOrder)
{
    /// <summary>True when a budget is set and ε exceeds it.</summary>
    public bool ExceedsBudget => EpsilonBudget is { } budget && Epsilon > budget;
}
