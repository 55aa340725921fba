namespace FedEdge;

/// <summary>Whether a <see cref="ModelUpdate"/> carries full parameters or a difference from the round's global parameters.</summary>
public enum UpdateKind
{
    /// <summary>The worker's full trained parameters.</summary>
    Parameters = 0,

    /// <summary>Trained parameters minus the round's global parameters.</summary>
    Delta = 1,
}

/// <summary>One worker's contribution to one round.</summary>
public sealed record ModelUpdate
{
    /// <summary>The sender's device id (as admitted).</summary>
    public required string SenderId { get; init; }

    /// <summary>The round this update answers.</summary>
    public required long Round { get; init; }

    /// <summary>The round's nonce, copied from the round task; guards against replays.</summary>
    public required string Nonce { get; init; }

    /// <summary>The number of local samples the update was trained on (its aggregation weight).</summary>
    public required long SampleCount { get; init; }

    /// <summary>Whether <see cref="Values"/> are full parameters or a delta.</summary>
    public UpdateKind Kind { get; init; } = UpdateKind.Parameters;

    /// <summary>The parameters or delta.</summary>
    public required ParameterSet Values { get; init; }

    /// <summary>Training metrics reported by the worker (loss, seconds, peak memory, ...).</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// The sender's ECDSA P-256 signature over the SHA-256 of the update's canonical bytes (see
    /// <see cref="Security.UpdateSigning"/>), or empty when unsigned.
    /// </summary>
    public ReadOnlyMemory<byte> Signature { get; init; }

    /// <summary>
    /// The values as a codec encoded them for the wire, when one did: <see cref="Values"/> are then exactly what those
    /// bytes decode to, and the signature covers these bytes (what the device sent) rather than the float32 values.
    /// Null for float32 updates and updates that never left the process.
    /// </summary>
    public EncodedValues? Encoded { get; init; }
}

/// <summary>An update's values as they travel: the codec's name and the bytes it produced.</summary>
/// <param name="Codec">The codec's wire name (<c>f32</c>, <c>f16</c>, <c>int8</c>, <c>topk</c>, <c>sparse-f16</c>).</param>
/// <param name="Data">The encoded bytes.</param>
public sealed record EncodedValues(string Codec, ReadOnlyMemory<byte> Data);
