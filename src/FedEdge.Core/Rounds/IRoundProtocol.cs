using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Messaging;

namespace FedEdge.Rounds;

/// <summary>
/// How one round's updates become one model, on the coordinator. <c>PlaintextRound</c> (Core, the default)
/// folds each device's update into the strategy as it arrives; FedEdge.Privacy's secure aggregation learns
/// only the sum of masked inputs sent over the transport's protocol channel. A host picks one by
/// registering it in DI (<c>services.AddSecureAggregation()</c>); the coordinator takes it through its constructor.
/// </summary>
public interface IRoundProtocol
{
    /// <summary>A short stable name for logs (e.g. <c>plaintext</c>, <c>secagg</c>).</summary>
    string Name { get; }

    /// <summary>
    /// True when the coordinator sees each device's update. False (secure aggregation) rules out aggregation
    /// strategies that need individual updates (median, Krum, ...): the coordinator refuses that combination at start.
    /// </summary>
    bool RevealsIndividualUpdates { get; }

    /// <summary>True when the protocol needs the transport's opaque protocol channel (<see cref="ICoordinatorTransport.SupportsProtocolMessages"/>).</summary>
    bool RequiresProtocolChannel { get; }

    /// <summary>Starts one round; called before the round tasks go out.</summary>
    IRoundSession Begin(RoundSessionContext context);
}

/// <summary>What a round protocol knows about the round it runs.</summary>
public sealed class RoundSessionContext
{
    /// <summary>The round number.</summary>
    public required long Round { get; init; }

    /// <summary>The round's nonce.</summary>
    public required string Nonce { get; init; }

    /// <summary>The global parameters the round starts from.</summary>
    public required ParameterSet GlobalParameters { get; init; }

    /// <summary>The devices selected for the round.</summary>
    public required IReadOnlyList<string> Selected { get; init; }

    /// <summary>The strategy's round: the protocol folds what it learns into it (individual updates, or one aggregate).</summary>
    public required IAggregationRound Aggregation { get; init; }

    /// <summary>Checks each plaintext update (round, nonce, layout, finite values, expected sender) before it is folded.</summary>
    public required UpdateValidator Validator { get; init; }

    /// <summary>When the round stops accepting contributions.</summary>
    public required DateTimeOffset Deadline { get; init; }

    /// <summary>Sends an opaque protocol payload to one device over the transport's protocol channel.</summary>
    public required Func<string, ReadOnlyMemory<byte>, CancellationToken, ValueTask> SendProtocolAsync { get; init; }

    /// <summary>The bounds each plaintext update must stay within.</summary>
    public UpdateBounds Bounds { get; init; } = new();

    /// <summary>The median L2 norm of the previous round's accepted updates' changes, or null (first round, or none known).</summary>
    public double? ReferenceDeltaNorm { get; init; }

    /// <summary>Cancelled when the round ends (deadline, coordinator stopping).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>When true, a protocol that sees individual updates records each accepted one (<see cref="RoundContribution.Accepted"/>) for the transparency log and reputation.</summary>
    internal bool RecordUpdates { get; init; }

    /// <summary>When true (reputation), each recorded update also keeps its change from the global model, to measure it against the aggregate.</summary>
    internal bool RecordDeltas { get; init; }

    /// <summary>When true (a committee recomputes the round), the protocol keeps each update as it was folded, in order.</summary>
    internal bool RecordFolded { get; init; }

    /// <summary>
    /// When true (a streaming strategy, whose running sum depends on the order it is fed), the protocol holds each
    /// accepted update and folds them all when the round finishes, in the order of their senders' ids: the aggregate is
    /// then the same bits whatever order the updates arrived in, and no update is folded under the lock that the
    /// coordinator's status and update handlers share. When false (a strategy that keeps every update and orders them
    /// itself, or a round whose updates would not fit the coordinator's budget for held updates), each accepted update is
    /// folded as it arrives, so the strategy can refuse one beyond its capacity and memory stays flat in the number of devices.
    /// </summary>
    internal bool FoldAtClose { get; init; }

    /// <summary>Each device's aggregation-weight factor in [0, 1] (reputation's punishment), or null for full weight.</summary>
    internal Func<string, double>? WeightOf { get; init; }
}

/// <summary>One round of a <see cref="IRoundProtocol"/> in progress. Every member is thread-safe and idempotent.</summary>
public interface IRoundSession : IAsyncDisposable
{
    /// <summary>Completes when every selected device has contributed or failed (or the protocol can make no more progress).</summary>
    Task Settled { get; }

