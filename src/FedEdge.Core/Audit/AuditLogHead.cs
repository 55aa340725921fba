namespace FedEdge.Audit;

/// <summary>
/// Where an audit log stood at one moment: how many entries it held and the hash of the last one.
/// A checkpoint records it so that <see cref="FileAuditLog.Verify(string, AuditLogHead?)"/> can tell a log
/// that lost its last entries, or was rewritten with every hash recomputed, from the one that was written.
/// </summary>
public sealed record AuditLogHead
{
    /// <summary>Creates a head.</summary>
    /// <param name="entries">The number of entries (lines) in the log.</param>
    /// <param name="headHash">The hash of entry <paramref name="entries"/>, or <see cref="FileAuditLog.GenesisHash"/> when the log is empty.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="entries"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="headHash"/> is null, empty or white space.</exception>
    public AuditLogHead(long entries, string headHash)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(entries);
        ArgumentException.ThrowIfNullOrWhiteSpace(headHash);
        Entries = entries;
        HeadHash = headHash;
    }

    /// <summary>The number of entries (lines) in the log.</summary>
    public long Entries { get; }

    /// <summary>The hash of the last entry, or <see cref="FileAuditLog.GenesisHash"/> when the log is empty.</summary>
    public string HeadHash { get; }

    /// <summary>The head of an empty log.</summary>
    public static AuditLogHead Empty { get; } = new(0, FileAuditLog.GenesisHash);
}
