using FedEdge.Audit;

namespace FedEdge.Coordination;

/// <summary>The audit port: an append-only record of completed rounds.</summary>
public interface IRoundAuditLog
{
    /// <summary>Appends one completed round.</summary>
    ValueTask AppendAsync(RoundResult result, CancellationToken cancellationToken = default);

    /// <summary>
    /// The log's head after the last append, recorded in checkpoints
    /// (<see cref="Checkpoints.CoordinatorCheckpoint.AuditLog"/>); null when the log cannot tell.
    /// </summary>
    AuditLogHead? Head => null;
}
