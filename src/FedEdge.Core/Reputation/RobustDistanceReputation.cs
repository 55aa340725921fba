using System.Globalization;
using FedEdge.Coordination;

namespace FedEdge.Reputation;

/// <summary>Factories for Core's reputation policies.</summary>
public static class ReputationPolicies
{
    /// <summary>
    /// Scores devices by how their updates sit among the round's accepted updates, relative to the round's own spread:
    /// an update whose cosine distance from the aggregate, or whose change's norm, is a robust outlier (median/MAD
    /// z-score above <see cref="ReputationOptions.OutlierZ"/>) loses <see cref="ReputationOptions.OutlierPenalty"/>, more the
    /// further out it is (<see cref="ReputationOptions.MaxOutlierSeverity"/>); a
    /// refused update loses <see cref="ReputationOptions.RefusalPenalty"/>; a missed round
    /// <see cref="ReputationOptions.MissedPenalty"/>; a good update earns <see cref="ReputationOptions.Reward"/>.
    /// Judging against the round's spread rather than a fixed distance keeps honest devices with skewed (non-IID) data
    /// out of quarantine.
    /// </summary>
    public static IReputationPolicy RobustDistance(ReputationOptions? options = null)
    {
        options ??= new ReputationOptions();
        options.Validate();
        return new RobustDistanceReputation(options);
    }

    /// <summary>The devices <paramref name="policy"/> holds in quarantine now (of those it has scored).</summary>
    internal static HashSet<string> QuarantinedDevices(IReputationPolicy policy) =>
        policy.Scores.Keys.Where(d => policy.QuarantineOf(d) is not null).ToHashSet(StringComparer.Ordinal);
}

/// <summary>The built-in policy behind <see cref="ReputationPolicies.RobustDistance"/>. Thread-safe.</summary>
internal sealed class RobustDistanceReputation(ReputationOptions options) : IReputationPolicy
{
    /// <summary>The smallest spread of cosine distances the z-score divides by (rounds where every update points the same way).</summary>
    internal const double MinDistanceScale = 0.05;

    /// <summary>The smallest spread of log norms the z-score divides by: at the default z of 3.5 an update must be over about 3.4 × the norm of the updates agreeing with it.</summary>
    internal const double MinLogNormScale = 0.35;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, double> _scores = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<long>> _penalties = new(StringComparer.Ordinal);
    private readonly HashSet<string> _quarantined = new(StringComparer.Ordinal);
    private double _peakMedianNorm;

    public IReadOnlyDictionary<string, double> Scores
    {
        get
        {
            lock (_gate)
            {
                return new Dictionary<string, double>(_scores, StringComparer.Ordinal);
            }
        }
    }

    public double ScoreOf(string deviceId)
    {
        lock (_gate)
        {
            return _scores.GetValueOrDefault(deviceId, options.InitialScore);
        }
    }

    public double WeightOf(string deviceId) => Math.Clamp(ScoreOf(deviceId) / options.InitialScore, 0, 1);

    public ReputationStanding? QuarantineOf(string deviceId)
    {
        lock (_gate)
        {
            return _quarantined.Contains(deviceId)
                ? new ReputationStanding(deviceId, _scores[deviceId], options.QuarantineBelow, [.. _penalties.GetValueOrDefault(deviceId) ?? []])
                : null;
        }
    }

