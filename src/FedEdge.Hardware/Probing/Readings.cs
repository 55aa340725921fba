using System.Globalization;
using FedEdge.Devices;

namespace FedEdge.Hardware;

/// <summary>One Linux thermal zone (<c>/sys/class/thermal/thermal_zoneN</c>).</summary>
public sealed record ThermalZoneReading
{
    /// <summary>The zone's folder name, e.g. <c>thermal_zone0</c>.</summary>
    public required string Zone { get; init; }

    /// <summary>The zone's <c>type</c>, e.g. <c>cpu-thermal</c> on a Raspberry Pi, <c>x86_pkg_temp</c> on a PC; null when not available.</summary>
    public string? Type { get; init; }

    /// <summary>The temperature in °C (the kernel reports millidegrees); null when not available.</summary>
    public double? TemperatureCelsius { get; init; }
}

/// <summary>One CPU's frequency scaling state (<c>/sys/devices/system/cpu/cpuN/cpufreq</c>). Frequencies in kHz, as the kernel reports them.</summary>
public sealed record CpuFrequencyReading
{
    /// <summary>The CPU number.</summary>
    public required int Cpu { get; init; }

    /// <summary><c>scaling_cur_freq</c>: the current frequency.</summary>
    public long? CurrentKHz { get; init; }

    /// <summary><c>scaling_min_freq</c>.</summary>
    public long? MinimumKHz { get; init; }

    /// <summary><c>scaling_max_freq</c>: the current policy's ceiling (lowered by thermal capping).</summary>
    public long? MaximumKHz { get; init; }

    /// <summary><c>cpuinfo_max_freq</c>: the hardware's ceiling.</summary>
    public long? HardwareMaximumKHz { get; init; }

    /// <summary><c>scaling_governor</c>, e.g. <c>ondemand</c>.</summary>
    public string? Governor { get; init; }
}

/// <summary>Memory figures from <c>/proc/meminfo</c>, in bytes.</summary>
public sealed record MemoryReading
{
    /// <summary><c>MemTotal</c>.</summary>
    public required long TotalBytes { get; init; }

    /// <summary><c>MemFree</c>.</summary>
    public required long FreeBytes { get; init; }

    /// <summary><c>MemAvailable</c> (kernels since 3.14); null on older kernels.</summary>
    public long? AvailableBytes { get; init; }

    /// <summary><c>SwapTotal</c>.</summary>
    public long? SwapTotalBytes { get; init; }

    /// <summary><c>SwapFree</c>.</summary>
    public long? SwapFreeBytes { get; init; }
}

/// <summary>Load figures from <c>/proc/loadavg</c>.</summary>
public sealed record LoadAverageReading
{
    /// <summary>The 1-minute load average.</summary>
    public required double OneMinute { get; init; }

    /// <summary>The 5-minute load average.</summary>
    public required double FiveMinutes { get; init; }

    /// <summary>The 15-minute load average.</summary>
    public required double FifteenMinutes { get; init; }

    /// <summary>Runnable scheduling entities now.</summary>
    public required int RunnableTasks { get; init; }

    /// <summary>Scheduling entities in total.</summary>
    public required int TotalTasks { get; init; }
}

/// <summary>One network interface's counters since boot (<c>/proc/net/dev</c>).</summary>
public sealed record NetworkInterfaceReading
{
    /// <summary>The interface name, e.g. <c>eth0</c>, <c>wlan0</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Bytes received.</summary>
    public required long BytesReceived { get; init; }

    /// <summary>Packets received.</summary>
    public required long PacketsReceived { get; init; }

    /// <summary>Receive errors.</summary>
    public long ReceiveErrors { get; init; }

    /// <summary>Received packets dropped.</summary>
    public long ReceiveDrops { get; init; }

    /// <summary>Bytes sent.</summary>
    public required long BytesSent { get; init; }

    /// <summary>Packets sent.</summary>
    public required long PacketsSent { get; init; }

    /// <summary>Send errors.</summary>
    public long SendErrors { get; init; }

    /// <summary>Packets dropped on send.</summary>
    public long SendDrops { get; init; }

    /// <summary>True for the loopback interface, which does not count as network traffic.</summary>
    public bool IsLoopback => Name == "lo";
}

/// <summary>How a probe problem affected a reading.</summary>
public enum ProbeErrorKind
{
    /// <summary>The file or tool exists but could not be read or run now; the reading is not available.</summary>
    Unavailable = 0,

    /// <summary>The contents were malformed (<see cref="ProbeDataException"/>); the reading is not available.</summary>
    BadData = 1,
}

/// <summary>A problem one probe met; the rest of the snapshot is still valid.</summary>
/// <param name="Source">The file or tool command line.</param>
/// <param name="Kind">What kind of problem.</param>
/// <param name="Message">What was wrong.</param>
public sealed record ProbeError(string Source, ProbeErrorKind Kind, string Message);

