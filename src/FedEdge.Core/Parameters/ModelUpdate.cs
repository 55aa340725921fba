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
/// <remarks>
/// A transport hands the coordinator an update whose values are still encoded (see the constructor taking a decoder):
/// the coordinator checks who sent it, its signature over the encoded bytes and its claimed <see cref="Layout"/> before
/// <see cref="Values"/> is first read and decodes them, so a device cannot make it allocate for an update it refuses.
/// </remarks>
public sealed record ModelUpdate
{
    private readonly ParameterLayout? _claimedLayout;
    private readonly EncodedValues? _wire;
    private readonly Func<ParameterLayout, ReadOnlyMemory<byte>, ParameterSet>? _decode;
    private ParameterSet? _values;

    /// <summary>Creates an update; set its members with an object initializer.</summary>
    public ModelUpdate()
    {
    }

    /// <summary>
    /// Creates an update whose values stay encoded until <see cref="Values"/> is first read, when
    /// <paramref name="decode"/> turns <paramref name="wire"/>'s bytes into parameters of <paramref name="layout"/>.
    /// </summary>
    /// <param name="senderId">The sender's device id.</param>
    /// <param name="round">The round the update answers.</param>
    /// <param name="nonce">The round's nonce.</param>
    /// <param name="sampleCount">The aggregation weight the update claims.</param>
    /// <param name="layout">The layout the sender claims; nothing is allocated for it until the values are decoded.</param>
    /// <param name="wire">The codec's name and the bytes as they travelled. For any codec but <c>f32</c> they become <see cref="Encoded"/>; <c>f32</c> bytes are the canonical little-endian values themselves.</param>
    /// <param name="decode">Decodes the bytes for the layout; throws <see cref="FormatException"/> (or <see cref="ArgumentException"/>) when they cannot be.</param>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
#pragma warning disable CS8618 // Values is decoded on first read, from the wire bytes and the decoder set here.
    public ModelUpdate(string senderId, long round, string nonce, long sampleCount, ParameterLayout layout, EncodedValues wire, Func<ParameterLayout, ReadOnlyMemory<byte>, ParameterSet> decode)
    {
        ArgumentNullException.ThrowIfNull(senderId);
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(wire);
        ArgumentNullException.ThrowIfNull(decode);
        SenderId = senderId;
        Round = round;
        Nonce = nonce;
        SampleCount = sampleCount;
        _claimedLayout = layout;
        _wire = wire;
        _decode = decode;
        Encoded = string.Equals(wire.Codec, Messaging.UpdateCodecSpec.Float32, StringComparison.Ordinal) ? null : wire;
    }
#pragma warning restore CS8618

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

    /// <summary>The parameters or delta (decoded on first read when the update was created with a decoder).</summary>
    /// <exception cref="FormatException">The encoded values cannot be decoded for the claimed layout.</exception>
    public required ParameterSet Values
    {
        get => _values ?? (_decode is null ? null! : DecodeOnce());
        init => _values = value;
    }

    /// <summary>The layout of <see cref="Values"/>: for an update not decoded yet, the layout its sender claims (reading it decodes nothing).</summary>
    public ParameterLayout Layout => _values?.Layout ?? _claimedLayout!;

    /// <summary>False while the values of an update created with a decoder are still encoded.</summary>
    public bool IsDecoded => _decode is null || _values is not null;

    /// <summary>The length of the encoded bytes of an update created with a decoder; 0 otherwise.</summary>
    internal long WireLength => _wire?.Data.Length ?? 0;

    /// <summary>
    /// The float32 values as they travelled (little-endian), while they are not decoded yet; empty otherwise. They are
    /// the canonical bytes a V1 signature covers, so it can be verified before anything is decoded.
    /// </summary>
    internal ReadOnlyMemory<byte> PendingFloat32 =>
        _values is null && _wire is { } wire && string.Equals(wire.Codec, Messaging.UpdateCodecSpec.Float32, StringComparison.Ordinal) ? wire.Data : ReadOnlyMemory<byte>.Empty;

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

    /// <summary>The deferred decode, once: concurrent readers may both decode, one result is kept.</summary>
    private ParameterSet DecodeOnce()
    {
        ParameterSet decoded = _decode!(_claimedLayout!, _wire!.Data);
        if (decoded.Layout.DescribeMismatch(_claimedLayout!) is { } mismatch)
        {
            throw new FormatException($"The decoder produced values of another layout than the update claims: {mismatch}.");
        }

        return Interlocked.CompareExchange(ref _values, decoded, null) ?? decoded;
    }
}

/// <summary>An update's values as they travel: the codec's name and the bytes it produced.</summary>
/// <param name="Codec">The codec's wire name (<c>f32</c>, <c>f16</c>, <c>int8</c>, <c>topk</c>, <c>sparse-f16</c>).</param>
/// <param name="Data">The encoded bytes.</param>
public sealed record EncodedValues(string Codec, ReadOnlyMemory<byte> Data);