    public IReadOnlyList<ReputationChange> Observe(RoundResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var changes = new List<ReputationChange>();
        lock (_gate)
        {
            var refused = new HashSet<string>(result.Refused.Select(r => r.DeviceId), StringComparer.Ordinal);
            bool widespread = refused.Count > options.MaxRefusedFraction * Math.Max(1, result.Selected.Count);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (RefusedUpdate r in result.Refused)
            {
                if (seen.Add(r.DeviceId))
                {
                    string why = widespread
                        ? string.Create(CultureInfo.InvariantCulture, $"update refused along with {refused.Count - 1} other devices' (a round-wide cause, so only the liveness penalty): {r.Reason}")
                        : "update refused: " + r.Reason;
                    Apply(r.DeviceId, result.Round, widespread ? -options.MissedPenalty : -options.RefusalPenalty, why, changes);
                }
            }

            foreach (RefusedUpdate f in result.Failed)
            {
                if (!refused.Contains(f.DeviceId))
                {
                    Apply(f.DeviceId, result.Round, -options.MissedPenalty, "no update in the round: " + f.Reason, changes);
                }
            }

            List<AcceptedUpdate> judged = [.. result.Updates.Where(u => u.CosineDistance is not null && u.NormRatio is > 0)];
            if (judged.Count >= options.MinUpdatesToJudge)
            {
                double[] distance = [.. judged.Select(u => u.CosineDistance!.Value)];
                double[] logNorm = [.. judged.Select(u => Math.Log(u.NormRatio!.Value))];
                double[] zDistance = RobustZ(distance, MinDistanceScale);
                double[] zNorm = RobustZ(logNorm, MinLogNormScale);
                int colluders = options.ByzantineCount ?? result.ByzantineCount ?? options.OpposingGroup;
                bool settled = Settled(judged);
                for (int i = 0; i < judged.Count; i++)
                {
                    bool lonely = judged[i].PeerSimilarity is not double peer || peer < options.PeerAgreement;
                    // With the mirror test on, the direction test judges only updates that some other update mirrors: a
                    // flipped update mirrors the honest devices of its kind. An honest pair the aggregate turns away from
                    // (a plain median following another majority) mirrors nobody once the flippers of its kind are gone.
                    bool mirroredAtAll = !options.MirrorTest || judged[i].MirrorPeers is not int mirrorCount || mirrorCount > 0;
                    bool opposing = !settled && judged[i].ClosePeers is int close && close < options.OpposingGroup && 1 - distance[i] < -options.OpposingCosine && mirroredAtAll;
                    int group = (judged[i].ClosePeers ?? 0) + 1;
                    // A group of like devices larger than the colluders the federation assumes counts as a kind unless its
                    // mirrors outnumber it MirrorMajority to one: honest kinds of a non-IID federation become exact mirrors
                    // of each other near the optimum, where their pulls balance.
                    bool mirrored = options.MirrorTest && !settled && judged[i].MirrorPeers is int mirrors && mirrors > group
                        && (group <= colluders || mirrors >= options.MirrorMajority * group);
                    bool farInDirection = zDistance[i] > options.OutlierZ && lonely;
                    if (farInDirection || zNorm[i] > options.OutlierZ)
                    {
                        // The further out, the more it costs (up to MaxOutlierSeverity times the plain penalty).
                        double z = Math.Max(farInDirection ? zDistance[i] : 0, zNorm[i]);
                        double severity = Math.Clamp(z / options.OutlierZ, 1, options.MaxOutlierSeverity);
                        string why = string.Create(CultureInfo.InvariantCulture, $"update far from the round's robust aggregate: cosine distance {distance[i]:0.###} (z {zDistance[i]:0.#}), norm ×{judged[i].NormRatio:0.##} of the updates agreeing with it (z {zNorm[i]:0.#}), closest other update at cosine {judged[i].PeerSimilarity:0.##}; penalty ×{severity:0.##} for how far out it is");
                        Apply(judged[i].DeviceId, result.Round, -options.OutlierPenalty * severity, why, changes);
                    }
                    else if (mirrored)
                    {
                        string why = string.Create(CultureInfo.InvariantCulture, $"update is the mirror image of {judged[i].MirrorPeers} other updates (cosine ≤ -{Coordination.AcceptedUpdate.CloseAgreement:0.#} with each), more than the {group} that move the model its way (itself included): what sign flipping sends");
                        Apply(judged[i].DeviceId, result.Round, -options.OutlierPenalty, why, changes);
                    }
                    else if (opposing)
                    {
                        string why = string.Create(CultureInfo.InvariantCulture, $"update opposes the round's robust aggregate: cosine {1 - distance[i]:0.###} (below -{options.OpposingCosine:0.##}), and only {judged[i].ClosePeers} other updates move the model the same way (cosine ≥ {Coordination.AcceptedUpdate.CloseAgreement:0.#}; {options.OpposingGroup} would make it a group of like devices)");
                        Apply(judged[i].DeviceId, result.Round, -options.OutlierPenalty, why, changes);
                    }
                    else
                    {
                        Apply(judged[i].DeviceId, result.Round, options.Reward, "update within the round's spread", changes);
                    }
                }
            }
            else
            {
                foreach (string device in result.Contributors)
                {
                    Apply(device, result.Round, options.Reward, "update accepted", changes);
                }
            }
        }

        return changes;
    }

    /// <summary>
    /// True when the round's median change norm is below <see cref="ReputationOptions.SettledBelow"/> of the largest median
    /// seen so far (which this round may raise). Rounds without norms are never settled.
    /// </summary>
    private bool Settled(List<AcceptedUpdate> judged)
    {
        double[] norms = [.. judged.Where(u => u.DeltaNorm is > 0 && double.IsFinite(u.DeltaNorm.Value)).Select(u => u.DeltaNorm!.Value)];
        if (norms.Length == 0)
        {
            return false;
        }

        double median = Median(norms);
        _peakMedianNorm = Math.Max(_peakMedianNorm, median);
        return median < options.SettledBelow * _peakMedianNorm;
    }

    /// <summary>(x − median) / max(1.4826 · MAD, <paramref name="minScale"/>) for each value.</summary>
    internal static double[] RobustZ(double[] values, double minScale)
    {
        double median = Median(values);
        double mad = Median([.. values.Select(v => Math.Abs(v - median))]);
        double scale = Math.Max(1.4826 * mad, minScale);
        return [.. values.Select(v => (v - median) / scale)];
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }

    private void Apply(string device, long round, double delta, string reason, List<ReputationChange> changes)
    {
        double previous = _scores.GetValueOrDefault(device, options.InitialScore);
        double score = Math.Clamp(previous + delta, 0, options.InitialScore);
        if (delta < 0)
        {
            if (!_penalties.TryGetValue(device, out SortedSet<long>? rounds))
            {
                _penalties[device] = rounds = [];
            }

            rounds.Add(round);
        }

        _scores[device] = score;
        if (score == previous && !_quarantined.Contains(device))
        {
            return;
        }

        bool quarantine = score < options.QuarantineBelow && _quarantined.Add(device);
        if (score != previous || quarantine)
        {
            changes.Add(new ReputationChange(device, round, previous, score, reason, quarantine));
        }
    }
}

/// <summary>Admission that refuses quarantined devices (with their score and the rounds that caused it) before asking the host's policy.</summary>
internal sealed class ReputationAdmission(Admission.IAdmissionPolicy inner, IReputationPolicy reputation) : Admission.IAdmissionPolicy
{
    public ValueTask<Admission.AdmissionDecision> EvaluateAsync(Admission.AdmissionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return reputation.QuarantineOf(request.DeviceId) is { } standing
            ? ValueTask.FromResult(Admission.AdmissionDecision.Refuse(standing.Describe()))
            : inner.EvaluateAsync(request, cancellationToken);
    }
}
