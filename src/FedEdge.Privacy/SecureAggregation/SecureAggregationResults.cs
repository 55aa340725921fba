namespace FedEdge.Privacy.SecureAggregation;

/// <summary>Thrown when secure aggregation cannot go on: the round aborted, or the other side broke the protocol.</summary>
public sealed class SecureAggregationException : Exception
{
    /// <summary>Creates an exception with no details.</summary>
    public SecureAggregationException()
        : this(SecAggPhase.AdvertiseKeys, SecAggAbortReason.ProtocolViolation, "Secure aggregation failed.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public SecureAggregationException(string message)
        : this(SecAggPhase.AdvertiseKeys, SecAggAbortReason.ProtocolViolation, message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    public SecureAggregationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = SecAggAbortReason.ProtocolViolation;
    }

    /// <summary>Creates an exception for a phase and reason.</summary>
    public SecureAggregationException(SecAggPhase phase, SecAggAbortReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Phase = phase;
        Reason = reason;
    }

    /// <summary>The phase that failed.</summary>
    public SecAggPhase Phase { get; }

    /// <summary>Why.</summary>
    public SecAggAbortReason Reason { get; }
}

/// <summary>The outcome of closing a server phase: the messages to send next, or the abort to broadcast.</summary>
/// <typeparam name="T">What the phase produces.</typeparam>
public sealed class SecAggPhaseResult<T>
    where T : class
{
    private SecAggPhaseResult(T? value, SecAggAbort? abort)
    {
        Value = value;
        Abort = abort;
    }

    /// <summary>True when the round aborted; send <see cref="Abort"/> to every client.</summary>
    public bool IsAborted => Abort is not null;

    /// <summary>The result when the phase succeeded.</summary>
    public T? Value { get; }

    /// <summary>The abort (also a message for the clients) when the round aborted.</summary>
    public SecAggAbort? Abort { get; }

    /// <summary>The value, or a <see cref="SecureAggregationException"/> carrying the abort reason.</summary>
    public T GetValueOrThrow() => Value ?? throw new SecureAggregationException(Abort!.Phase, Abort.Reason, Abort.Detail);

    internal static SecAggPhaseResult<T> Success(T value) => new(value, null);

    internal static SecAggPhaseResult<T> Aborted(SecAggAbort abort) => new(null, abort);
}

/// <summary>The unmasked sum of a secure-aggregation round.</summary>
public sealed record SecAggResult
{
    /// <summary>Σ clip(x_u) over <see cref="Contributors"/>, decoded to float32.</summary>
    public required float[] Sum { get; init; }

    /// <summary>The clients whose inputs are in the sum.</summary>
    public required IReadOnlyList<string> Contributors { get; init; }

    /// <summary>Clients that shared keys but dropped before sending input; their masks were removed using their reconstructed keys.</summary>
    public required IReadOnlyList<string> RecoveredDropouts { get; init; }

    /// <summary>The worst-case absolute error per coordinate from quantisation: |Sum − Σ clip(x_u)| ≤ this (plus float32 rounding of the sum).</summary>
    public required double QuantizationErrorBound { get; init; }
}
