using FedEdge.Coordination;

namespace FedEdge.Reputation;

/// <summary>
/// The reputation port: a per-device score kept from what each round records (refused updates, distance from the
/// robust aggregate, liveness). The coordinator rewards a higher score with selection priority, punishes a lower one
/// with a smaller aggregation weight, and quarantines a device below the policy's threshold through admission.
/// </summary>
public interface IReputationPolicy
{
    /// <summary>The device's score (the policy's initial score for a device it has not seen).</summary>
    double ScoreOf(string deviceId);

    /// <summary>The device's aggregation-weight factor in [0, 1].</summary>
    double WeightOf(string deviceId);

    /// <summary>The device's quarantine (its score and the rounds that caused it), or null when it is not quarantined.</summary>
    ReputationStanding? QuarantineOf(string deviceId);

    /// <summary>Every device's current score.</summary>
    IReadOnlyDictionary<string, double> Scores { get; }

    /// <summary>Updates the scores from a finished round (completed or failed) and returns every change.</summary>
    IReadOnlyList<ReputationChange> Observe(RoundResult result);
}

/// <summary>One change of a device's score.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Round">The round that caused it.</param>
/// <param name="PreviousScore">The score before.</param>
/// <param name="Score">The score after.</param>
/// <param name="Reason">Why (an outlier update, a refusal, a missed round, a good update).</param>
/// <param name="Quarantined">True when this change put the device in quarantine.</param>
public sealed record ReputationChange(string DeviceId, long Round, double PreviousScore, double Score, string Reason, bool Quarantined);

/// <summary>Why a device is quarantined.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Score">Its score.</param>
/// <param name="Threshold">The threshold it fell below.</param>
/// <param name="Rounds">The rounds whose penalties brought it there.</param>
public sealed record ReputationStanding(string DeviceId, double Score, double Threshold, IReadOnlyList<long> Rounds)
{
    /// <summary>The refusal a quarantined device gets.</summary>
    public string Describe() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"quarantined by reputation: score {Score:0.00} is below {Threshold:0.00} after penalties in rounds {string.Join(", ", Rounds)}");
}
