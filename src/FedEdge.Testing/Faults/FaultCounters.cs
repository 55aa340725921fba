namespace FedEdge.Transport.Faults;

/// <summary>The kinds of message a fault decorator sees, for <see cref="FaultCounters.DroppedOf"/>.</summary>
public enum FaultMessageKind
{
    /// <summary>A join request or its response.</summary>
    Join,

    /// <summary>A device status.</summary>
    Status,

    /// <summary>A model update.</summary>
    Update,

    /// <summary>A round task.</summary>
    RoundTask,

    /// <summary>A receipt for an update.</summary>
    Receipt,

    /// <summary>A global model publication.</summary>
    GlobalModel,

    /// <summary>An opaque protocol payload (e.g. secure aggregation).</summary>
    Protocol,
}

/// <summary>Counts of injected faults; thread-safe.</summary>
/// <remarks>
/// A message counts once under at most one of <see cref="Dropped"/>, <see cref="Duplicated"/>, <see cref="Reordered"/>
/// and <see cref="Corrupted"/>, and also under <see cref="Delayed"/> when latency was added; <see cref="Passed"/> counts
/// the messages with no fault at all.
/// </remarks>
public sealed class FaultCounters
{
    private readonly long[] _droppedByKind = new long[Enum.GetValues<FaultMessageKind>().Length];
    private long _passed;
    private long _dropped;
    private long _duplicated;
    private long _delayed;
    private long _reordered;
    private long _corrupted;

    /// <summary>Messages passed without a fault.</summary>
    public long Passed => Interlocked.Read(ref _passed);

    /// <summary>Messages dropped.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Messages duplicated.</summary>
    public long Duplicated => Interlocked.Read(ref _duplicated);

    /// <summary>Messages given latency (see <see cref="FaultOptions.DelayRate"/>).</summary>
    public long Delayed => Interlocked.Read(ref _delayed);

    /// <summary>Messages held back behind later ones.</summary>
    public long Reordered => Interlocked.Read(ref _reordered);

    /// <summary>Messages with a flipped byte.</summary>
    public long Corrupted => Interlocked.Read(ref _corrupted);

    /// <summary>Messages of one kind dropped (join requests and responses count under <see cref="FaultMessageKind.Join"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined kind.</exception>
    public long DroppedOf(FaultMessageKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative((int)kind, nameof(kind));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((int)kind, _droppedByKind.Length, nameof(kind));
        return Interlocked.Read(ref _droppedByKind[(int)kind]);
    }

    internal void Count(FaultDraw draw, FaultMessageKind kind)
    {
        switch (draw.Fault)
        {
            case Fault.Drop:
                Interlocked.Increment(ref _dropped);
                Interlocked.Increment(ref _droppedByKind[(int)kind]);
                return;
            case Fault.Duplicate: Interlocked.Increment(ref _duplicated); break;
            case Fault.Reorder: Interlocked.Increment(ref _reordered); return;
            case Fault.Corrupt: Interlocked.Increment(ref _corrupted); break;
            default:
                if (!draw.Delayed)
                {
                    Interlocked.Increment(ref _passed);
                }

                break;
        }

        if (draw.Delayed)
        {
            Interlocked.Increment(ref _delayed);
        }
    }
}
