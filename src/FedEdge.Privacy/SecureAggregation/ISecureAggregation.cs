namespace FedEdge.Privacy;

// Ports through which the coordinator and worker engines (in Core) drive secure aggregation without
// knowing its implementation (FedEdge.Privacy registers one with services.AddSecureAggregation()).
//
// Coordinator, per round:
//   var round = coordinator.BeginRound(roundNumber, nonce, vectorLength, selectedClients);
//   transport inbound SecAgg payloads -> round.Receive(SecAggWireCodec.Decode(bytes))
//   SecureSum sum = await round.RunAsync((id, msg, ct) => send SecAggWireCodec.Encode(msg) to id, ct);
// Worker, per round:
//   using var me = worker.BeginRound(deviceId, roundNumber, nonce);
//   send me.AdvertiseKeys(); then for every inbound message: reply = me.Respond(msg, update); send reply if not null.

/// <summary>Sends a secure-aggregation message to one client over whatever transport the host uses.</summary>
/// <param name="clientId">The recipient.</param>
/// <param name="message">The message (encode it with <see cref="SecAggWireCodec"/> for byte transports).</param>
/// <param name="cancellationToken">Cancels the send.</param>
public delegate ValueTask SecAggSendAsync(string clientId, SecAggMessage message, CancellationToken cancellationToken);

/// <summary>What happened to a message the server received.</summary>
public enum SecAggReceiveStatus
{
    /// <summary>Taken into the round.</summary>
    Accepted = 0,

    /// <summary>The message belongs to another phase than the current one.</summary>
    WrongPhase = 1,

    /// <summary>Round number or nonce differ from this round's.</summary>
    WrongRound = 2,

    /// <summary>The sender is not (or no longer) a participant of this phase.</summary>
    UnknownSender = 3,

    /// <summary>The sender already sent this phase's message.</summary>
    Duplicate = 4,

    /// <summary>The phase's deadline has passed.</summary>
    Late = 5,

    /// <summary>The message is malformed (lengths, indices, keys).</summary>
    Invalid = 6,
}

/// <summary>The server's verdict on one inbound message.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Reason">Why, when it was not accepted.</param>
public readonly record struct SecAggReceiveResult(SecAggReceiveStatus Status, string? Reason = null)
{
    /// <summary>True when accepted.</summary>
    public bool Accepted => Status == SecAggReceiveStatus.Accepted;
}

/// <summary>The coordinator side of secure aggregation: one server round per training round.</summary>
public interface ISecureAggregationCoordinator
{
    /// <summary>Starts a round; its advertise-keys phase (and deadline) begins now.</summary>
    /// <param name="round">The training round.</param>
    /// <param name="nonce">The round's nonce.</param>
    /// <param name="vectorLength">Values per client update (the parameter count, plus any extra slots such as a sample count).</param>
    /// <param name="clients">The selected clients.</param>
    ISecureAggregationServerRound BeginRound(long round, string nonce, int vectorLength, IReadOnlyCollection<string> clients);
}

/// <summary>One secure-aggregation round on the coordinator.</summary>
public interface ISecureAggregationServerRound
{
    /// <summary>The current phase.</summary>
    SecAggPhase Phase { get; }

    /// <summary>Feeds an inbound client message (thread-safe).</summary>
    SecAggReceiveResult Receive(SecAggMessage message);

    /// <summary>Runs the phases to the end, sending each phase's messages through <paramref name="send"/>; never waits past a phase deadline.</summary>
    Task<SecureSum> RunAsync(SecAggSendAsync send, CancellationToken cancellationToken = default);
}

/// <summary>The worker side of secure aggregation.</summary>
public interface ISecureAggregationWorker
{
    /// <summary>Starts this device's part in a round, with fresh keys.</summary>
    ISecureAggregationClientRound BeginRound(string clientId, long round, string nonce);
}

/// <summary>One device's part in one secure-aggregation round.</summary>
public interface ISecureAggregationClientRound : IDisposable
{
    /// <summary>The phase whose message the device produces next.</summary>
    SecAggPhase Phase { get; }

    /// <summary>The first message: the device's public keys.</summary>
    SecAggAdvertiseKeys AdvertiseKeys();

    /// <summary>Answers a coordinator message (roster, forwarded shares, unmask request); returns null for an abort.</summary>
    /// <param name="message">The inbound message.</param>
    /// <param name="update">The update to aggregate (used when the forwarded shares arrive), already clipped and noised.</param>
    SecAggMessage? Respond(SecAggMessage message, ReadOnlySpan<float> update);
}

/// <summary>The outcome of a secure-aggregation round.</summary>
public sealed record SecureSum
{
    /// <summary>The sum of the contributors' clipped inputs, or null when the round aborted.</summary>
    public float[]? Sum { get; init; }

    /// <summary>The clients whose inputs are in the sum.</summary>
    public IReadOnlyList<string> Contributors { get; init; } = [];

    /// <summary>Clients that dropped after sharing keys and whose masks were removed.</summary>
    public IReadOnlyList<string> RecoveredDropouts { get; init; } = [];

    /// <summary>The clients that advertised keys and received the round's roster.</summary>
    public IReadOnlyList<string> Roster { get; init; } = [];

    /// <summary>The secret-sharing threshold the roster announced.</summary>
    public int Threshold { get; init; }

    /// <summary>The per-coordinate quantisation error bound of <see cref="Sum"/> (before float32 rounding).</summary>
    public double ErrorBound { get; init; }

    /// <summary>Why the round aborted, or null.</summary>
    public SecAggAbort? Abort { get; init; }

    /// <summary>True when the sum is available.</summary>
    public bool Succeeded => Abort is null && Sum is not null;
}
