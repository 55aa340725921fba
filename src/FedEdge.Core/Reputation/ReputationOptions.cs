namespace FedEdge.Reputation;

/// <summary>Settings of the built-in reputation policy (<see cref="ReputationPolicies.RobustDistance"/>).</summary>
public sealed class ReputationOptions
{
    /// <summary>A new device's score. Default 1.</summary>
    public double InitialScore { get; set; } = 1.0;

    /// <summary>Added for an accepted update that is not an outlier (capped at <see cref="InitialScore"/>). Default 0.05.</summary>
    public double Reward { get; set; } = 0.05;

    /// <summary>Taken for an outlier update (more for a far outlier, see <see cref="MaxOutlierSeverity"/>). Default 0.2.</summary>
    public double OutlierPenalty { get; set; } = 0.2;

    /// <summary>Taken for a refused update. Default 0.2.</summary>
    public double RefusalPenalty { get; set; } = 0.2;

    /// <summary>Taken when a selected device sends no update (liveness). Default 0.05.</summary>
    public double MissedPenalty { get; set; } = 0.05;

    /// <summary>A device whose score falls below this is quarantined. Default 0.5.</summary>
    public double QuarantineBelow { get; set; } = 0.5;

    /// <summary>
    /// An update is an outlier when the robust z-score ((x − median) / (1.4826 · MAD)) of its cosine distance from the
    /// aggregate, or of the log of its change's norm, is above this among the round's accepted updates. Default 3.5.
    /// </summary>
    public double OutlierZ { get; set; } = 3.5;

    /// <summary>
    /// A direction outlier (cosine distance) is penalised only when no other accepted update agrees with it, i.e. its
    /// highest cosine similarity with another update is below this. Devices with skewed (non-IID) data move the model
    /// away from the aggregate together; a lone device pointing elsewhere does not. Default 0.5.
    /// </summary>
    public double PeerAgreement { get; set; } = 0.5;

    /// <summary>
    /// When more than this fraction of a round's selected devices had updates refused, the refusals say more about the
    /// round (a bound tuned to other devices, a network fault) than about each device: they cost only
    /// <see cref="MissedPenalty"/>. Default 0.25.
    /// </summary>
    public double MaxRefusedFraction { get; set; } = 0.25;

    /// <summary>
    /// An update whose change has a cosine similarity below minus this with the change of the round's robust aggregate
    /// pushes the model back where the round moved it (sign flipping does exactly that) and loses
    /// <see cref="OutlierPenalty"/>, unless at least <see cref="OpposingGroup"/> other updates move the model closely the
    /// same way (<see cref="Coordination.AcceptedUpdate.ClosePeers"/>): honest non-IID devices that disagree with the
    /// aggregate come in groups of similar devices. 0 or more; set it above 1 to turn the test off. Default 0.3.
    /// </summary>
    public double OpposingCosine { get; set; } = 0.3;

    /// <summary>
    /// How many other updates must move the model closely the same way (cosine ≥ 0.9) as an update that opposes the
    /// aggregate for it to be let off as a group of like devices rather than an attacker (see <see cref="OpposingCosine"/>).
    /// Colluding attackers that send nearly the same update and number more than this escape the direction test, not the
    /// norm test, nor the mirror test (<see cref="MirrorTest"/>) while they number at most <see cref="ByzantineCount"/> or
    /// the devices they mirror outnumber them <see cref="MirrorMajority"/> to one. Default 2 (a group of three).
    /// </summary>
    public int OpposingGroup { get; set; } = 2;

    /// <summary>
    /// The mirror test: an update whose change is the mirror image (cosine ≤ −0.9, <see cref="Coordination.AcceptedUpdate.MirrorPeers"/>)
    /// of more other updates than move the model its own way (its <see cref="Coordination.AcceptedUpdate.ClosePeers"/> and
    /// itself) loses <see cref="OutlierPenalty"/>, whatever the aggregate does. Sign flipping sends exactly the opposite of
    /// what a device of the same kind would send, so colluding flippers mirror the honest devices of their kind, who
    /// outnumber them while attackers are a minority of each kind; honest groups of different kinds disagree, but not as
    /// exact opposites. A group that meets its mirror group in equal numbers is left to the direction test
    /// (<see cref="OpposingCosine"/>), which then judges only updates that at least one other update mirrors: an honest
    /// group that opposes an aggregate gone astray (a plain median following another majority on non-IID data) mirrors
    /// nobody once the flippers of its kind are quarantined. Default true.
    /// </summary>
    public bool MirrorTest { get; set; } = true;

