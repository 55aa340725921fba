using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FedEdge.Transparency;

/// <summary>
/// The witness port: one member of the committee (MicroFL's validators, 3f + 1 of them) that checks a round's signed
/// tree head before the coordinator may publish the round's model. A witness co-signs only a head that is consistent
/// with the last head it co-signed and whose round it could recompute. <see cref="TreeHeadValidator"/> is the built-in
/// validator; a remote one (the <c>fededge validator</c> process) is reached through an implementation of this port.
/// </summary>
public interface ITreeHeadWitness
{
    /// <summary>The witness's name, as in the committee's configuration and in the log's co-signatures.</summary>
    string Id { get; }

    /// <summary>Checks <paramref name="request"/> and co-signs its head, or refuses it with a reason. A witness that is down throws or does not answer; the committee treats both as no co-signature.</summary>
    ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default);
}

/// <summary>What the coordinator sends a witness for one head.</summary>
public sealed record CoSignRequest
{
    /// <summary>The round the head closes.</summary>
    public required long Round { get; init; }

    /// <summary>The new tree head, signed by the log's key.</summary>
    public required SignedTreeHead Head { get; init; }

    /// <summary>The size of the last head the coordinator believes this witness co-signed (0 when none): the base of <see cref="ConsistencyProof"/> and the index of the first of <see cref="Entries"/>.</summary>
    public required long PreviousSize { get; init; }

    /// <summary>The RFC 9162 consistency proof from <see cref="PreviousSize"/> to the head's size.</summary>
    public required IReadOnlyList<byte[]> ConsistencyProof { get; init; }

    /// <summary>The leaf bytes of entries <see cref="PreviousSize"/> to the head's size − 1, in order.</summary>
    public required IReadOnlyList<ReadOnlyMemory<byte>> Entries { get; init; }

    /// <summary>One RFC 9162 inclusion proof per entry, against the head.</summary>
    public required IReadOnlyList<IReadOnlyList<byte[]>> InclusionProofs { get; init; }

    /// <summary>The global parameters the round started from (plaintext rounds).</summary>
    public ParameterSet? PreviousGlobal { get; init; }

    /// <summary>The accepted updates as the strategy folded them, in order (plaintext rounds); null when the protocol revealed no individual update (secure aggregation).</summary>
    public IReadOnlyList<ModelUpdate>? Updates { get; init; }

    /// <summary>The strategy's server-optimiser state before the round (stateful strategies); its hash is the round record's <c>state_before</c>.</summary>
    public Aggregation.StrategyState? PreviousStrategyState { get; init; }

    /// <summary>The unmasked sum of a secure-aggregation round (empty otherwise); its hash is the transcript entry's <c>sum</c>.</summary>
    public ReadOnlyMemory<float> SecureSum { get; init; }
}

/// <summary>What a committee's witnesses need to recompute a round, beyond the log's entries.</summary>
public sealed record RoundEvidence
{
    /// <summary>The global parameters the round started from (completed rounds).</summary>
    public ParameterSet? PreviousGlobal { get; init; }

    /// <summary>The updates as the strategy folded them, in order (completed plaintext rounds), or null.</summary>
    public IReadOnlyList<ModelUpdate>? Updates { get; init; }

    /// <summary>The strategy's server-optimiser state before the round (stateful strategies), or null.</summary>
    public Aggregation.StrategyState? PreviousStrategyState { get; init; }

    /// <summary>The unmasked sum (completed secure-aggregation rounds), or empty.</summary>
    public ReadOnlyMemory<float> SecureSum { get; init; }
}

/// <summary>A witness's answer: a co-signature, or a refusal with its reason.</summary>
public sealed record WitnessVerdict
{
    /// <summary>The co-signature, when the witness signed.</summary>
    public CoSignature? CoSignature { get; init; }

    /// <summary>Why the witness refused, when it did.</summary>
    public string? Refusal { get; init; }

    /// <summary>The size of the last head the witness co-signed, so a coordinator whose request started elsewhere can send a proof from there.</summary>
    public long? LastSignedSize { get; init; }

    /// <summary>A co-signature.</summary>
    public static WitnessVerdict Signed(CoSignature coSignature) => new() { CoSignature = coSignature ?? throw new ArgumentNullException(nameof(coSignature)) };

    /// <summary>A refusal.</summary>
    public static WitnessVerdict Refused(string reason, long? lastSignedSize = null) => new() { Refusal = reason, LastSignedSize = lastSignedSize };
}

/// <summary>A witness's ECDSA P-256 signature (IEEE P1363, SHA-256) over <see cref="Statement"/> of a tree head.</summary>
/// <param name="Witness">The witness's name.</param>
/// <param name="Signature">The signature.</param>
public sealed record CoSignature(string Witness, ReadOnlyMemory<byte> Signature)
{
    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("FEDEDGE-COSIGNED-HEAD-V1\0");

    /// <summary>The bytes a co-signature covers: a domain tag, then the head's size, time (Unix milliseconds) and root.</summary>
    public static byte[] Statement(SignedTreeHead head)
    {
        ArgumentNullException.ThrowIfNull(head);
        byte[] bytes = new byte[Domain.Length + 16 + head.RootHash.Length];
        Domain.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(Domain.Length), head.Size);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(Domain.Length + 8), head.Timestamp.ToUnixTimeMilliseconds());
        head.RootHash.Span.CopyTo(bytes.AsSpan(Domain.Length + 16));
        return bytes;
    }

    /// <summary>Co-signs <paramref name="head"/> as <paramref name="witness"/> with <paramref name="key"/>.</summary>
    public static CoSignature Sign(string witness, SignedTreeHead head, ECDsa key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(witness);
        ArgumentNullException.ThrowIfNull(key);
        return new CoSignature(witness, key.SignData(Statement(head), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    /// <summary>True when <see cref="Signature"/> is <paramref name="key"/>'s co-signature over <paramref name="head"/>.</summary>
    public bool Verify(SignedTreeHead head, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Signature.Length == 64 && key.VerifyData(Statement(head), Signature.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
