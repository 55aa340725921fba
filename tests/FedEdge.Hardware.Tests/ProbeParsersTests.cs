using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Hardware.Tests;

public sealed class ProbeParsersTests
{
    [Theory]
    [InlineData("48312\n", 48.312)]
    [InlineData("58000", 58.0)]
    [InlineData("85000\n", 85.0)]
    [InlineData("-5250\n", -5.25)]
    public void ParseMillidegrees_KernelValue_ReturnsCelsius(string text, double expected)
    {
        Assert.Equal(expected, ProbeParsers.ParseMillidegrees(text, "/sys/class/thermal/thermal_zone0/temp"), 6);
    }

    [Theory]
    [InlineData("4831x")]
    [InlineData("")]
    [InlineData("48.3")]
    [InlineData("99999999")]
    public void ParseMillidegrees_BadContents_ThrowsNamingTheFile(string text)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseMillidegrees(text, "/sys/class/thermal/thermal_zone3/temp"));
        Assert.Equal("/sys/class/thermal/thermal_zone3/temp", ex.SourceName);
        Assert.Contains("/sys/class/thermal/thermal_zone3/temp", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("temp=49.4'C\n", 49.4)]
    [InlineData("temp=58.0'C", 58.0)]
    [InlineData("temp=85.3'C\r\n", 85.3)]
    [InlineData("temp=-3.2'C", -3.2)]
    public void ParseMeasureTemp_VcgencmdOutput_ReturnsCelsius(string text, double expected)
    {
        Assert.Equal(expected, ProbeParsers.ParseMeasureTemp(text), 6);
    }

    [Theory]
    [InlineData("error=1 error_msg=\"Command not registered\"")]
    [InlineData("temp=49.4")]
    [InlineData("temp='C")]
    [InlineData("temp=hot'C")]
    [InlineData("")]
    public void ParseMeasureTemp_BadOutput_ThrowsNamingTheCommand(string text)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseMeasureTemp(text));
        Assert.Equal("vcgencmd measure_temp", ex.SourceName);
    }

    [Fact]
    public void ParseThrottled_Zero_NoFlagSet()
    {
        ThrottlingStatus status = ProbeParsers.ParseThrottled("throttled=0x0\n");
        Assert.Equal(0u, status.Raw);
        Assert.Equal(ThrottlingFlags.None, status.Flags);
        Assert.False(status.IsThrottledNow);
        Assert.All(status.NamedFlags, f => Assert.False(f.Value));
    }

    [Fact]
    public void ParseThrottled_0x50000_OnlyHistoryOfUnderVoltageAndThrottling()
    {
        ThrottlingStatus s = ProbeParsers.ParseThrottled("throttled=0x50000");
        Assert.Equal(ThrottlingFlags.UnderVoltageOccurred | ThrottlingFlags.ThrottlingOccurred, s.Flags);
        Assert.False(s.UnderVoltage);
        Assert.False(s.ArmFrequencyCapped);
        Assert.False(s.CurrentlyThrottled);
        Assert.False(s.SoftTemperatureLimitActive);
        Assert.True(s.UnderVoltageOccurred);
        Assert.False(s.ArmFrequencyCappingOccurred);
        Assert.True(s.ThrottlingOccurred);
        Assert.False(s.SoftTemperatureLimitOccurred);
        Assert.False(s.IsThrottledNow);
    }

    [Fact]
    public void ParseThrottled_0x50005_UnderVoltageAndThrottledNow()
    {
        ThrottlingStatus s = ProbeParsers.ParseThrottled("throttled=0x50005");
        Assert.True(s.UnderVoltage);
        Assert.False(s.ArmFrequencyCapped);
        Assert.True(s.CurrentlyThrottled);
        Assert.False(s.SoftTemperatureLimitActive);
        Assert.True(s.UnderVoltageOccurred);
        Assert.False(s.ArmFrequencyCappingOccurred);
        Assert.True(s.ThrottlingOccurred);
        Assert.False(s.SoftTemperatureLimitOccurred);
        Assert.True(s.IsThrottledNow);
        Assert.Equal("0x50005", s.ToString());
    }

    [Fact]
    public void ParseThrottled_0x80008_SoftTemperatureLimitNowAndBefore()
    {
        ThrottlingStatus s = ProbeParsers.ParseThrottled("throttled=0x80008");
        Assert.Equal(ThrottlingFlags.SoftTemperatureLimitActive | ThrottlingFlags.SoftTemperatureLimitOccurred, s.Flags);
        Assert.True(s.SoftTemperatureLimitActive);
        Assert.True(s.SoftTemperatureLimitOccurred);
        Assert.True(s.IsThrottledNow);
        Assert.Equal(0u, s.UnknownBits);
    }

    [Fact]
    public void ParseThrottled_UndocumentedBits_KeptAsUnknown()
    {
        ThrottlingStatus s = ProbeParsers.ParseThrottled("throttled=0x1000f0");
        Assert.Equal(0x1000f0u, s.UnknownBits);
        Assert.Equal(ThrottlingFlags.None, s.Flags);
    }

    [Theory]
    [InlineData("throttled=")]
    [InlineData("throttled=0x")]
    [InlineData("throttled=0xZZ")]
    [InlineData("throttled=0x123456789")]
    [InlineData("throttled=50005")]
    [InlineData("VCHI initialization failed")]
    public void ParseThrottled_BadOutput_ThrowsNamingTheCommand(string text)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseThrottled(text));
        Assert.Equal("vcgencmd get_throttled", ex.SourceName);
    }

    [Property(MaxTest = 300)]
    public void ParseThrottled_AnyValue_DecodesEveryBit(uint raw)
    {
        ThrottlingStatus s = ProbeParsers.ParseThrottled($"throttled=0x{raw:x}\n");
        Assert.Equal(raw, s.Raw);
        int[] bits = [0, 1, 2, 3, 16, 17, 18, 19];
        Assert.Equal(bits.Select(b => ((raw >> b) & 1) == 1), s.NamedFlags.Select(f => f.Value));
        Assert.Equal(((raw >> 1) & 0b111) != 0, s.IsThrottledNow);
        Assert.Equal(raw & ~0xF000Fu, s.UnknownBits);
    }

    [Property(MaxTest = 500)]
    public Property Parsers_ArbitraryText_ThrowOnlyProbeDataException()
    {
        Gen<string> alphabet = Gen.Elements("0", "1", "9", "x", "=", ":", " ", "\n", "|", "kB", "temp=", "'C", "throttled=0x", "MemTotal:", "eth0:", "/", ".", "-", "lo:")
            .ArrayOf()
            .Select(parts => string.Concat(parts));
        return Prop.ForAll(alphabet.ToArbitrary(), text =>
        {
            foreach (Action parse in new Action[]
            {
                () => ProbeParsers.ParseMemInfo(text),
                () => ProbeParsers.ParseLoadAverage(text),
                () => ProbeParsers.ParseNetDev(text),
                () => ProbeParsers.ParseMeasureTemp(text),
                () => ProbeParsers.ParseThrottled(text),
                () => ProbeParsers.ParseMillidegrees(text, "t"),
                () => ProbeParsers.ParseNonNegativeInteger(text, "f"),
            })
            {
                Exception? error = Record.Exception(parse);
                Assert.True(error is null or ProbeDataException, $"{error?.GetType().Name}: {error?.Message} for '{text}'");
            }
        });
    }

    [Fact]
    public void ParseMemInfo_RaspberryPi4_ConvertsKilobytesAndAcceptsUnitlessLines()
    {
        string text = File.ReadAllText(Path.Combine(Canned.Root("rpi4-throttled"), "proc", "meminfo"));
        MemoryReading m = ProbeParsers.ParseMemInfo(text);
        Assert.Equal(3884356L * 1024, m.TotalBytes);
        Assert.Equal(2874120L * 1024, m.FreeBytes);
        Assert.Equal(3412908L * 1024, m.AvailableBytes);
        Assert.Equal(102396L * 1024, m.SwapTotalBytes);
    }

    [Fact]
    public void ParseMemInfo_NoMemTotal_ThrowsNamingTheFileAndField()
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseMemInfo("MemFree:  12 kB\n"));
        Assert.Equal("/proc/meminfo", ex.SourceName);
        Assert.Contains("MemTotal", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MemTotal: lots kB\nMemFree: 1 kB\n")]
    [InlineData("MemTotal 100 kB\n")]
    [InlineData("MemTotal: 100 MB\nMemFree: 1 kB\n")]
    public void ParseMemInfo_MalformedLine_ThrowsWithLine(string text)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseMemInfo(text));
        Assert.Contains("line 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseLoadAverage_PiLine_ReadsAllFields()
    {
        LoadAverageReading l = ProbeParsers.ParseLoadAverage("3.87 2.41 1.12 5/151 2044\n");
        Assert.Equal(3.87, l.OneMinute);
        Assert.Equal(2.41, l.FiveMinutes);
        Assert.Equal(1.12, l.FifteenMinutes);
        Assert.Equal(5, l.RunnableTasks);
        Assert.Equal(151, l.TotalTasks);
    }

    [Theory]
    [InlineData("0.08 0.12\n")]
    [InlineData("a b c 1/2 3")]
    [InlineData("0.1 0.2 0.3 12 3")]
    public void ParseLoadAverage_Malformed_ThrowsNamingTheFile(string text)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseLoadAverage(text));
        Assert.Equal("/proc/loadavg", ex.SourceName);
    }

    [Fact]
    public void ParseNetDev_RaspberryPi3_ReadsEveryInterface()
    {
        string text = File.ReadAllText(Path.Combine(Canned.Root("rpi3bplus-idle"), "proc", "net", "dev"));
        IReadOnlyList<NetworkInterfaceReading> nics = ProbeParsers.ParseNetDev(text);
        Assert.Equal(new[] { "lo", "eth0", "wlan0" }, nics.Select(n => n.Name));
        NetworkInterfaceReading eth0 = nics[1];
        Assert.Equal(18734562, eth0.BytesReceived);
        Assert.Equal(61432, eth0.PacketsReceived);
        Assert.Equal(27, eth0.ReceiveDrops);
        Assert.Equal(9523411, eth0.BytesSent);
        Assert.Equal(40218, eth0.PacketsSent);
        Assert.True(nics[0].IsLoopback);
    }

    [Theory]
    [InlineData("Inter-|\n face |\n  eth0: 1 2 3\n", "3 counters")]
    [InlineData("Inter-|\n face |\n  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", "interface")]
    [InlineData("Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n", "counter 16")]
    [InlineData("  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", "header")]
    public void ParseNetDev_Malformed_ThrowsNamingTheFile(string text, string expectedFragment)
    {
        ProbeDataException ex = Assert.Throws<ProbeDataException>(() => ProbeParsers.ParseNetDev(text));
        Assert.Equal("/proc/net/dev", ex.SourceName);
        Assert.Contains(expectedFragment, ex.Message, StringComparison.Ordinal);
    }
}