    /// <summary>A plaintext update from a device. A re-sent copy of an accepted update is answered <see cref="RoundUpdateOutcome.AlreadyAccepted"/>.</summary>
    RoundUpdateVerdict OnUpdate(ModelUpdate update);

    /// <summary>An opaque protocol payload from <paramref name="deviceId"/>; returns null when taken, otherwise why it was refused.</summary>
    string? OnProtocol(string deviceId, ReadOnlyMemory<byte> payload);

    /// <summary>A selected device left the round (lost, offline, declined) before contributing; it counts as failed with <paramref name="reason"/>.</summary>
    void Leave(string deviceId, string reason);

    /// <summary>True while the round still waits for this selected device's contribution.</summary>
    bool IsAwaiting(string deviceId);

    /// <summary>Ends the round (called once, after <see cref="Settled"/> or the deadline): folds what it holds into the aggregation round and reports who contributed.</summary>
    ValueTask<RoundContribution> FinishAsync(CancellationToken cancellationToken = default);
}

/// <summary>What happened to a plaintext update.</summary>
public enum RoundUpdateOutcome
{
    /// <summary>Folded into the aggregate.</summary>
    Accepted = 0,

    /// <summary>A re-sent copy of an update already folded in: harmless, answered with an accepting receipt.</summary>
    AlreadyAccepted = 1,

    /// <summary>Refused; the sender stays in the round (e.g. a replay of another round).</summary>
    Refused = 2,

    /// <summary>Refused, and the sender's contribution to this round is void (unusable values).</summary>
    RefusedAndFailed = 3,
}

/// <summary>A round protocol's verdict on a plaintext update.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Reason">Why it was refused, when it was.</param>
public readonly record struct RoundUpdateVerdict(RoundUpdateOutcome Outcome, string? Reason = null)
{
    /// <summary>True when the sender should get an accepting receipt.</summary>
    public bool IsAccepted => Outcome is RoundUpdateOutcome.Accepted or RoundUpdateOutcome.AlreadyAccepted;
}

/// <summary>What a finished round session contributed.</summary>
public sealed record RoundContribution
{
    /// <summary>Devices whose updates are in the aggregate.</summary>
    public required IReadOnlyList<string> Contributors { get; init; }

    /// <summary>Selected devices that did not contribute, with the reason.</summary>
    public required IReadOnlyDictionary<string, string> Failed { get; init; }

    /// <summary>Updates refused during the round.</summary>
    public IReadOnlyList<RefusedUpdate> Refused { get; init; } = [];

    /// <summary>The sum of loss × weight the contributors reported.</summary>
    public double LossSum { get; init; }

    /// <summary>The weight behind <see cref="LossSum"/>.</summary>
    public double LossWeight { get; init; }

    /// <summary>The samples behind the contributions.</summary>
    public long SampleCount { get; init; }

    /// <summary>Why the protocol failed the whole round (e.g. secure aggregation aborted), or null.</summary>
    public string? FailureReason { get; init; }

    /// <summary>Devices that dropped after sharing keys and whose masks were removed (secure aggregation).</summary>
    public IReadOnlyList<string> RecoveredDropouts { get; init; } = [];

    /// <summary>The per-coordinate error bound of the aggregate (secure aggregation's quantisation), or null.</summary>
    public double? ErrorBound { get; init; }

    /// <summary>What a secure-aggregation round can show its committee (roster, threshold, the unmasked sum), or null.</summary>
    public SecureAggregationTranscript? Transcript { get; init; }

    /// <summary>The L2 norms of the accepted updates' changes (plaintext rounds); the next round's relative bound uses their median.</summary>
    public IReadOnlyList<double> DeltaNorms { get; init; } = [];

    /// <summary>Each accepted update's digest, sample count and change (when <see cref="RoundSessionContext.RecordUpdates"/>).</summary>
    internal IReadOnlyList<AcceptedUpdateRecord> Accepted { get; init; } = [];

    /// <summary>The devices in aggregate that each contributing edge aggregator reported with its update (plaintext rounds).</summary>
    internal IReadOnlyDictionary<string, Hierarchy.EdgeDeviceSummary> EdgeSummaries { get; init; } = new Dictionary<string, Hierarchy.EdgeDeviceSummary>();
    /// <summary>The updates as they were folded into the aggregate, in order (when <see cref="RoundSessionContext.RecordFolded"/>).</summary>
    internal IReadOnlyList<ModelUpdate> Folded { get; init; } = [];
}

/// <summary>An accepted update as the round saw it: its sender, digest (hex), sample count and change from the global model.</summary>
internal sealed record AcceptedUpdateRecord(string DeviceId, string Digest, long SampleCount, float[]? Delta);
