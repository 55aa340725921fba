using System.Text.Json;

namespace FedEdge.Hardware.Tests;

public sealed class HardwareSnapshotJsonTests
{
    [Fact]
    public async Task ToJson_Throttled0x50005_NamesEveryFlagWithABoolean()
    {
        HardwareSnapshot s = await Canned.Probe("rpi4-throttled").ProbeAsync();
        using JsonDocument doc = JsonDocument.Parse(HardwareSnapshotJson.ToJson(s));
        JsonElement root = doc.RootElement;

        Assert.Equal(82.7, root.GetProperty("temperatureCelsius").GetDouble());
        Assert.True(root.GetProperty("throttled").GetBoolean());
        JsonElement throttling = root.GetProperty("vcgencmd").GetProperty("throttling");
        Assert.Equal("0x50005", throttling.GetProperty("raw").GetString());
        Dictionary<string, bool> expected = new()
        {
            ["underVoltage"] = true,
            ["armFrequencyCapped"] = false,
            ["currentlyThrottled"] = true,
            ["softTemperatureLimitActive"] = false,
            ["underVoltageOccurred"] = true,
            ["armFrequencyCappingOccurred"] = false,
            ["throttlingOccurred"] = true,
            ["softTemperatureLimitOccurred"] = false,
        };
        foreach ((string name, bool value) in expected)
        {
            JsonElement flag = throttling.GetProperty(name);
            Assert.True(flag.ValueKind is JsonValueKind.True or JsonValueKind.False, name);
            Assert.Equal(value, flag.GetBoolean());
        }

        Assert.Equal("cpu-thermal", root.GetProperty("thermalZones")[0].GetProperty("type").GetString());
        Assert.Equal(1500000, root.GetProperty("cpuFrequencies")[0].GetProperty("hardwareMaximumKHz").GetInt64());
        Assert.Equal(3884356L * 1024, root.GetProperty("memory").GetProperty("totalBytes").GetInt64());
        Assert.Equal(4.02, root.GetProperty("loadAverage").GetProperty("oneMinute").GetDouble());
        Assert.Equal(212398110L + 402118L, root.GetProperty("network").GetProperty("bytesSent").GetInt64());
        Assert.Equal(3, root.GetProperty("network").GetProperty("interfaces").GetArrayLength());
        Assert.Equal(0, root.GetProperty("errors").GetArrayLength());
    }

    [Fact]
    public async Task ToJson_NothingAvailable_NullsNotOmissions()
    {
        string empty = Directory.CreateTempSubdirectory("fededge-json-").FullName;
        try
        {
            HardwareSnapshot s = await FedEdgeHardware.CreateProbe(new HardwareOptions { Root = empty, UseVcgencmd = false }).ProbeAsync();
            using JsonDocument doc = JsonDocument.Parse(HardwareSnapshotJson.ToJson(s, indented: false));
            JsonElement root = doc.RootElement;
            Assert.Equal(JsonValueKind.Null, root.GetProperty("temperatureCelsius").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("throttled").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("vcgencmd").GetProperty("throttling").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("memory").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("network").GetProperty("bytesSent").ValueKind);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public async Task ToJson_BrokenTree_ListsErrorsWithSourceAndKind()
    {
        HardwareSnapshot s = await Canned.Probe("broken").ProbeAsync();
        using JsonDocument doc = JsonDocument.Parse(HardwareSnapshotJson.ToJson(s));
        JsonElement errors = doc.RootElement.GetProperty("errors");
        Assert.Equal(s.Errors.Count, errors.GetArrayLength());
        Assert.Contains(errors.EnumerateArray(), e => e.GetProperty("source").GetString() == "/proc/meminfo" && e.GetProperty("kind").GetString() == "badData");
    }
}
