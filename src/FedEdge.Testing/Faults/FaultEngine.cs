using System.Collections.Concurrent;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Wire;
using Microsoft.Extensions.Logging;

namespace FedEdge.Transport.Faults;

/// <summary>
/// Applies drawn faults to one message's delivery action; keeps one <see cref="FaultStream"/> per (link, direction)
/// and the delayed deliveries still pending.
/// </summary>
internal sealed class FaultEngine
{
    private readonly ConcurrentDictionary<(string Link, FaultDirection Direction), FaultStream> _streams = new();
    private readonly Lock _gate = new();
    private readonly List<Task> _background = [];

    public FaultEngine(FaultOptions options, TimeProvider time, ILogger logger)
    {
        Options = options;
        Time = time;
        Logger = logger;
    }

    public FaultOptions Options { get; }

    public TimeProvider Time { get; }

    public ILogger Logger { get; }

    /// <summary>The generator of <paramref name="link"/> in <paramref name="direction"/>, created on first use.</summary>
    public FaultStream Stream(string link, FaultDirection direction) =>
        _streams.GetOrAdd((link, direction), static (key, seed) => new FaultStream(seed, key.Link, key.Direction), Options.Seed);

    /// <summary>Draws the next message's fault on <paramref name="link"/> in <paramref name="direction"/> and counts it.</summary>
    public FaultDraw Draw(string link, FaultDirection direction, FaultMessageKind kind, bool corruptible = true)
    {
        FaultDraw draw = Stream(link, direction).Draw(Options);
        if (!corruptible)
        {
            draw = draw.WithoutCorruption();
        }

        Options.Counters.Count(draw, kind);
        return draw;
    }

    /// <summary>
    /// Runs <paramref name="deliver"/> zero, one or two times, now or later, with <paramref name="message"/> possibly
    /// corrupted by <paramref name="corrupt"/> (null: the message cannot be corrupted and passes unchanged). A corrupted
    /// message that no longer decodes goes to <paramref name="onUndecodable"/>, or is lost when that is null.
    /// </summary>
    public async ValueTask ApplyAsync<T>(
        string link,
        FaultDirection direction,
        FaultMessageKind kind,
        T message,
        Func<T, ValueTask> deliver,
        Func<T, FaultDraw, T?>? corrupt,
        Func<WireFormatException, ValueTask>? onUndecodable,
        string source)
        where T : class
    {
        FaultDraw draw = Draw(link, direction, kind, corrupt is not null);
        T deliverable = message;
        int copies = 1;
        switch (draw.Fault)
        {
            case Fault.Drop:
                return;
            case Fault.Reorder:
                Later(Options.MaxDelay, () => deliver(message), source);
                return;
            case Fault.Duplicate:
                copies = 2;
                break;
            case Fault.Corrupt:
                T? altered;
                try
                {
                    altered = corrupt!(message, draw);
                }
                catch (WireFormatException ex)
                {
                    if (onUndecodable is not null)
                    {
                        await onUndecodable(ex).ConfigureAwait(false);
                    }

                    return;
                }

                if (altered is null)
                {
                    return;
                }

                deliverable = altered;
                break;
        }

        if (draw.Delayed)
        {
            Later(Options.MaxDelay * draw.DelayFraction, () => DeliverAsync(deliver, deliverable, copies), source);
            return;
        }

        await DeliverAsync(deliver, deliverable, copies).ConfigureAwait(false);
    }

    /// <summary>Waits for every delayed delivery still pending (failures were logged already).</summary>
    public async ValueTask DrainAsync()
    {
        Task[] pending;
        lock (_gate)
        {
            pending = [.. _background];
        }

        await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Flips one bit of <paramref name="message"/>'s serialized form; null when it decodes to another message type.</summary>
    /// <exception cref="WireFormatException">The altered bytes no longer decode.</exception>
    public static T? CorruptWire<T>(T message, FaultDraw draw)
        where T : class
    {
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "fault", SenderId = SenderOf(message), Body = message });
        bytes[draw.FlipAt % bytes.Length] ^= draw.FlipMask;
        return WireSerializer.Deserialize(bytes).Body as T;
    }

    /// <summary>Flips one bit of a payload copy that the decorator owns.</summary>
    public static byte[] CorruptPayload(byte[] payload, FaultDraw draw)
    {
        payload[draw.FlipAt % payload.Length] ^= draw.FlipMask;
        return payload;
    }

    private static string SenderOf(object message) => message switch
    {
        ModelUpdate update => update.SenderId,
        DeviceStatus status => status.DeviceId,
        _ => string.Empty,
    };

    private static async ValueTask DeliverAsync<T>(Func<T, ValueTask> deliver, T message, int copies)
    {
        for (int i = 0; i < copies; i++)
        {
            await deliver(message).ConfigureAwait(false);
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
