using System.Text.Json;

namespace FedEdge.Cli.Tests;

public sealed class DeviceCommandTests
{
    private static string CannedRoot(string name) => Path.Combine(RepoPaths.Root, "tests", "FedEdge.Hardware.Tests", "TestData", name);

    [Fact]
    public async Task DeviceProbe_CannedPi4Json_NamesEveryThrottlingFlag()
    {
        CliResult result = await CliRunner.RunAsync(["device", "probe", "--json", "--root", CannedRoot("rpi4-throttled")]);

        Assert.Equal(0, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        JsonElement throttling = doc.RootElement.GetProperty("vcgencmd").GetProperty("throttling");
        Assert.Equal("0x50005", throttling.GetProperty("raw").GetString());
        Assert.True(throttling.GetProperty("underVoltage").GetBoolean());
        Assert.False(throttling.GetProperty("armFrequencyCapped").GetBoolean());
        Assert.True(throttling.GetProperty("currentlyThrottled").GetBoolean());
        Assert.False(throttling.GetProperty("softTemperatureLimitActive").GetBoolean());
        Assert.True(throttling.GetProperty("underVoltageOccurred").GetBoolean());
        Assert.False(throttling.GetProperty("armFrequencyCappingOccurred").GetBoolean());
        Assert.True(throttling.GetProperty("throttlingOccurred").GetBoolean());
        Assert.False(throttling.GetProperty("softTemperatureLimitOccurred").GetBoolean());
        Assert.Equal(82.7, doc.RootElement.GetProperty("temperatureCelsius").GetDouble());
    }

    [Fact]
    public async Task DeviceProbe_CannedPi3Text_PrintsEveryReading()
    {
        CliResult result = await CliRunner.RunAsync(["device", "probe", "--root", CannedRoot("rpi3bplus-idle")]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("49.4 °C (vcgencmd)", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("cpu-thermal", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("0x0", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("cpu3", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("load average", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("net eth0", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceProbe_LiveSystem_JsonWithRealMemory()
    {
        CliResult result = await CliRunner.RunAsync(["device", "probe", "--json"]);

        Assert.Equal(0, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.True(doc.RootElement.GetProperty("memory").GetProperty("totalBytes").GetInt64() > 0);
    }

    [Fact]
    public async Task DeviceProbe_MissingRoot_ExitsTwoWithReason()
    {
        CliResult result = await CliRunner.RunAsync(["device", "probe", "--root", "/nonexistent/fededge-root"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("does not exist", result.Stderr, StringComparison.Ordinal);
    }
}
