namespace FedEdge.Transparency;

/// <summary>
/// The transparency-log port: an append-only RFC 9162 Merkle-tree log of what each round did (accepted updates with
/// their devices' signatures, refusals, the round record, reputation changes). Each append ends with a new tree head
/// signed by the log's key. <see cref="FileTransparencyLog"/> is the file-backed default.
/// </summary>
public interface ITransparencyLog
{
    /// <summary>The latest signed tree head, or null while the log is empty.</summary>
    SignedTreeHead? Head { get; }

    /// <summary>Appends <paramref name="entries"/> (in order) and signs the new tree head.</summary>
    ValueTask<SignedTreeHead> AppendAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>The leaf bytes of entries <paramref name="from"/> to <paramref name="to"/> − 1, as the log stores them.</summary>
    IReadOnlyList<ReadOnlyMemory<byte>> ReadEntries(long from, long to);

    /// <summary>The RFC 9162 inclusion proof of entry <paramref name="index"/> in the tree of the first <paramref name="size"/> entries.</summary>
    IReadOnlyList<byte[]> InclusionProof(long index, long size);

    /// <summary>The RFC 9162 consistency proof from the tree of <paramref name="first"/> entries to the tree of <paramref name="second"/>.</summary>
    IReadOnlyList<byte[]> ConsistencyProof(long first, long second);

    /// <summary>Stores the committee's co-signatures of <paramref name="head"/> beside it, so an auditor can check the quorum.</summary>
    ValueTask RecordCoSignaturesAsync(SignedTreeHead head, IReadOnlyList<CoSignature> coSignatures, CancellationToken cancellationToken = default);
}
