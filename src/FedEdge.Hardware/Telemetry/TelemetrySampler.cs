using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using FedEdge.Devices;

namespace FedEdge.Hardware.Telemetry;

/// <summary>The periodic sampler and the <c>FedEdge.Hardware</c> meter's device instruments.</summary>
internal sealed class TelemetrySampler : ITelemetrySampler
{
    /// <summary>The meter name (the package name).</summary>
    public const string MeterName = "FedEdge.Hardware";

    private readonly IHardwareProbe _probe;
    private readonly TimeProvider _time;
    private readonly TimeSpan _period;
    private readonly TimeSpan _maxAge;
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private HardwareSnapshot? _latest;

    public TelemetrySampler(IHardwareProbe probe, HardwareOptions options, TimeProvider time, IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _probe = probe;
        _time = time;
        _period = options.SamplePeriod;
        _maxAge = options.MaxSnapshotAge;
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        CreateInstruments();
    }

    public HardwareSnapshot? Latest => Volatile.Read(ref _latest);

    public async ValueTask<HardwareSnapshot> SampleNowAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            HardwareSnapshot snapshot = await _probe.ProbeAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _latest, snapshot);
            return snapshot;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async IAsyncEnumerable<HardwareSnapshot> SampleAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            yield return await SampleNowAsync(cancellationToken).ConfigureAwait(false);
            await Task.Delay(_period, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
    {
        HardwareSnapshot? latest = Latest;
        if (latest is null || _time.GetUtcNow() - latest.Timestamp > _maxAge)
        {
            latest = await SampleNowAsync(cancellationToken).ConfigureAwait(false);
        }

        return latest.ToTelemetry();
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }

        _gate.Dispose();
        return ValueTask.CompletedTask;
    }

    private void CreateInstruments()
    {
        _meter.CreateObservableGauge("fededge.device.temperature", ObserveTemperature, "Cel", "The device (SoC/CPU) temperature.");
        _meter.CreateObservableGauge("fededge.device.thermal_zone.temperature", ObserveZones, "Cel", "Each Linux thermal zone's temperature.");
        _meter.CreateObservableGauge("fededge.device.throttled", ObserveThrottled, "{flag}", "1 while the SoC is throttled now (Raspberry Pi get_throttled bits 1-3).");
        _meter.CreateObservableGauge("fededge.device.throttling", ObserveThrottlingFlags, "{flag}", "Each Raspberry Pi get_throttled flag as 0 or 1, tagged with its name.");
        _meter.CreateObservableCounter("fededge.device.network.bytes_sent", ObserveSent, "By", "Bytes sent since boot, per network interface.");
        _meter.CreateObservableCounter("fededge.device.network.bytes_received", ObserveReceived, "By", "Bytes received since boot, per network interface.");
        _meter.CreateObservableGauge("fededge.device.memory.available", ObserveMemory, "By", "Available memory.");
        _meter.CreateObservableGauge("fededge.device.load_average", ObserveLoad, "{task}", "The 1-minute load average.");
        _meter.CreateObservableGauge("fededge.device.cpu.frequency", ObserveFrequency, "kHz", "Each CPU's current frequency.");
    }

    private IEnumerable<Measurement<double>> ObserveTemperature()
    {
        if (Latest is { TemperatureCelsius: double t } s)
        {
            yield return new Measurement<double>(t, new KeyValuePair<string, object?>("source", s.TemperatureSource));
        }
    }

    private IEnumerable<Measurement<double>> ObserveZones()
    {
        foreach (ThermalZoneReading zone in Latest?.ThermalZones ?? [])
        {
            if (zone.TemperatureCelsius is double t)
            {
                yield return new Measurement<double>(t, new KeyValuePair<string, object?>("zone", zone.Zone), new KeyValuePair<string, object?>("type", zone.Type));
            }
        }
    }

    private IEnumerable<Measurement<int>> ObserveThrottled()
    {
        if (Latest?.Throttled is bool throttled)
        {
            yield return new Measurement<int>(throttled ? 1 : 0);
        }
    }

    private IEnumerable<Measurement<int>> ObserveThrottlingFlags()
    {
        if (Latest?.Throttling is ThrottlingStatus status)
        {
            foreach (KeyValuePair<string, bool> flag in status.NamedFlags)
            {
                yield return new Measurement<int>(flag.Value ? 1 : 0, new KeyValuePair<string, object?>("flag", flag.Key));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveSent()
    {
        foreach (NetworkInterfaceReading nic in Latest?.Network ?? [])
        {
            yield return new Measurement<long>(nic.BytesSent, new KeyValuePair<string, object?>("interface", nic.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveReceived()
    {
        foreach (NetworkInterfaceReading nic in Latest?.Network ?? [])
        {
            yield return new Measurement<long>(nic.BytesReceived, new KeyValuePair<string, object?>("interface", nic.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveMemory()
    {
        if (Latest?.Memory is { } memory)
        {
            yield return new Measurement<long>(memory.AvailableBytes ?? memory.FreeBytes);
        }
    }

    private IEnumerable<Measurement<double>> ObserveLoad()
    {
        if (Latest?.LoadAverage is { } load)
        {
            yield return new Measurement<double>(load.OneMinute);
        }
    }

    private IEnumerable<Measurement<long>> ObserveFrequency()
    {
        foreach (CpuFrequencyReading cpu in Latest?.CpuFrequencies ?? [])
        {
            if (cpu.CurrentKHz is long khz)
            {
                yield return new Measurement<long>(khz, new KeyValuePair<string, object?>("cpu", cpu.Cpu));
            }
        }
    }
}
