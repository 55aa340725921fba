using System.Diagnostics.Metrics;
using FedEdge.Devices;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Hardware.Tests;

public sealed class TelemetrySamplerTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task SampleAsync_FakeClock_SamplesNowThenOncePerPeriod()
    {
        FakeTimeProvider time = new(Start);
        HardwareOptions options = Canned.Options("rpi3bplus-idle");
        options.SamplePeriod = TimeSpan.FromSeconds(10);
        CountingProbe probe = new(FedEdgeHardware.CreateProbe(options, time));
        await using ITelemetrySampler sampler = FedEdgeHardware.CreateSampler(probe, options, time);
        using CancellationTokenSource cts = new();

        await using IAsyncEnumerator<HardwareSnapshot> samples = sampler.SampleAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await samples.MoveNextAsync());
        Assert.Equal(Start, samples.Current.Timestamp);
        Assert.Same(samples.Current, sampler.Latest);

        ValueTask<bool> next = samples.MoveNextAsync();
        time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(next.IsCompleted);
        Assert.Equal(1, probe.Count);

        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(await next);
        Assert.Equal(Start.AddSeconds(10), samples.Current.Timestamp);
        Assert.Equal(2, probe.Count);

        ValueTask<bool> cancelled = samples.MoveNextAsync();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.AsTask());
    }

    [Fact]
    public async Task ReadAsync_FreshSnapshot_ReusedUntilMaxAge()
    {
        FakeTimeProvider time = new(Start);
        HardwareOptions options = Canned.Options("rpi4-throttled");
        options.MaxSnapshotAge = TimeSpan.FromSeconds(5);
        CountingProbe probe = new(FedEdgeHardware.CreateProbe(options, time));
        await using ITelemetrySampler sampler = FedEdgeHardware.CreateSampler(probe, options, time);

        DeviceTelemetry first = await sampler.ReadAsync();
        time.Advance(TimeSpan.FromSeconds(5));
        DeviceTelemetry second = await sampler.ReadAsync();
        Assert.Equal(1, probe.Count);

        time.Advance(TimeSpan.FromSeconds(0.5));
        await sampler.ReadAsync();
        Assert.Equal(2, probe.Count);

        Assert.Equal(82.7, first.TemperatureCelsius);
        Assert.True(first.Throttled);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Instruments_AfterSample_ReportTemperatureFlagsAndBytes()
    {
        using ScopedMeterFactory meters = new();
        HardwareOptions options = Canned.Options("rpi4-throttled");
        await using ITelemetrySampler sampler = FedEdgeHardware.CreateSampler(FedEdgeHardware.CreateProbe(options), options, meterFactory: meters);

        List<(string Instrument, double Value, Dictionary<string, object?> Tags)> seen = [];
        using MeterListener listener = new();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, meters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            seen.Add((i.Name, v, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        listener.Start();

        listener.RecordObservableInstruments();
        Assert.Empty(seen);

        await sampler.SampleNowAsync();
        listener.RecordObservableInstruments();

        var temperature = Assert.Single(seen, m => m.Instrument == "fededge.device.temperature");
        Assert.Equal(82.7, temperature.Value);
        Assert.Equal("vcgencmd", temperature.Tags["source"]);
        Assert.Equal(82.763, Assert.Single(seen, m => m.Instrument == "fededge.device.thermal_zone.temperature").Value, 6);
        Assert.Equal(1, Assert.Single(seen, m => m.Instrument == "fededge.device.throttled").Value);

        Dictionary<string, double> flags = seen.Where(m => m.Instrument == "fededge.device.throttling")
            .ToDictionary(m => (string)m.Tags["flag"]!, m => m.Value);
        Assert.Equal(8, flags.Count);
        Assert.Equal(1, flags["underVoltage"]);
        Assert.Equal(1, flags["currentlyThrottled"]);
        Assert.Equal(0, flags["armFrequencyCapped"]);
        Assert.Equal(1, flags["throttlingOccurred"]);

        Assert.Equal(212398110, Assert.Single(seen, m => m.Instrument == "fededge.device.network.bytes_sent" && (string)m.Tags["interface"]! == "eth0").Value);
        Assert.Equal(734219886, Assert.Single(seen, m => m.Instrument == "fededge.device.network.bytes_received" && (string)m.Tags["interface"]! == "eth0").Value);
        Assert.Equal(3412908L * 1024, Assert.Single(seen, m => m.Instrument == "fededge.device.memory.available").Value);
        Assert.Equal(4, seen.Count(m => m.Instrument == "fededge.device.cpu.frequency"));
    }
}