    /// <summary>
    /// How many times its own group's size the mirror images of an update must number before the mirror test
    /// (<see cref="MirrorTest"/>) penalises a group of like devices larger than the colluders the federation assumes
    /// (<see cref="ByzantineCount"/>); a group of at most that many is penalised as soon as its mirrors outnumber it.
    /// On non-IID data the honest kinds become exact mirror images of each other as the federation nears its optimum
    /// (their pulls on the model balance there): on the demo split, groups of four or five benign devices were mirrored
    /// by six attack-only devices from round 8 on, round after round, which quarantined honest devices in longer runs.
    /// A group larger than the assumed number of Byzantine devices holds at least one honest device, so it is judged as a
    /// kind. Default 2.
    /// </summary>
    public double MirrorMajority { get; set; } = 2.0;

    /// <summary>
    /// The number f of Byzantine devices the federation assumes, for the mirror test (<see cref="MirrorMajority"/>):
    /// colluders number at most f. Null (the default) takes the f the round's strategy ran with
    /// (<see cref="Coordination.RoundResult.ByzantineCount"/>: Krum, Multi-Krum, Bulyan), and for a strategy without f
    /// <see cref="OpposingGroup"/>. Set it when the strategy has no f (FedAvg, median, trimmed mean) but the deployment
    /// assumes one; <c>fededge simulate</c> sets it from <c>--byzantine</c>.
    /// </summary>
    public int? ByzantineCount { get; set; }

    /// <summary>
    /// How much more than <see cref="OutlierPenalty"/> a far outlier loses: an update flagged by its z-score (norm or
    /// direction, see <see cref="OutlierZ"/>) loses <see cref="OutlierPenalty"/> × min(z / <see cref="OutlierZ"/>, this),
    /// so an update at the threshold loses the plain penalty and one twice as far out (a scaled or noise update, a
    /// flipped update the round has moved far from) loses up to this many times it, and reaches quarantine in fewer
    /// rounds. The mirror and direction tests, which have no z, always take the plain penalty. 1 turns the scaling off.
    /// Default 2.
    /// </summary>
    public double MaxOutlierSeverity { get; set; } = 2.0;

    /// <summary>
    /// A round is settled when the median norm of its accepted changes (<see cref="Coordination.AcceptedUpdate.DeltaNorm"/>)
    /// is below this fraction of the largest such median the policy has seen: the federation is near its optimum, where
    /// the honest kinds of non-IID data pull the model in exactly opposite directions and balance. The mirror test and the
    /// direction test (<see cref="MirrorTest"/>, <see cref="OpposingCosine"/>) are skipped in settled rounds; the z-score
    /// tests (norm and distance) still run. On the demo split every sign-flip penalty fell in rounds at 0.40 or more of
    /// the peak, and every mirror penalty on an honest device (rounds 9–16 of attack-free runs) at 0.17 or less. A flipped
    /// update near the optimum is as small as the honest ones; one that pushes the model away makes the changes grow, and
    /// the rounds are judged again. 0 turns this off. Default 0.25.
    /// </summary>
    public double SettledBelow { get; set; } = 0.25;

    /// <summary>Outliers are judged only in rounds with at least this many accepted updates. Default 4.</summary>
    public int MinUpdatesToJudge { get; set; } = 4;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(InitialScore);
        ArgumentOutOfRangeException.ThrowIfNegative(Reward);
        ArgumentOutOfRangeException.ThrowIfNegative(OutlierPenalty);
        ArgumentOutOfRangeException.ThrowIfNegative(RefusalPenalty);
        ArgumentOutOfRangeException.ThrowIfNegative(MissedPenalty);
        ArgumentOutOfRangeException.ThrowIfNegative(QuarantineBelow);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(QuarantineBelow, InitialScore);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(OutlierZ);
        ArgumentOutOfRangeException.ThrowIfLessThan(MinUpdatesToJudge, 3);
        ArgumentOutOfRangeException.ThrowIfNegative(OpposingCosine);
        ArgumentOutOfRangeException.ThrowIfNegative(OpposingGroup);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutlierSeverity, 1.0);
        ArgumentOutOfRangeException.ThrowIfLessThan(MirrorMajority, 1.0);
        ArgumentOutOfRangeException.ThrowIfNegative(SettledBelow);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SettledBelow, 1.0);
        if (ByzantineCount is int f)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(f, nameof(ByzantineCount));
        }
    }
}
