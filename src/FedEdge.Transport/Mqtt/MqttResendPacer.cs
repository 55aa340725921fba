using FedEdge.Messaging;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// Worker side: holds back a re-send of an update while the coordinator is evidently still working through the round's
/// uploads. Once the broker has acknowledged a QoS 1 copy, that copy waits in the coordinator's persistent session; a
/// further 400 KB copy sent now only queues behind it and every other device's update, which is what made a round's
/// receipts come later and later (the re-send storm). The hold is the receipt latency this worker last observed (its
/// first copy's PUBACK to the receipt, one round earlier) times <see cref="MqttWorkerOptions.ResendHoldFactor"/>, capped at
/// <see cref="MqttWorkerOptions.MaxResendHold"/>, counted from the last copy that left. There is no hold before the first
/// observation, for a different update, or after the connection was re-established since that copy left, so a lost
/// copy is still sent again, only later. Thread-safe.
/// </summary>
internal sealed class MqttResendPacer(TimeProvider time, double factor, TimeSpan maxHold)
{
    private readonly Lock _gate = new();
    private ModelUpdate? _update;
    private long _firstLeft;
    private long _lastLeft;
    private int _connection;
    private bool _receiptSeen;
    private TimeSpan? _latency;
    private long _held;

    /// <summary>Re-sends held back so far.</summary>
    public long HeldBack => Interlocked.Read(ref _held);

    /// <summary>The receipt latency last observed (null before the first receipt of an update this worker sent).</summary>
    public TimeSpan? ReceiptLatency
    {
        get
        {
            lock (_gate)
            {
                return _latency;
            }
        }
    }

    /// <summary>True when <paramref name="update"/> is a re-send that should not leave yet (and counts it).</summary>
    /// <param name="update">The update the worker asks to send.</param>
    /// <param name="connection">The connection's connect count now.</param>
    public bool ShouldHold(ModelUpdate update, int connection)
    {
        lock (_gate)
        {
            if (factor <= 0 || _latency is not { } latency || !ReferenceEquals(update, _update) || connection != _connection)
            {
                return false;
            }

            TimeSpan hold = latency * factor;
            if (hold > maxHold)
            {
                hold = maxHold;
            }

            if (time.GetElapsedTime(_lastLeft) >= hold)
            {
                return false;
            }

            _held++;
            return true;
        }
    }

    /// <summary>A copy of <paramref name="update"/> left (the broker acknowledged it) on connection <paramref name="connection"/>.</summary>
    public void OnLeft(ModelUpdate update, int connection)
    {
        lock (_gate)
        {
            long now = time.GetTimestamp();
            if (!ReferenceEquals(update, _update))
            {
                _update = update;
                _firstLeft = now;
                _receiptSeen = false;
            }

            _lastLeft = now;
            _connection = connection;
        }
    }

    /// <summary>A receipt for round <paramref name="round"/> arrived: the first one for the current update sets the latency.</summary>
    public void OnReceipt(long round)
    {
        lock (_gate)
        {
            if (_update is { } update && update.Round == round && !_receiptSeen)
            {
                _receiptSeen = true;
                _latency = time.GetElapsedTime(_firstLeft);
            }
        }
    }
}
