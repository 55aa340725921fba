using FedEdge.Aggregation;
using FedEdge.Audit;

namespace FedEdge.Checkpoints;

/// <summary>
/// Everything a coordinator needs to resume after a crash: the global parameters after the last
/// completed round, that round's number, the strategy's server-optimiser state, the temporal
/// window's carried-over requests, the stop rule's progress and the audit log's head.
/// </summary>
public sealed record CoordinatorCheckpoint
{
    /// <summary>The last completed round (0 = only the initial model).</summary>
    public required long Round { get; init; }

    /// <summary>The global parameters after <see cref="Round"/>.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary>The aggregation strategy's exported state, if it has any.</summary>
    public StrategyState? StrategyState { get; init; }

    /// <summary>Devices whose training requests were carried over to the next window (in arrival order).</summary>
    public IReadOnlyList<string> CarriedOver { get; init; } = [];

    /// <summary>
    /// The temporal window's exported state. <see cref="FileCheckpointStore"/> keeps the parts that outlive a
    /// restart (window sequence, the T in force and the adaptive rule's arrival history); requests are not
    /// restored because every device rejoins and asks again after a coordinator restart.
    /// </summary>
    public FedEdge.Selection.TemporalWindowState? Window { get; init; }

    /// <summary>The best value of the monitored metric so far (for the no-improvement stop rule).</summary>
    public double? BestMetric { get; init; }

    /// <summary>Rounds since the monitored metric last improved.</summary>
    public int RoundsWithoutImprovement { get; init; }

    /// <summary>
    /// The audit log's head (<see cref="Coordination.IRoundAuditLog.Head"/>) when the checkpoint was taken:
    /// <see cref="FileAuditLog.Verify(string, AuditLogHead?)"/> checks it to catch a log whose last entries were
    /// deleted, or that was rewritten with every hash recomputed. Null without an audit log, and in checkpoints
    /// written before the field existed.
    /// </summary>
    public AuditLogHead? AuditLog { get; init; }

    /// <summary>When the checkpoint was taken.</summary>
    public DateTimeOffset SavedAt { get; init; }
}

/// <summary>The checkpoint port: saves and loads a coordinator's <see cref="CoordinatorCheckpoint"/>.</summary>
public interface ICheckpointStore
{
    /// <summary>Persists <paramref name="checkpoint"/> atomically: after a crash at any moment either the old or the new checkpoint is loaded, never a mix.</summary>
    ValueTask SaveAsync(CoordinatorCheckpoint checkpoint, CancellationToken cancellationToken = default);

    /// <summary>Loads the latest checkpoint, or null when there is none.</summary>
    /// <exception cref="CheckpointException">The stored checkpoint is unreadable or fails its integrity check.</exception>
    ValueTask<CoordinatorCheckpoint?> LoadAsync(CancellationToken cancellationToken = default);
}

/// <summary>A checkpoint could not be read: corrupt, truncated, or from an incompatible version.</summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException()
        : base("The checkpoint could not be read.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public CheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public CheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
