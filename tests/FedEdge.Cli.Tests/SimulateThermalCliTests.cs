using System.Text.Json;

namespace FedEdge.Cli.Tests;

public sealed class SimulateThermalCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-simhw-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_DefaultHostThermal_ReportsPerDeviceBytesAndHostTemperatureOrNull()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--rounds", "2", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument doc = await ReadReportAsync();
        Assert.Equal("host", doc.RootElement.GetProperty("config").GetProperty("thermal").GetString());
        bool hostHasSensor = Directory.Exists("/sys/class/thermal")
            && Directory.EnumerateDirectories("/sys/class/thermal", "thermal_zone*").Any(z => File.Exists(Path.Combine(z, "temp")));
        foreach (JsonElement round in doc.RootElement.GetProperty("rounds").EnumerateArray())
        {
            foreach (string field in new[] { "round", "participants", "loss", "f1", "bytes_up", "bytes_down", "seconds", "epsilon" })
            {
                Assert.True(round.TryGetProperty(field, out _), "rounds[] lacks " + field);
            }

            JsonElement[] devices = round.GetProperty("devices").EnumerateArray().ToArray();
            Assert.Equal(4, devices.Length);
            Assert.DoesNotContain(devices, d => d.GetProperty("device").GetString() == "Unprofiled_IP_Camera");
            foreach (JsonElement d in devices)
            {
                Assert.True(d.GetProperty("bytes_up").GetInt64() > 4 * 9000, "each update carries the 9,473-parameter model");
                Assert.True(d.GetProperty("bytes_down").GetInt64() > 4 * 9000, "each task carries the global model");
                Assert.True(d.GetProperty("train_seconds").GetDouble() > 0);
                JsonElement temperature = d.GetProperty("temperature_c");
                if (hostHasSensor)
                {
                    Assert.Equal(JsonValueKind.Number, temperature.ValueKind);
                }
                else
                {
                    Assert.Equal(JsonValueKind.Null, temperature.ValueKind);
                }

                Assert.True(d.TryGetProperty("throttled", out _));
            }
        }

        if (!hostHasSensor)
        {
            Assert.Contains("n/a", result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Simulate_SimulatedThermal_TemperaturesRiseAndHottestDeviceIsGoverned()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--rounds", "5", "--thermal", "simulated", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("°C", result.Stdout, StringComparison.Ordinal);

        using JsonDocument doc = await ReadReportAsync();
        JsonElement[] rounds = doc.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
        Assert.Equal(5, rounds.Length);
        var byDevice = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var notes = new List<string>();
        foreach (JsonElement round in rounds)
        {
            foreach (JsonElement d in round.GetProperty("devices").EnumerateArray())
            {
                double t = d.GetProperty("temperature_c").GetDouble();
                Assert.InRange(t, 48, 85);
                Assert.False(d.GetProperty("throttled").GetBoolean());
                if (d.GetProperty("note").GetString() is { } note)
                {
                    notes.Add(d.GetProperty("device").GetString() + ": " + note);
                }

                string id = d.GetProperty("device").GetString()!;
                (byDevice.TryGetValue(id, out List<double>? list) ? list : byDevice[id] = []).Add(t);
            }
        }

        Assert.Equal(4, byDevice.Count);
        foreach ((string id, List<double> temps) in byDevice)
        {
            Assert.True(temps[^1] > temps[0] && temps[^1] > 48.5, $"{id} should heat up while training: {string.Join(", ", temps)}");
        }

        // The coolest device stays in CoLearn's band (48–60 °C); devices differ; the hottest crosses the governor's 70 °C.
        List<double> coolest = byDevice.Values.MinBy(t => t[^1])!;
        List<double> hottest = byDevice.Values.MaxBy(t => t[^1])!;
        Assert.All(coolest, t => Assert.InRange(t, 48, 60));
        Assert.True(hottest[^1] - coolest[^1] > 10, "devices get different load temperatures");
        Assert.True(hottest[^1] >= 70, "the hottest device reaches the governor's threshold: " + string.Join(", ", hottest));
        Assert.Contains(notes, n => n.Contains("governor", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Simulate_ThermalOff_ReportsNullTemperatures()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--rounds", "1", "--thermal", "off", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument doc = await ReadReportAsync();
        JsonElement round = Assert.Single(doc.RootElement.GetProperty("rounds").EnumerateArray());
        Assert.All(round.GetProperty("devices").EnumerateArray(), d => Assert.Equal(JsonValueKind.Null, d.GetProperty("temperature_c").ValueKind));
    }

    [Fact]
    public async Task Simulate_UnknownThermalMode_FailsWithClearError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--thermal", "lava", "--out", _out]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("lava", result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_out, "report.json")));
    }

    private async Task<JsonDocument> ReadReportAsync() => JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
}
