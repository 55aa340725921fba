namespace FedEdge.Privacy;

// The messages of secure aggregation (Bonawitz et al., CCS 2017; SecAgg+ of Bell et al., CCS 2020),
// one record per protocol step, so that any transport can carry them: encode with SecAggWireCodec.
// The flow of one round (coordinator = server, worker = client):
//   1. client -> server  SecAggAdvertiseKeys   (two ECDH P-256 public keys)
//   2. server -> clients SecAggRoster          (everyone's keys, indices, graph seed, quantisation)
//   3. client -> server  SecAggShareKeys       (AES-GCM encrypted Shamir shares for each neighbour)
//   4. server -> client  SecAggForwardedShares (the ciphertexts addressed to that client)
//   5. client -> server  SecAggMaskedInput     (quantised update + self mask + pairwise masks)
//   6. server -> clients SecAggUnmaskRequest   (who survived, who dropped)
//   7. client -> server  SecAggUnmaskResponse  (self-mask shares of survivors, key shares of the dropped)
//   any time: server -> clients SecAggAbort

/// <summary>The phases of a secure-aggregation round, in order.</summary>
public enum SecAggPhase
{
    /// <summary>Clients advertise their public keys.</summary>
    AdvertiseKeys = 0,

    /// <summary>Clients send encrypted shares of their secrets to their neighbours.</summary>
    ShareKeys = 1,

    /// <summary>Clients send their masked inputs.</summary>
    MaskedInput = 2,

    /// <summary>Clients reveal the shares the server needs to remove the masks.</summary>
    Unmasking = 3,

    /// <summary>The sum is known.</summary>
    Completed = 4,

    /// <summary>The round was aborted.</summary>
    Aborted = 5,
}

/// <summary>Why a secure-aggregation round was aborted.</summary>
public enum SecAggAbortReason
{
    /// <summary>Fewer clients than the minimum answered a phase before its deadline.</summary>
    TooFewClients = 0,

    /// <summary>Fewer than the threshold of shares arrived for a secret the server must reconstruct.</summary>
    InsufficientShares = 1,

    /// <summary>A party broke the protocol (inconsistent shares, wrong lengths, contradictory requests).</summary>
    ProtocolViolation = 2,

    /// <summary>The host cancelled the round.</summary>
    Cancelled = 3,
}

/// <summary>Which secret a revealed share belongs to.</summary>
public enum SecAggSecretKind
{
    /// <summary>The seed of a surviving client's self mask.</summary>
    SelfMaskSeed = 0,

    /// <summary>The masking private key of a client that dropped after sharing its keys.</summary>
    MaskingKey = 1,
}

/// <summary>The common part of every secure-aggregation message.</summary>
public abstract record SecAggMessage
{
    /// <summary>The training round.</summary>
    public required long Round { get; init; }

    /// <summary>The round's nonce; every message of the round carries it and it is bound into every key derivation.</summary>
    public required string Nonce { get; init; }
}

/// <summary>Step 1 (client → server): the client's two fresh ECDH P-256 public keys.</summary>
public sealed record SecAggAdvertiseKeys : SecAggMessage
{
    /// <summary>The client's device id.</summary>
    public required string SenderId { get; init; }

    /// <summary>The public key used to encrypt shares to this client (X.509 SubjectPublicKeyInfo, DER).</summary>
    public required byte[] EncryptionPublicKey { get; init; }

    /// <summary>The public key from which pairwise masks with this client are agreed (SubjectPublicKeyInfo, DER).</summary>
    public required byte[] MaskingPublicKey { get; init; }
}

/// <summary>One participant in a <see cref="SecAggRoster"/>.</summary>
public sealed record SecAggParticipant
{
    /// <summary>The client's device id.</summary>
    public required string ClientId { get; init; }

    /// <summary>The client's 1-based index (its Shamir x-coordinate and its place in the mask sign order).</summary>
    public required int Index { get; init; }

    /// <summary>The client's encryption public key (SubjectPublicKeyInfo, DER).</summary>
    public required byte[] EncryptionPublicKey { get; init; }

    /// <summary>The client's masking public key (SubjectPublicKeyInfo, DER).</summary>
    public required byte[] MaskingPublicKey { get; init; }
}

/// <summary>Step 2 (server → every client that advertised): the round's participants and parameters.</summary>
public sealed record SecAggRoster : SecAggMessage
{
    /// <summary>The participants, ordered by index 1..n.</summary>
    public required IReadOnlyList<SecAggParticipant> Participants { get; init; }

