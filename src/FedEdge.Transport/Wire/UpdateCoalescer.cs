using FedEdge.Messaging;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Worker side: a re-send of the update whose previous copy is still on its way (MQTT: not yet acknowledged by the
/// broker; gRPC: the call has not finished) waits for that copy instead of queueing another one behind it. Under load a
/// receipt can take longer than the re-send delay, and every extra copy of a large update queued on the same connection
/// only delays the first one further. Once a copy has left (or failed), a re-send goes out again: the end-to-end
/// guarantee stays the receipt. Thread-safe.
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
    public async ValueTask SendAsync(ModelUpdate update, Func<ModelUpdate, CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        Task? pending = null;
        lock (_gate)
        {
            if (ReferenceEquals(_update, update) && _sending is { IsCompleted: false } inFlight)
            {
                pending = inFlight;
            }
        }

        if (pending is not null)
        {
            Interlocked.Increment(ref _coalesced);
            await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        // Started outside the lock: the send runs transport code that must never wait on this gate.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _update = update;
            _sending = started.Task;
        }

        try
        {
            await send(update, cancellationToken).ConfigureAwait(false);
            started.TrySetResult();
        }
        catch (Exception ex)
        {
            started.TrySetException(ex);
            _ = started.Task.Exception; // observed here; a waiting re-send sees it too
            throw;
        }
    }
}
