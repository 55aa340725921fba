using System.Collections.Concurrent;

namespace FedEdge.Devices;

/// <summary>
/// Thread-safe bandwidth and time accounting for one round: bytes up and down on the wire, training
/// and waiting time, and the last telemetry per device. The round engine fills it in while the round
/// runs and calls <see cref="Snapshot"/> for the round result and the simulation report.
/// </summary>
/// <remarks>
/// "Up" is device → coordinator (updates, status, join requests); "down" is coordinator → device
/// (round tasks, global models, receipts). Waiting time is time a device spent in the round without
/// training (receiving the task, cooling pauses, waiting for the deadline or quorum).
/// </remarks>
public sealed class RoundAccounting
{
    private readonly ConcurrentDictionary<string, DeviceCounters> _devices = new(StringComparer.Ordinal);

    /// <summary>Creates the accounting for round <paramref name="round"/>.</summary>
    /// <param name="round">The round number (0 or more).</param>
    public RoundAccounting(long round)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(round);
        Round = round;
    }

    /// <summary>The round number.</summary>
    public long Round { get; }

    /// <summary>Adds <paramref name="bytes"/> sent by the device to the coordinator.</summary>
    public void AddBytesUp(string deviceId, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        DeviceCounters counters = Get(deviceId);
        Interlocked.Add(ref counters.BytesUp, bytes);
    }

    /// <summary>Adds <paramref name="bytes"/> sent by the coordinator to the device.</summary>
    public void AddBytesDown(string deviceId, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        DeviceCounters counters = Get(deviceId);
        Interlocked.Add(ref counters.BytesDown, bytes);
    }

    /// <summary>Adds time the device spent training locally.</summary>
    public void AddTrainingTime(string deviceId, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        DeviceCounters counters = Get(deviceId);
        Interlocked.Add(ref counters.TrainingTicks, duration.Ticks);
    }

    /// <summary>Adds time the device spent in the round without training.</summary>
    public void AddWaitingTime(string deviceId, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        DeviceCounters counters = Get(deviceId);
        Interlocked.Add(ref counters.WaitingTicks, duration.Ticks);
    }

    /// <summary>Records the device's latest telemetry (temperature, throttling) for the report; the last call wins.</summary>
    public void RecordTelemetry(string deviceId, DeviceTelemetry telemetry)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        DeviceCounters counters = Get(deviceId);
        Volatile.Write(ref counters.Telemetry, telemetry);
    }

    /// <summary>Records that the device declined or cut its training (a governor's reason), for the report; the last call wins.</summary>
    public void RecordGovernorNote(string deviceId, string note)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(note);
        DeviceCounters counters = Get(deviceId);
        Volatile.Write(ref counters.GovernorNote, note);
    }

    /// <summary>An immutable copy of the figures so far, devices ordered by id.</summary>
    public RoundUsage Snapshot()
    {
        List<DeviceRoundUsage> devices = new(_devices.Count);
        foreach (KeyValuePair<string, DeviceCounters> pair in _devices)
        {
            DeviceCounters c = pair.Value;
            DeviceTelemetry? telemetry = Volatile.Read(ref c.Telemetry);
            devices.Add(new DeviceRoundUsage
            {
                DeviceId = pair.Key,
                BytesUp = Interlocked.Read(ref c.BytesUp),
                BytesDown = Interlocked.Read(ref c.BytesDown),
                TrainingTime = TimeSpan.FromTicks(Interlocked.Read(ref c.TrainingTicks)),
                WaitingTime = TimeSpan.FromTicks(Interlocked.Read(ref c.WaitingTicks)),
                TemperatureCelsius = telemetry?.TemperatureCelsius,
                Throttled = telemetry?.Throttled,
                GovernorNote = Volatile.Read(ref c.GovernorNote),
            });
        }

        devices.Sort(static (a, b) => string.CompareOrdinal(a.DeviceId, b.DeviceId));
        return new RoundUsage { Round = Round, Devices = devices };
    }

    private DeviceCounters Get(string deviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        return _devices.GetOrAdd(deviceId, static _ => new DeviceCounters());
    }

    private sealed class DeviceCounters
    {
        public long BytesUp;
        public long BytesDown;
        public long TrainingTicks;
        public long WaitingTicks;
        public DeviceTelemetry? Telemetry;
        public string? GovernorNote;
    }
}

/// <summary>One device's bandwidth and time in one round.</summary>
public sealed record DeviceRoundUsage
{
    /// <summary>The device id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>Bytes the device sent to the coordinator.</summary>
    public long BytesUp { get; init; }

    /// <summary>Bytes the coordinator sent to the device.</summary>
    public long BytesDown { get; init; }

    /// <summary>Time spent training locally.</summary>
    public TimeSpan TrainingTime { get; init; }

    /// <summary>Time spent in the round without training.</summary>
    public TimeSpan WaitingTime { get; init; }

    /// <summary>The last reported SoC temperature in °C, or null when not available.</summary>
    public double? TemperatureCelsius { get; init; }

