using FedEdge.Messaging;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Worker side: a re-send of the update whose first copy is still on its way (MQTT: not yet acknowledged by the broker;
/// gRPC: the call has not finished) waits for that copy instead of queueing another one behind it. Under load a
/// receipt can take longer than the re-send delay, and every extra copy of a large update queued on the same connection
/// only delays the first one further. Once a copy has left, a re-send goes out again (the end-to-end guarantee stays
/// the receipt). Thread-safe.
/// </summary>
internal sealed class UpdateCoalescer
{
    private readonly Lock _gate = new();
    private ModelUpdate? _update;
    private Task? _sending;
    private long _coalesced;

    /// <summary>Number of re-sends that joined a copy still on its way.</summary>
    public long Coalesced => Interlocked.Read(ref _coalesced);

    /// <summary>Sends <paramref name="update"/> with <paramref name="send"/>, or waits for the copy of the same update still being sent.</summary>
    public ValueTask SendAsync(ModelUpdate update, Func<ModelUpdate, CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_update, update) && _sending is { IsCompleted: false } pending)
            {
                Interlocked.Increment(ref _coalesced);
                return new ValueTask(pending.WaitAsync(cancellationToken));
            }

            Task sending = send(update, cancellationToken).AsTask();
            _update = update;
            _sending = sending;
            return new ValueTask(sending);
        }
    }
}
