namespace FedEdge.Audit;

/// <summary>What <see cref="FileAuditLog.Verify(string, AuditLogHead?)"/> found wrong with a log.</summary>
public enum AuditFailure
{
    /// <summary>Nothing: the log checks out.</summary>
    None,

    /// <summary>An entry is unreadable, edited, removed, inserted or out of order: the hash chain breaks at <see cref="AuditVerification.BrokenLine"/>.</summary>
    BrokenChain,

    /// <summary>The chain is intact but the log holds fewer entries than the checkpoint recorded: its last entries were deleted.</summary>
    Truncated,

    /// <summary>The chain is intact but the entry the checkpoint recorded has another hash: the log was rewritten and re-chained.</summary>
    Rewritten,
}

/// <summary>The outcome of <see cref="FileAuditLog.Verify(string, AuditLogHead?)"/>.</summary>
/// <param name="IsValid">True when the whole chain checks out (and matches the checkpoint's head, when one was given).</param>
/// <param name="Entries">Entries whose chain was verified: all of them unless the chain broke (<see cref="AuditFailure.BrokenChain"/>).</param>
/// <param name="LastHash">The hash of the last verified entry, or null for an empty log.</param>
/// <param name="BrokenLine">
/// The 1-based line of the first problem, when invalid: the broken line; for <see cref="AuditFailure.Truncated"/> the
/// first missing line; for <see cref="AuditFailure.Rewritten"/> the line the checkpoint recorded (null when it recorded an empty log).
/// </param>
/// <param name="Problem">What is wrong with it.</param>
/// <param name="Failure">The kind of problem; <see cref="AuditFailure.None"/> when valid.</param>
public sealed record AuditVerification(bool IsValid, long Entries, string? LastHash, int? BrokenLine, string? Problem, AuditFailure Failure = AuditFailure.None)
{
    /// <summary>The head of the verified entries (the whole log when <see cref="IsValid"/>).</summary>
    public AuditLogHead Head => new(Entries, LastHash ?? FileAuditLog.GenesisHash);
}