    /// <summary>The last reported throttling state, or null when not available.</summary>
    public bool? Throttled { get; init; }

    /// <summary>Why a governor declined or shortened this device's training, if it did.</summary>
    public string? GovernorNote { get; init; }

    /// <summary>The temperature as text for reports: <c>"58.4 °C"</c> or <c>"n/a"</c>.</summary>
    public string TemperatureText => TemperatureCelsius is double t
        ? t.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " °C"
        : "n/a";
}

/// <summary>Bandwidth and time of one round, per device and in total.</summary>
public sealed record RoundUsage
{
    /// <summary>The round number.</summary>
    public required long Round { get; init; }

    /// <summary>Per-device figures, ordered by device id.</summary>
    public required IReadOnlyList<DeviceRoundUsage> Devices { get; init; }

    /// <summary>Bytes sent by all devices to the coordinator.</summary>
    public long TotalBytesUp => Devices.Sum(static d => d.BytesUp);

    /// <summary>Bytes sent by the coordinator to all devices.</summary>
    public long TotalBytesDown => Devices.Sum(static d => d.BytesDown);

    /// <summary>Training time summed over devices.</summary>
    public TimeSpan TotalTrainingTime => TimeSpan.FromTicks(Devices.Sum(static d => d.TrainingTime.Ticks));

    /// <summary>Waiting time summed over devices.</summary>
    public TimeSpan TotalWaitingTime => TimeSpan.FromTicks(Devices.Sum(static d => d.WaitingTime.Ticks));

    /// <summary>The hottest reported temperature in the round, or null when no device reported one.</summary>
    public double? MaxTemperatureCelsius => Devices.Max(static d => d.TemperatureCelsius);

    /// <summary>
    /// A fixed-width text table for reports: one line per device (bytes up/down, training and waiting
    /// seconds, temperature or "n/a", throttled, governor note) and a total line.
    /// </summary>
    public string ToTable()
    {
        System.Globalization.CultureInfo c = System.Globalization.CultureInfo.InvariantCulture;
        System.Text.StringBuilder sb = new();
        sb.Append(c, $"round {Round}").AppendLine();
        sb.Append(c, $"{"device",-20} {"bytes up",12} {"bytes down",12} {"train s",9} {"wait s",9} {"temp",9} {"throttled",9}  note").AppendLine();
        foreach (DeviceRoundUsage d in Devices)
        {
            string throttled = d.Throttled is bool t ? (t ? "yes" : "no") : "n/a";
            sb.Append(c, $"{d.DeviceId,-20} {d.BytesUp,12} {d.BytesDown,12} {d.TrainingTime.TotalSeconds,9:0.000} {d.WaitingTime.TotalSeconds,9:0.000} {d.TemperatureText,9} {throttled,9}  {d.GovernorNote}").AppendLine();
        }

        string max = MaxTemperatureCelsius is double m ? m.ToString("0.0", c) + " °C" : "n/a";
        sb.Append(c, $"{"total",-20} {TotalBytesUp,12} {TotalBytesDown,12} {TotalTrainingTime.TotalSeconds,9:0.000} {TotalWaitingTime.TotalSeconds,9:0.000} {max,9}").AppendLine();
        return sb.ToString();
    }

    /// <summary>
    /// Adds up several rounds per device (bytes and times summed; temperature is the maximum seen,
    /// throttled is true if any round saw it, the note is the last one). The result's round is the last round.
    /// </summary>
    public static RoundUsage Combine(IEnumerable<RoundUsage> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        Dictionary<string, DeviceRoundUsage> byDevice = new(StringComparer.Ordinal);
        long lastRound = 0;
        foreach (RoundUsage round in rounds)
        {
            lastRound = Math.Max(lastRound, round.Round);
            foreach (DeviceRoundUsage d in round.Devices)
            {
                byDevice[d.DeviceId] = byDevice.TryGetValue(d.DeviceId, out DeviceRoundUsage? prior)
                    ? new DeviceRoundUsage
                    {
                        DeviceId = d.DeviceId,
                        BytesUp = prior.BytesUp + d.BytesUp,
                        BytesDown = prior.BytesDown + d.BytesDown,
                        TrainingTime = prior.TrainingTime + d.TrainingTime,
                        WaitingTime = prior.WaitingTime + d.WaitingTime,
                        TemperatureCelsius = MaxOrNull(prior.TemperatureCelsius, d.TemperatureCelsius),
                        Throttled = prior.Throttled is null && d.Throttled is null ? null : (prior.Throttled ?? false) || (d.Throttled ?? false),
                        GovernorNote = d.GovernorNote ?? prior.GovernorNote,
                    }
                    : d;
            }
        }

        List<DeviceRoundUsage> devices = [.. byDevice.Values];
        devices.Sort(static (a, b) => string.CompareOrdinal(a.DeviceId, b.DeviceId));
        return new RoundUsage { Round = lastRound, Devices = devices };
    }

    private static double? MaxOrNull(double? a, double? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
}