/// <summary>Every hardware reading at one instant. Readings a device does not have are null or empty.</summary>
public sealed record HardwareSnapshot
{
    private static readonly string[] PreferredZoneTypes = ["cpu-thermal", "cpu_thermal", "soc-thermal", "soc_thermal", "x86_pkg_temp"];

    /// <summary>When the snapshot was taken (from the injected <see cref="TimeProvider"/>).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>The thermal zones, by zone number.</summary>
    public IReadOnlyList<ThermalZoneReading> ThermalZones { get; init; } = [];

    /// <summary><c>vcgencmd measure_temp</c> in °C (Raspberry Pi); null when not available.</summary>
    public double? VcgencmdTemperatureCelsius { get; init; }

    /// <summary><c>vcgencmd get_throttled</c> decoded (Raspberry Pi); null when not available.</summary>
    public ThrottlingStatus? Throttling { get; init; }

    /// <summary>CPU frequency scaling, by CPU number.</summary>
    public IReadOnlyList<CpuFrequencyReading> CpuFrequencies { get; init; } = [];

    /// <summary>Memory; null when not available.</summary>
    public MemoryReading? Memory { get; init; }

    /// <summary>Load; null when not available.</summary>
    public LoadAverageReading? LoadAverage { get; init; }

    /// <summary>Network interfaces, in the order of <c>/proc/net/dev</c>.</summary>
    public IReadOnlyList<NetworkInterfaceReading> Network { get; init; } = [];

    /// <summary>Problems met while probing (unreadable files, malformed contents, failing tools).</summary>
    public IReadOnlyList<ProbeError> Errors { get; init; } = [];

    /// <summary>
    /// The device temperature: <c>vcgencmd</c> when available, else the SoC/CPU thermal zone
    /// (<c>cpu-thermal</c>, <c>soc_thermal</c>, <c>x86_pkg_temp</c>), else the hottest zone; null when none.
    /// </summary>
    public double? TemperatureCelsius => VcgencmdTemperatureCelsius ?? PreferredZone()?.TemperatureCelsius;

    /// <summary>Where <see cref="TemperatureCelsius"/> came from: <c>vcgencmd</c>, <c>thermal_zone0 (cpu-thermal)</c>, or null.</summary>
    public string? TemperatureSource => VcgencmdTemperatureCelsius is not null
        ? "vcgencmd"
        : PreferredZone() is { } zone ? $"{zone.Zone} ({zone.Type ?? "unknown type"})" : null;

    /// <summary>Bytes sent by all non-loopback interfaces since boot; null when not available.</summary>
    public long? BytesSent => Network.Count == 0 ? null : Network.Where(static n => !n.IsLoopback).Sum(static n => n.BytesSent);

    /// <summary>Bytes received by all non-loopback interfaces since boot; null when not available.</summary>
    public long? BytesReceived => Network.Count == 0 ? null : Network.Where(static n => !n.IsLoopback).Sum(static n => n.BytesReceived);

    /// <summary>
    /// Throttled now: <c>get_throttled</c> bits 1–3 on a Raspberry Pi (frequency capped, throttled, soft
    /// temperature limit); null without <c>vcgencmd</c>, since other Linux devices have no such flag.
    /// </summary>
    public bool? Throttled => Throttling?.IsThrottledNow;

    /// <summary>The readings as Core's <see cref="DeviceTelemetry"/> for state reports, selection and governors.</summary>
    public DeviceTelemetry ToTelemetry(long? sampleCount = null) => new()
    {
        TemperatureCelsius = TemperatureCelsius,
        Throttled = Throttled,
        FreeMemoryBytes = Memory is null ? null : Memory.AvailableBytes ?? Memory.FreeBytes,
        LoadAverage = LoadAverage?.OneMinute,
        BytesSent = BytesSent,
        BytesReceived = BytesReceived,
        SampleCount = sampleCount,
    };

    /// <summary>A one-line summary for logs.</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"temperature={TemperatureCelsius?.ToString("0.0", CultureInfo.InvariantCulture) ?? "n/a"} throttled={Throttling?.ToString() ?? "n/a"} available={Memory?.AvailableBytes?.ToString(CultureInfo.InvariantCulture) ?? "n/a"} load={LoadAverage?.OneMinute.ToString("0.00", CultureInfo.InvariantCulture) ?? "n/a"} errors={Errors.Count}");

    private ThermalZoneReading? PreferredZone()
    {
        foreach (string type in PreferredZoneTypes)
        {
            ThermalZoneReading? match = ThermalZones.FirstOrDefault(z => z.TemperatureCelsius is not null && string.Equals(z.Type, type, StringComparison.Ordinal));
            if (match is not null)
            {
                return match;
            }
        }

        return ThermalZones.Where(static z => z.TemperatureCelsius is not null).MaxBy(static z => z.TemperatureCelsius);
    }
}
