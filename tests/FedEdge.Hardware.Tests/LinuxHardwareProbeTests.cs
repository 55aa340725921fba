using FedEdge.Devices;
using FedEdge.Hardware.Probing;
using FedEdge.Hardware.Seams;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Hardware.Tests;

public sealed class LinuxHardwareProbeTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ProbeAsync_RaspberryPi3BPlusIdle_ReadsEverySource()
    {
        FakeTimeProvider time = new(Start);
        HardwareSnapshot s = await Canned.Probe("rpi3bplus-idle", time).ProbeAsync();

        Assert.Equal(Start, s.Timestamp);
        Assert.Empty(s.Errors);
        ThermalZoneReading zone = Assert.Single(s.ThermalZones);
        Assert.Equal("thermal_zone0", zone.Zone);
        Assert.Equal("cpu-thermal", zone.Type);
        Assert.Equal(48.312, zone.TemperatureCelsius!.Value, 6);
        Assert.Equal(49.4, s.VcgencmdTemperatureCelsius);
        Assert.Equal(49.4, s.TemperatureCelsius);
        Assert.Equal("vcgencmd", s.TemperatureSource);
        Assert.Equal(new ThrottlingStatus(0), s.Throttling);
        Assert.False(s.Throttled);

        Assert.Equal(new[] { 0, 1, 2, 3 }, s.CpuFrequencies.Select(c => c.Cpu));
        Assert.All(s.CpuFrequencies, c =>
        {
            Assert.Equal(600000, c.CurrentKHz);
            Assert.Equal(600000, c.MinimumKHz);
            Assert.Equal(1400000, c.MaximumKHz);
            Assert.Equal(1400000, c.HardwareMaximumKHz);
            Assert.Equal("ondemand", c.Governor);
        });

        Assert.Equal(949448L * 1024, s.Memory!.TotalBytes);
        Assert.Equal(772408L * 1024, s.Memory.AvailableBytes);
        Assert.Equal(0.08, s.LoadAverage!.OneMinute);
        Assert.Equal(142, s.LoadAverage.TotalTasks);
        Assert.Equal(new[] { "lo", "eth0", "wlan0" }, s.Network.Select(n => n.Name));
        Assert.Equal(9523411, s.BytesSent);
        Assert.Equal(18734562, s.BytesReceived);
    }

    [Fact]
    public async Task ToTelemetry_RaspberryPi4Throttled_MapsToCoreTelemetry()
    {
        HardwareSnapshot s = await Canned.Probe("rpi4-throttled").ProbeAsync();
        DeviceTelemetry t = s.ToTelemetry(sampleCount: 1200);

        Assert.Equal(82.7, t.TemperatureCelsius);
        Assert.True(t.Throttled);
        Assert.Equal(3412908L * 1024, t.FreeMemoryBytes);
        Assert.Equal(4.02, t.LoadAverage);
        Assert.Equal(212398110L + 402118L, t.BytesSent);
        Assert.Equal(734219886L + 1839022L, t.BytesReceived);
        Assert.Equal(1200, t.SampleCount);
        Assert.True(s.Throttling!.Value.UnderVoltage);
        Assert.True(s.Throttling.Value.CurrentlyThrottled);
    }

    [Fact]
    public async Task ProbeAsync_RaspberryPi3BPlusSoftLimit_ThrottledBySoftLimitAndCappedFrequency()
    {
        HardwareSnapshot s = await Canned.Probe("rpi3bplus-softlimit").ProbeAsync();
        Assert.Equal(0x80008u, s.Throttling!.Value.Raw);
        Assert.True(s.Throttled);
        Assert.All(s.CpuFrequencies, c => Assert.True(c.MaximumKHz < c.HardwareMaximumKHz));
        Assert.Equal(61.2, s.TemperatureCelsius);
    }

    [Fact]
    public async Task ProbeAsync_X86HostWithoutVcgencmd_UsesPackageZoneAndNoThrottling()
    {
        HardwareSnapshot s = await Canned.Probe("x86-host").ProbeAsync();
        Assert.Empty(s.Errors);
        Assert.Equal(2, s.ThermalZones.Count);
        Assert.Null(s.VcgencmdTemperatureCelsius);
        Assert.Null(s.Throttling);
        Assert.Null(s.Throttled);
        Assert.Equal(45.0, s.TemperatureCelsius);
        Assert.Equal("thermal_zone1 (x86_pkg_temp)", s.TemperatureSource);
        Assert.Empty(s.CpuFrequencies);
        Assert.Equal(301228490, s.BytesSent);
    }

    [Fact]
    public async Task ProbeAsync_EmptyRoot_EverythingNotAvailableWithoutErrors()
    {
        string empty = Directory.CreateTempSubdirectory("fededge-empty-root-").FullName;
        try
        {
            HardwareSnapshot s = await FedEdgeHardware.CreateProbe(new HardwareOptions { Root = empty, VcgencmdPath = "/nonexistent/vcgencmd" }).ProbeAsync();
            Assert.Empty(s.ThermalZones);
            Assert.Null(s.TemperatureCelsius);
            Assert.Null(s.Throttling);
            Assert.Empty(s.CpuFrequencies);
            Assert.Null(s.Memory);
            Assert.Null(s.LoadAverage);
            Assert.Empty(s.Network);
            Assert.Null(s.BytesSent);
            Assert.Empty(s.Errors);
            DeviceTelemetry t = s.ToTelemetry();
            Assert.Null(t.TemperatureCelsius);
            Assert.Null(t.FreeMemoryBytes);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public async Task ProbeAsync_BrokenContents_TypedErrorPerFileAndNoException()
    {
        HardwareSnapshot s = await Canned.Probe("broken").ProbeAsync();

        Dictionary<string, ProbeError> bySource = s.Errors.ToDictionary(e => e.Source);
        Assert.All(s.Errors, e => Assert.Equal(ProbeErrorKind.BadData, e.Kind));
        Assert.Equal(
            new[]
            {
                "/proc/loadavg", "/proc/meminfo", "/proc/net/dev",
                "/sys/class/thermal/thermal_zone0/temp", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq",
                "vcgencmd get_throttled", "vcgencmd measure_temp",
            },
            bySource.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("MemTotal", bySource["/proc/meminfo"].Message, StringComparison.Ordinal);
        Assert.Equal("cpu-thermal", Assert.Single(s.ThermalZones).Type);
        Assert.Null(s.ThermalZones[0].TemperatureCelsius);
        Assert.Null(s.Memory);
        Assert.Null(s.LoadAverage);
        Assert.Null(s.Throttling);
        Assert.Null(s.TemperatureCelsius);
        Assert.Empty(s.CpuFrequencies);
    }

    [Fact]
    public async Task ProbeAsync_UnreadableSensorAndFailingTool_ReportedAsUnavailable()
    {
        DictionaryFileSystem files = new();
        files.Files["/sys/class/thermal/thermal_zone0/type"] = "cpu-thermal\n";
        files.Files["/sys/class/thermal/thermal_zone0/temp"] = "51234\n";
        files.Files["/sys/class/thermal/thermal_zone1/type"] = "iwlwifi_1\n";
        files.Unreadable["/sys/class/thermal/thermal_zone1/temp"] = "No data available";
        FixedCommandRunner tool = new(_ => CommandOutput.Failed("VCHI initialization failed"));
        LinuxHardwareProbe probe = new(files, tool, "vcgencmd", new FakeTimeProvider(Start), NullLogger.Instance);

        HardwareSnapshot s = await probe.ProbeAsync();

        Assert.Equal(2, s.ThermalZones.Count);
        Assert.Equal(51.234, s.ThermalZones[0].TemperatureCelsius!.Value, 6);
        Assert.Null(s.ThermalZones[1].TemperatureCelsius);
        Assert.Equal(51.234, s.TemperatureCelsius!.Value, 6);
        Assert.Equal(2, tool.Calls);
        Assert.Contains(s.Errors, e => e is { Source: "/sys/class/thermal/thermal_zone1/temp", Kind: ProbeErrorKind.Unavailable });
        Assert.Contains(s.Errors, e => e is { Source: "vcgencmd measure_temp", Kind: ProbeErrorKind.Unavailable } && e.Message.Contains("VCHI", StringComparison.Ordinal));
        Assert.Contains(s.Errors, e => e.Source == "vcgencmd get_throttled");
    }

    [Fact]
    public async Task ProbeAsync_FailingToolEverySample_WarnsOnceThenDebug()
    {
        ListLogger logger = new();
        FixedCommandRunner tool = new(_ => CommandOutput.Failed("VCHI initialization failed"));
        LinuxHardwareProbe probe = new(new DictionaryFileSystem(), tool, "vcgencmd", TimeProvider.System, logger);

        for (int i = 0; i < 3; i++)
        {
            HardwareSnapshot s = await probe.ProbeAsync();
            Assert.Equal(2, s.Errors.Count);
        }

        Assert.Equal(2, logger.Entries.Count(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.Equal(4, logger.Entries.Count(e => e.EventId == 9003));
    }

    [Fact]
    public async Task ProbeAsync_ZonesOutOfLexicalOrder_SortedByNumber()
    {
        DictionaryFileSystem files = new();
        foreach (int n in new[] { 10, 2, 1 })
        {
            files.Files[$"/sys/class/thermal/thermal_zone{n}/temp"] = $"{n}000";
        }

        LinuxHardwareProbe probe = new(files, null, "vcgencmd", TimeProvider.System, NullLogger.Instance);
        HardwareSnapshot s = await probe.ProbeAsync();
        Assert.Equal(new[] { "thermal_zone1", "thermal_zone2", "thermal_zone10" }, s.ThermalZones.Select(z => z.Zone));
        Assert.Equal(10.0, s.TemperatureCelsius);
    }

    [Fact]
    public async Task ProbeAsync_ThisMachine_ReadsRealProcWithoutError()
    {
        HardwareSnapshot s = await FedEdgeHardware.CreateProbe(new HardwareOptions()).ProbeAsync();

        Assert.DoesNotContain(s.Errors, e => e.Kind == ProbeErrorKind.BadData);
        Assert.NotNull(s.Memory);
        Assert.True(s.Memory.TotalBytes > 0);
        Assert.True(s.Memory.FreeBytes <= s.Memory.TotalBytes);
        Assert.NotNull(s.LoadAverage);
        Assert.True(s.LoadAverage.TotalTasks >= 1);
        Assert.NotEmpty(s.Network);
        Assert.Contains(s.Network, n => n.IsLoopback);
        Assert.All(s.ThermalZones, z => Assert.True(z.TemperatureCelsius is null or > -60 and < 150));
    }

    [Fact]
    public void CreateProbe_RootThatDoesNotExist_ThrowsOptionsValidation()
    {
        OptionsValidationException ex = Assert.Throws<OptionsValidationException>(() =>
            FedEdgeHardware.CreateProbe(new HardwareOptions { Root = "/nonexistent/fededge/root" }));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relative/root", 2, 5)]
    [InlineData("/", 0, 5)]
    [InlineData("/", 2, 0.01)]
    public void Validate_BadOptions_Throws(string root, double timeoutSeconds, double periodSeconds)
    {
        HardwareOptions options = new()
        {
            Root = root,
            CommandTimeout = TimeSpan.FromSeconds(timeoutSeconds),
            SamplePeriod = TimeSpan.FromSeconds(periodSeconds),
        };
        Assert.Throws<OptionsValidationException>(options.Validate);
    }
}
