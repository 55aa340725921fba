using FedEdge.Messaging;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Worker side: drops redundant copies of an update. Under load a receipt can take longer than the worker's re-send
/// delay, and every extra copy of a large update on the same connection only delays the first one further (a storm of
/// re-sends made the uploads of a 100-worker round several times its size). Two rules:
/// <list type="bullet">
/// <item>A re-send while the previous copy is still on its way (MQTT: no PUBACK yet; gRPC: the call has not finished)
/// waits for that copy.</item>
/// <item>After a copy left successfully, a re-send within twice the receipt latency this device last observed (first
/// copy sent → its receipt) is not sent again: the receipt is most likely still coming. Once that time has passed, or
/// when the receipt for this update already arrived (the worker did not get it, so the coordinator must answer again),
/// or when the copy failed, the re-send goes out. The end-to-end guarantee stays the receipt.</item>
/// </list>
/// Thread-safe.
/// </summary>
internal sealed class UpdateCoalescer(TimeProvider time)
{
    private static readonly TimeSpan MaxGrace = TimeSpan.FromSeconds(10);
    private readonly Lock _gate = new();
    private ModelUpdate? _update;
    private Task? _sending;
    private long _sentAt;
    private bool _receiptSeen;
    private TimeSpan? _receiptLatency;
    private long _coalesced;

    /// <summary>Number of re-sends that were not sent again.</summary>
    public long Coalesced => Interlocked.Read(ref _coalesced);

    /// <summary>Sends <paramref name="update"/> with <paramref name="send"/>, unless a copy of the same update makes it redundant.</summary>
    public ValueTask SendAsync(ModelUpdate update, Func<ModelUpdate, CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_update, update) && !_receiptSeen && _sending is { } previous)
            {
                if (!previous.IsCompleted)
                {
                    Interlocked.Increment(ref _coalesced);
                    return new ValueTask(previous.WaitAsync(cancellationToken));
                }

                if (previous.IsCompletedSuccessfully && _receiptLatency is { } latency && time.GetElapsedTime(_sentAt) < Min(latency * 2, MaxGrace))
                {
                    Interlocked.Increment(ref _coalesced);
                    return ValueTask.CompletedTask;
                }
            }

            if (!ReferenceEquals(_update, update))
            {
                _update = update;
                _sentAt = time.GetTimestamp();
                _receiptSeen = false;
            }

            Task sending = send(update, cancellationToken).AsTask();
            _sending = sending;
            return new ValueTask(sending);
        }
    }

    /// <summary>A receipt for round <paramref name="round"/> arrived: records the latency of the update of that round.</summary>
    public void OnReceipt(long round)
    {
        lock (_gate)
        {
            if (_update is { } update && update.Round == round && !_receiptSeen)
            {
                _receiptSeen = true;
                _receiptLatency = time.GetElapsedTime(_sentAt);
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