    /// <summary>Shamir threshold t: shares needed to reconstruct any client's secret.</summary>
    public required int Threshold { get; init; }

    /// <summary>The fewest clients a phase may continue with.</summary>
    public required int MinimumClients { get; init; }

    /// <summary>Each client's number of neighbours in the SecAgg+ graph (even); 0 means the complete graph (original SecAgg).</summary>
    public required int NeighbourCount { get; init; }

    /// <summary>The number of values in each client's input.</summary>
    public required int VectorLength { get; init; }

    /// <summary>Every input value is clipped to [−ClipRange, ClipRange] before quantisation.</summary>
    public required float ClipRange { get; init; }

    /// <summary>The fixed-point scale: a value x becomes round(x · Scale) modulo 2^32.</summary>
    public required double Scale { get; init; }

    /// <summary>32 random bytes from which every party derives the same neighbour graph.</summary>
    public required byte[] GraphSeed { get; init; }
}

/// <summary>One AES-GCM encrypted share bundle from one client to another.</summary>
public sealed record SecAggEncryptedShare
{
    /// <summary>The client that made the shares.</summary>
    public required string SenderId { get; init; }

    /// <summary>The client that holds them.</summary>
    public required string RecipientId { get; init; }

    /// <summary>nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).</summary>
    public required byte[] Ciphertext { get; init; }
}

/// <summary>Step 3 (client → server): encrypted shares of the client's self-mask seed and masking key, one per neighbour.</summary>
public sealed record SecAggShareKeys : SecAggMessage
{
    /// <summary>The client's device id.</summary>
    public required string SenderId { get; init; }

    /// <summary>One entry per neighbour.</summary>
    public required IReadOnlyList<SecAggEncryptedShare> Shares { get; init; }
}

/// <summary>Step 4 (server → client): the ciphertexts other clients addressed to this client.</summary>
public sealed record SecAggForwardedShares : SecAggMessage
{
    /// <summary>The client the shares are for.</summary>
    public required string RecipientId { get; init; }

    /// <summary>The ciphertexts from the neighbours that completed step 3.</summary>
    public required IReadOnlyList<SecAggEncryptedShare> Shares { get; init; }
}

/// <summary>Step 5 (client → server): the client's quantised input plus its masks, modulo 2^32.</summary>
public sealed record SecAggMaskedInput : SecAggMessage
{
    /// <summary>The client's device id.</summary>
    public required string SenderId { get; init; }

    /// <summary>The masked values (length <see cref="SecAggRoster.VectorLength"/>).</summary>
    public required uint[] MaskedValues { get; init; }
}

/// <summary>Step 6 (server → surviving clients): who sent a masked input and who dropped after sharing keys.</summary>
public sealed record SecAggUnmaskRequest : SecAggMessage
{
    /// <summary>Clients whose masked input arrived; their self-mask seeds are to be revealed.</summary>
    public required IReadOnlyList<string> Survivors { get; init; }

    /// <summary>Clients that shared keys but sent no masked input; their masking keys are to be revealed.</summary>
    public required IReadOnlyList<string> Dropped { get; init; }
}

/// <summary>One revealed Shamir share.</summary>
public sealed record SecAggRevealedShare
{
    /// <summary>The client whose secret this is a share of.</summary>
    public required string OwnerId { get; init; }

    /// <summary>Which of the owner's secrets.</summary>
    public required SecAggSecretKind Kind { get; init; }

    /// <summary>The share's x-coordinate (the holder's index).</summary>
    public required long X { get; init; }

    /// <summary>The share's field elements (GF(2^61 − 1)).</summary>
    public required ulong[] Values { get; init; }
}

/// <summary>Step 7 (client → server): the shares the server asked for.</summary>
public sealed record SecAggUnmaskResponse : SecAggMessage
{
    /// <summary>The client's device id.</summary>
    public required string SenderId { get; init; }

    /// <summary>The revealed shares.</summary>
    public required IReadOnlyList<SecAggRevealedShare> Shares { get; init; }
}

/// <summary>Server → clients: the round is aborted; clients discard its state.</summary>
public sealed record SecAggAbort : SecAggMessage
{
    /// <summary>The phase that failed.</summary>
    public required SecAggPhase Phase { get; init; }

    /// <summary>Why.</summary>
    public required SecAggAbortReason Reason { get; init; }

    /// <summary>A human-readable explanation with the counts involved.</summary>
    public required string Detail { get; init; }
}
