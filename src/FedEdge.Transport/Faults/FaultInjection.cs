using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Transport.Faults;

/// <summary>
/// What a fault-injecting transport decorator does to each message, in both directions (sends and deliveries).
/// Each fault is drawn independently per message from one seeded generator, so a run is reproducible.
/// Join requests and responses pass untouched (they are request/response and have their own timeout).
/// </summary>
public sealed class FaultOptions
{
    /// <summary>Probability that a message is lost.</summary>
    public double DropRate { get; set; }

    /// <summary>Probability that a message is delivered twice.</summary>
    public double DuplicateRate { get; set; }

    /// <summary>Probability that a message is delayed by a uniform time in [0, <see cref="MaxDelay"/>] (and so may be overtaken).</summary>
    public double DelayRate { get; set; }

    /// <summary>Probability that a message is held back until after later ones (delayed by <see cref="MaxDelay"/>).</summary>
    public double ReorderRate { get; set; }

    /// <summary>
    /// Probability that a message has one random byte of its serialized form flipped: a delivery that no longer
    /// decodes reaches <see cref="ICoordinatorHandler.OnMalformedAsync"/> as a <see cref="WireFormatException"/>;
    /// one that still decodes is delivered altered; a corrupted send that no longer decodes is lost.
    /// </summary>
    public double CorruptRate { get; set; }

    /// <summary>The longest injected delay.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The seed of the fault generator.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Counts of injected faults (shared by every decorator created with these options).</summary>
    public FaultCounters Counters { get; } = new();

    /// <summary>Throws when a rate is outside [0, 1] or the delay is negative.</summary>
    public void Validate()
    {
        foreach ((string name, double rate) in new[] { (nameof(DropRate), DropRate), (nameof(DuplicateRate), DuplicateRate), (nameof(DelayRate), DelayRate), (nameof(ReorderRate), ReorderRate), (nameof(CorruptRate), CorruptRate) })
        {
            if (!(rate >= 0 && rate <= 1))
            {
                throw new ArgumentOutOfRangeException(name, rate, "A fault rate must be in [0, 1].");
            }
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, TimeSpan.Zero, nameof(MaxDelay));
    }
}

/// <summary>Counts of injected faults; thread-safe.</summary>
public sealed class FaultCounters
{
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

    /// <summary>Messages delayed.</summary>
    public long Delayed => Interlocked.Read(ref _delayed);

    /// <summary>Messages held back behind later ones.</summary>
    public long Reordered => Interlocked.Read(ref _reordered);

    /// <summary>Messages with a flipped byte.</summary>
    public long Corrupted => Interlocked.Read(ref _corrupted);

    internal void Count(Fault fault)
    {
        switch (fault)
        {
            case Fault.Drop: Interlocked.Increment(ref _dropped); break;
            case Fault.Duplicate: Interlocked.Increment(ref _duplicated); break;
            case Fault.Delay: Interlocked.Increment(ref _delayed); break;
            case Fault.Reorder: Interlocked.Increment(ref _reordered); break;
            case Fault.Corrupt: Interlocked.Increment(ref _corrupted); break;
            default: Interlocked.Increment(ref _passed); break;
        }
    }
}

/// <summary>Decorators that inject seeded faults into any FedEdge transport (for reliability tests such as 50 % loss).</summary>
public static class FaultInjection
{
    /// <summary>Wraps a coordinator transport: faults apply to its sends and to what it delivers to the handler.</summary>
    public static ICoordinatorTransport WithFaults(this ICoordinatorTransport inner, FaultOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new FaultyCoordinatorTransport(inner, new FaultEngine(options, timeProvider ?? TimeProvider.System, logger ?? NullLogger.Instance));
    }

    /// <summary>Wraps a worker transport: faults apply to its sends and to what it delivers to the handler.</summary>
    public static IWorkerTransport WithFaults(this IWorkerTransport inner, FaultOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new FaultyWorkerTransport(inner, new FaultEngine(options, timeProvider ?? TimeProvider.System, logger ?? NullLogger.Instance));
    }
}

internal enum Fault
{
    None,
    Drop,
    Duplicate,
    Delay,
    Reorder,
    Corrupt,
}

/// <summary>Draws faults and applies them to one message's delivery action.</summary>
internal sealed class FaultEngine
{
    private readonly FaultOptions _options;
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly List<Task> _background = [];

    public FaultEngine(FaultOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _random = new Random(options.Seed);
        Time = time;
        Logger = logger;
    }

    public TimeProvider Time { get; }

    public ILogger Logger { get; }

    /// <summary>Runs <paramref name="deliver"/> zero, one or two times, now or later, with <paramref name="message"/> possibly corrupted.</summary>
    public async ValueTask ApplyAsync<T>(T message, Func<T, ValueTask> deliver, Func<WireFormatException, ValueTask>? onUndecodable, string source)
        where T : class
    {
        (Fault fault, double delayFraction, int flipAt, byte flipMask) = Draw();
        _options.Counters.Count(fault);
        switch (fault)
        {
            case Fault.Drop:
                return;
            case Fault.Duplicate:
                await deliver(message).ConfigureAwait(false);
                await deliver(message).ConfigureAwait(false);
                return;
            case Fault.Delay:
            case Fault.Reorder:
                TimeSpan delay = fault == Fault.Reorder ? _options.MaxDelay : _options.MaxDelay * delayFraction;
                Later(delay, () => deliver(message), source);
                return;
            case Fault.Corrupt:
                T? altered;
                try
                {
                    altered = Corrupt(message, flipAt, flipMask);
                }
                catch (WireFormatException ex)
                {
                    if (onUndecodable is not null)
                    {
                        await onUndecodable(ex).ConfigureAwait(false);
                    }

                    return;
                }

                if (altered is not null)
                {
                    await deliver(altered).ConfigureAwait(false);
                }

                return;
            default:
                await deliver(message).ConfigureAwait(false);
                return;
        }
    }

