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
}
