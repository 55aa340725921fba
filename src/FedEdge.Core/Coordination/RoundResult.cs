namespace FedEdge.Coordination;

/// <summary>What happened in one round.</summary>
public sealed partial record RoundResult
{
    /// <summary>The round number.</summary>
    public required long Round { get; init; }

    /// <summary>True when the round produced a new global model; false when it failed (no quorum, too many failures).</summary>
    public required bool Completed { get; init; }

    /// <summary>Why the round failed, when it did.</summary>
    public string? FailureReason { get; init; }

    /// <summary>Devices the round task went to.</summary>
    public IReadOnlyList<string> Selected { get; init; } = [];

    /// <summary>Devices whose updates were folded into the aggregate.</summary>
    public IReadOnlyList<string> Contributors { get; init; } = [];

    /// <summary>Selected devices that sent no usable update (offline, declined, crashed, timed out), with the reason.</summary>
    public IReadOnlyList<RefusedUpdate> Failed { get; init; } = [];

    /// <summary>Updates refused by validation during the round (late, replayed, duplicate, malformed).</summary>
    public IReadOnlyList<RefusedUpdate> Refused { get; init; } = [];

    /// <summary>The verified signatures of the contributors' updates (when the federation uses certificates).</summary>
    public IReadOnlyList<SignedUpdate> Signatures { get; init; } = [];

    /// <summary>How many times a round task was sent again because no acknowledgement came in time (lossy networks).</summary>
    public int TaskResends { get; init; }

    /// <summary>The number of updates aggregated.</summary>
    public int Participants => Contributors.Count;

    /// <summary>The sample-weighted mean of the training loss the contributors reported; null when none reported one.</summary>
    public double? TrainingLoss { get; init; }

    /// <summary>The samples behind the aggregated updates (the sum of their weights).</summary>
    public long SampleCount { get; init; }

    /// <summary>The global model's evaluation metrics after the round (from the configured evaluator).</summary>
    public IReadOnlyDictionary<string, double> Evaluation { get; init; } = new Dictionary<string, double>();

    /// <summary>Wall time from window open to checkpoint.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Bytes received by the coordinator during the round (updates, statuses).</summary>
    public long BytesUp { get; init; }

    /// <summary>Bytes sent by the coordinator during the round (tasks, receipts, the global model).</summary>
    public long BytesDown { get; init; }

    /// <summary>
    /// In a hierarchy: each contributing edge aggregator's devices in aggregate (count, states, temperatures, bytes), as
    /// the edge reported them with its update this round, keyed by the edge's id. Empty when no contributor is an edge.
    /// </summary>
    public IReadOnlyDictionary<string, FedEdge.Hierarchy.EdgeDeviceSummary> EdgeSummaries { get; init; } = new Dictionary<string, FedEdge.Hierarchy.EdgeDeviceSummary>();

    /// <summary>The global parameters after the round (unchanged when it failed).</summary>
    public required ParameterSet GlobalParameters { get; init; }

    /// <summary>The global parameters' hash.</summary>
    public required string GlobalHash { get; init; }

    /// <summary>True when a stop rule fired after this round (budget, target, patience).</summary>
    public bool IsLast { get; init; }

    /// <summary>Which stop rule fired, when <see cref="IsLast"/>.</summary>
    public string? StopReason { get; init; }
}

/// <summary>An update (or expected update) that did not make it into the aggregate, and why.</summary>
/// <param name="DeviceId">The sender or selected device.</param>
/// <param name="Round">The round the update claimed (or the round it was expected in).</param>
/// <param name="Reason">Why it was refused or missing.</param>
public sealed record RefusedUpdate(string DeviceId, long Round, string Reason);

/// <summary>An accepted update's verified signature, kept for the transparency log.</summary>
/// <param name="DeviceId">The device whose certificate verified the signature.</param>
/// <param name="Digest">The SHA-256 of the update's canonical bytes (see <see cref="Security.UpdateSigning"/>).</param>
/// <param name="Signature">The ECDSA P-256 signature (IEEE P1363, 64 bytes) over <paramref name="Digest"/>.</param>
public sealed record SignedUpdate(string DeviceId, ReadOnlyMemory<byte> Digest, ReadOnlyMemory<byte> Signature)
{
    /// <summary>The device certificate (DER) whose key verified the signature, so the transparency log can carry it to auditors.</summary>
    public ReadOnlyMemory<byte> Certificate { get; init; }
}

/// <summary>Evaluates a global model after each round (e.g. on a held-out split); its metrics feed the stop rules and the round results.</summary>
public interface IGlobalModelEvaluator
{
    /// <summary>Scores <paramref name="parameters"/>, the global model after round <paramref name="round"/>.</summary>
    ValueTask<IReadOnlyDictionary<string, double>> EvaluateAsync(ParameterSet parameters, long round, CancellationToken cancellationToken = default);
}