    public async ValueTask DrainAsync()
    {
        Task[] pending;
        lock (_gate)
        {
            pending = [.. _background];
        }

        await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static T? Corrupt<T>(T message, int flipAt, byte flipMask)
        where T : class
    {
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "fault", SenderId = SenderOf(message), Body = message });
        bytes[flipAt % bytes.Length] ^= flipMask;
        return WireSerializer.Deserialize(bytes).Body as T;
    }

    private static string SenderOf(object message) => message switch
    {
        ModelUpdate update => update.SenderId,
        DeviceStatus status => status.DeviceId,
        _ => string.Empty,
    };

    private (Fault, double, int, byte) Draw()
    {
        lock (_gate)
        {
            double roll = _random.NextDouble();
            double delayFraction = _random.NextDouble();
            int flipAt = _random.Next(int.MaxValue);
            byte mask = (byte)(1 << _random.Next(8));
            Fault fault = Fault.None;
            double edge = _options.DropRate;
            if (roll < edge)
            {
                fault = Fault.Drop;
            }
            else if (roll < (edge += _options.DuplicateRate))
            {
                fault = Fault.Duplicate;
            }
            else if (roll < (edge += _options.DelayRate))
            {
                fault = Fault.Delay;
            }
            else if (roll < (edge += _options.ReorderRate))
            {
                fault = Fault.Reorder;
            }
            else if (roll < edge + _options.CorruptRate)
            {
                fault = Fault.Corrupt;
            }

            return (fault, delayFraction, flipAt, mask);
        }
    }

    private void Later(TimeSpan delay, Func<ValueTask> action, string source)
    {
        // The timer starts now (not inside the task), so a fake clock advanced right after this call releases it.
        Task wait = Task.Delay(delay, Time);
        Task task = Task.Run(async () =>
        {
            try
            {
                await wait.ConfigureAwait(false);
                await action().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.HandlerFailed(Logger, source, ex);
            }
        });
        lock (_gate)
        {
            _background.RemoveAll(t => t.IsCompleted);
            _background.Add(task);
        }
    }
}

internal sealed class FaultyCoordinatorTransport(ICoordinatorTransport inner, FaultEngine faults) : ICoordinatorTransport
{
    public TransportStatistics Statistics => inner.Statistics;

    public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default) =>
        inner.StartAsync(new FaultyHandler(handler, faults), cancellationToken);

    public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(task, t => inner.SendTaskAsync(deviceId, t, cancellationToken), null, "send task");

    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(receipt, r => inner.SendReceiptAsync(deviceId, r, cancellationToken), null, "send receipt");

    public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(model, m => inner.PublishGlobalModelAsync(m, cancellationToken), null, "publish model");

    // Protocol payloads (secure aggregation) pass through unfaulted: the protocol has its own deadlines and dropout recovery.
    public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

    public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        inner.SendProtocolAsync(deviceId, payload, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await faults.DrainAsync().ConfigureAwait(false);
        await inner.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class FaultyHandler(ICoordinatorHandler handler, FaultEngine faults) : ICoordinatorHandler
    {
        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
            handler.OnJoinAsync(request, context, cancellationToken);

        public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) =>
            faults.ApplyAsync(status, s => handler.OnStatusAsync(s, context, cancellationToken), e => handler.OnMalformedAsync("fault:status", e, cancellationToken), "status");

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) =>
            faults.ApplyAsync(update, u => handler.OnUpdateAsync(u, context, cancellationToken), e => handler.OnMalformedAsync("fault:update", e, cancellationToken), "update");

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) =>
            handler.OnMalformedAsync(source, error, cancellationToken);

        public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) =>
            handler.OnProtocolAsync(deviceId, payload, context, cancellationToken);
    }
}

internal sealed class FaultyWorkerTransport(IWorkerTransport inner, FaultEngine faults) : IWorkerTransport
{
    public TransportStatistics Statistics => inner.Statistics;

    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default) =>
        inner.ConnectAsync(new FaultyHandler(handler, faults), cancellationToken);

    public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default) =>
        inner.JoinAsync(request, cancellationToken);

    public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(status, s => inner.PublishStatusAsync(s, cancellationToken), null, "publish status");

    public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(update, u => inner.SendUpdateAsync(u, cancellationToken), null, "send update");

    public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

    public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        inner.SendProtocolAsync(payload, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await faults.DrainAsync().ConfigureAwait(false);
        await inner.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class FaultyHandler(IWorkerHandler handler, FaultEngine faults) : IWorkerHandler
    {
        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) =>
            faults.ApplyAsync(task, t => handler.OnTaskAsync(t, cancellationToken), e => Report(e), "task");

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) =>
            faults.ApplyAsync(model, m => handler.OnGlobalModelAsync(m, cancellationToken), e => Report(e), "global model");

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) =>
            faults.ApplyAsync(receipt, r => handler.OnReceiptAsync(r, cancellationToken), e => Report(e), "receipt");

        public ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
            handler.OnProtocolAsync(payload, cancellationToken);

        private ValueTask Report(WireFormatException error)
        {
            Log.Malformed(faults.Logger, "fault injection", error.Message);
            return ValueTask.CompletedTask;
        }
    }
}
