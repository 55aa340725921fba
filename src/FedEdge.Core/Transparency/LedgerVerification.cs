namespace FedEdge.Transparency;

/// <summary>What a ledger verification found wrong first.</summary>
public enum LedgerFailure
{
    /// <summary>Nothing: the log verified.</summary>
    None = 0,

    /// <summary>A file is missing or unreadable, or a line is not an entry, receipt or head.</summary>
    Malformed,

    /// <summary>A signed head covers more entries than the log holds: its tail was cut off.</summary>
    Truncated,

    /// <summary>An entry's bytes differ from the ones the log key signed (its receipt does not verify): the entry was rewritten.</summary>
    Rewritten,

    /// <summary>An entry sits at another index than the one it was written at: an entry before it was removed or reordered.</summary>
    MissingEntry,

    /// <summary>A tree head's signature does not verify with the log key.</summary>
    ForgedHeadSignature,

    /// <summary>A device's signature over its update digest does not verify, or its certificate is not the federation's.</summary>
    ForgedDeviceSignature,

    /// <summary>An entry is not in the tree its signed head commits to (the inclusion proof fails).</summary>
    NotInHead,

    /// <summary>A signed head does not extend the previous one (the consistency proof fails, or it shrinks).</summary>
    Inconsistent,

    /// <summary>Entries no signed head covers.</summary>
    Unsigned,

    /// <summary>A signed head lacks the committee's quorum of valid co-signatures (too few, or forged ones).</summary>
    NoQuorum,
}

/// <summary>The outcome of <see cref="LedgerVerifier.Verify"/>.</summary>
public sealed record LedgerVerification
{
    /// <summary>True when every check passed.</summary>
    public bool IsValid => Failure == LedgerFailure.None;

    /// <summary>The first problem found, or <see cref="LedgerFailure.None"/>.</summary>
    public LedgerFailure Failure { get; init; }

    /// <summary>The problem in words, naming the entry or head.</summary>
    public string? Problem { get; init; }

    /// <summary>The index (from 0) of the first bad entry, when an entry is to blame.</summary>
    public long? FirstBadEntry { get; init; }

    /// <summary>The number (from 1) of the first bad signed head, when a head is to blame.</summary>
    public int? BadHead { get; init; }

    /// <summary>The entries read.</summary>
    public long Entries { get; init; }

    /// <summary>The signed heads read.</summary>
    public int Heads { get; init; }

    /// <summary>Entry receipts verified.</summary>
    public long ReceiptsChecked { get; init; }

    /// <summary>Head signatures verified.</summary>
    public int HeadSignaturesChecked { get; init; }

    /// <summary>Inclusion proofs verified (one per entry, against the first head that covers it).</summary>
    public long InclusionProofsChecked { get; init; }

    /// <summary>Consistency proofs verified (one per pair of successive heads).</summary>
    public int ConsistencyProofsChecked { get; init; }

    /// <summary>Device signatures verified.</summary>
    public long DeviceSignaturesChecked { get; init; }

    /// <summary>Committee co-signatures verified.</summary>
    public int CoSignaturesChecked { get; init; }

    /// <summary>Device certificates checked against the federation CA.</summary>
    public long CertificatesChecked { get; init; }

    /// <summary>The last signed head, when one was read.</summary>
    public SignedTreeHead? LastHead { get; init; }
}
