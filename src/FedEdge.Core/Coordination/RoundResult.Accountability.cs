using FedEdge.Reputation;
using FedEdge.Transparency;

namespace FedEdge.Coordination;

/// <content>What a round adds to accountability: the accepted updates' digests, the signed tree head, reputation changes.</content>
public sealed partial record RoundResult
{
    /// <summary>The accepted updates (digest, sample count, distance from the aggregate), recorded when a transparency log or reputation policy is configured and the protocol reveals updates.</summary>
    public IReadOnlyList<AcceptedUpdate> Updates { get; init; } = [];

    /// <summary>The transparency log's signed tree head after this round's entries, when a log is configured.</summary>
    public SignedTreeHead? LedgerHead { get; init; }

    /// <summary>The committee's co-signatures of <see cref="LedgerHead"/> and each witness's answer, when a committee is configured.</summary>
    public CommitteeResult? Committee { get; init; }

    /// <summary>The updates as the strategy folded them (for the committee's recomputation); not kept beyond the round.</summary>
    internal IReadOnlyList<ModelUpdate> FoldedUpdates { get; init; } = [];

    /// <summary>The secure-aggregation transcript (for the transparency log and the committee); not kept beyond the round.</summary>
    internal Rounds.SecureAggregationTranscript? Transcript { get; init; }

    /// <summary>The reputation changes this round caused, when a reputation policy is configured.</summary>
    public IReadOnlyList<ReputationChange> ReputationChanges { get; init; } = [];

    /// <summary>
    /// The f the strategy ran this round with (Krum, Multi-Krum, Bulyan): the configured f, or lower once reputation has
    /// quarantined devices and the rule's bound on n no longer holds for it (<see cref="Aggregation.AggregationRoundOptions.QuarantinedDevices"/>).
    /// Null for a strategy without f or a round that did not complete.
    /// </summary>
    public int? ByzantineCount { get; init; }

    /// <summary>Every known device's reputation score after this round, when a reputation policy is configured.</summary>
    public IReadOnlyDictionary<string, double> ReputationScores { get; init; } = new Dictionary<string, double>();
}

/// <summary>An accepted update as the transparency log and reputation see it.</summary>
/// <param name="DeviceId">The sender.</param>
/// <param name="Digest">Lower-case hex SHA-256 of the update's canonical bytes (what a device signature signs).</param>
/// <param name="SampleCount">The sample count the update claimed.</param>
public sealed record AcceptedUpdate(string DeviceId, string Digest, long SampleCount)
{
    /// <summary>The cosine distance (1 − cosine similarity) of the update's change from the aggregate's change; null when unknown.</summary>
    public double? CosineDistance { get; init; }

    /// <summary>The L2 norm of the update's change divided by the median norm of the accepted changes that agree with it (cosine similarity ≥ 0.5, itself included); null when unknown.</summary>
    public double? NormRatio { get; init; }

    /// <summary>The highest cosine similarity of the update's change with another accepted update's change (does any other device agree with it?); null when unknown.</summary>
    public double? PeerSimilarity { get; init; }

    /// <summary>
    /// How many other accepted updates' changes have a cosine similarity of at least <see cref="CloseAgreement"/> with this
    /// one's: the size of the group that moves the model the same way. Null when unknown.
    /// </summary>
    public int? ClosePeers { get; init; }

    /// <summary>
    /// How many other accepted updates' changes have a cosine similarity of at most −<see cref="CloseAgreement"/> with this
    /// one's: updates that move the model exactly the other way. Sign flipping sends the mirror image of what a device of
    /// the same kind would send, so a flipped update has the honest devices of its kind as mirror peers. Null when unknown.
    /// </summary>
    public int? MirrorPeers { get; init; }

    /// <summary>The L2 norm of the update's change from the round's global model; null when unknown.</summary>
    public double? DeltaNorm { get; init; }

    /// <summary>The cosine similarity at which <see cref="ClosePeers"/> counts another update as moving the model the same way (0.9).</summary>
    public const double CloseAgreement = 0.9;
}
