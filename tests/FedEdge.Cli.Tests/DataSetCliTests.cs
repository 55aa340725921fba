using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>fededge simulate</c>, <c>worker</c> and <c>coordinator</c> on the three shipped data sets (N-BaIoT, TON_IoT, IoT-23),
/// recognised from the header or named with <c>--dataset</c>, with each data set's leakage rules, and federated
/// preprocessing: the normaliser comes from the admitted devices' round-0 summaries, never from pooled rows.
/// </summary>
public sealed class DataSetCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-datasets-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_TonIot_RecognisedFromHeader_UnionSchemaWithoutDate()
    {
        string output = Path.Combine(_dir, "ton");
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", Path.Combine(RepoPaths.Data, "ton_iot"), "--rounds", "2", "--thermal", "off", "--out", output],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("(toniot)", result.Stdout, StringComparison.Ordinal);

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        JsonElement root = report.RootElement;
        Assert.Equal("toniot", root.GetProperty("config").GetProperty("dataset").GetString());
        string[] devices = root.GetProperty("final").GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("device").GetString()!).ToArray();
        Assert.Equal(["Fridge", "GPS_Tracker", "Garage_Door", "Modbus", "Motion_Light", "Thermostat", "Weather"], devices.Order(StringComparer.Ordinal));
        foreach (JsonElement r in root.GetProperty("rounds").EnumerateArray())
        {
            Assert.Equal(7, r.GetProperty("participants").GetInt32());
        }

        string[] features = await FeatureNamesAsync(output);
        Assert.DoesNotContain("date", features);
        Assert.DoesNotContain("time", features);
        Assert.Contains("sphone_signal", features);
        Assert.DoesNotContain(features, f => f.StartsWith("sphone_signal=", StringComparison.Ordinal));
        Assert.Contains("device_type=Fridge", features);
        Assert.Contains("fridge_temperature.missing", features);
        Assert.Contains("humidity.missing", features);
        Assert.Equal(7, features.Count(f => f.StartsWith("device_type=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Simulate_Iot23_OneClientPerCapture_IdentifiersDropped()
    {
        string output = Path.Combine(_dir, "iot23");
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", Path.Combine(RepoPaths.Data, "iot23"), "--dataset", "iot23", "--rounds", "2", "--thermal", "off", "--out", output],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        JsonElement root = report.RootElement;
        Assert.Equal("iot23", root.GetProperty("config").GetProperty("dataset").GetString());
        Assert.Equal(
            ["CTU-Honeypot-Capture-4-1", "CTU-Honeypot-Capture-5-1", "CTU-IoT-Malware-Capture-34-1", "CTU-IoT-Malware-Capture-42-1"],
            root.GetProperty("final").GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("device").GetString()!).Order(StringComparer.Ordinal));
        string[] features = await FeatureNamesAsync(output);
        foreach (string id in new[] { "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "label", "detailed-label" })
        {
            Assert.DoesNotContain(features, f => f == id || f.StartsWith(id + "=", StringComparison.Ordinal) || f.StartsWith(id + ".", StringComparison.Ordinal));
        }

        Assert.Contains("duration.missing", features);
    }

    [Fact]
    public async Task Simulate_DatasetThatDoesNotMatchTheHeaders_ExitsWithUsageError()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", Path.Combine(RepoPaths.Data, "ton_iot"), "--dataset", "nbaiot", "--out", Path.Combine(_dir, "x")],
            workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--dataset nbaiot was given but this file's header is toniot", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_EvalOfAnotherDataSet_FailsInOneLine()
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", Path.Combine(RepoPaths.Data, "iot23"), "--eval", Path.Combine(RepoPaths.Data, "ton_iot"), "--rounds", "1", "--thermal", "off", "--out", Path.Combine(_dir, "e")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--dataset iot23 was given but this file's header is toniot", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A device that MUD admission refuses brings extreme values. Round 0 merges only the admitted devices' own
    /// summaries, so its values must not reach the normaliser; fitting on pooled rows (the old way) would take them in.
    /// </summary>
    [Fact]
    public async Task Simulate_RefusedDevicesRows_NeverReachTheFederatedNormaliser()
    {
        string data = Path.Combine(_dir, "data");
        Directory.CreateDirectory(data);
        foreach (string f in Directory.GetFiles(Path.Combine(RepoPaths.Data, "nbaiot"), "*.csv.gz"))
        {
            File.Copy(f, Path.Combine(data, Path.GetFileName(f)));
        }

        string[] lines = await ReadGzipLinesAsync(Path.Combine(RepoPaths.Data, "nbaiot", "Danmini_Doorbell.csv.gz"), 41);
        string[] rogue = [lines[0], .. lines.Skip(1).Select(l => "1000000" + l[l.IndexOf(',', StringComparison.Ordinal)..])];
        await WriteGzipLinesAsync(Path.Combine(data, "Rogue_Camera.csv.gz"), rogue);

        string output = Path.Combine(_dir, "rogue");
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", data, "--rounds", "1", "--thermal", "off", "--out", output],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        Assert.Contains(report.RootElement.GetProperty("refused").EnumerateArray(), r => r.GetProperty("device").GetString() == "Rogue_Camera");
        string[] round0 = report.RootElement.GetProperty("preprocessing").GetProperty("round0_devices").EnumerateArray().Select(d => d.GetString()!).ToArray();
        Assert.DoesNotContain("Rogue_Camera", round0);
        Assert.Equal(4, round0.Length);

        using JsonDocument normalizer = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "normalizer.json")));
        double max0 = normalizer.RootElement.GetProperty("max")[0].GetDouble();
        Assert.True(max0 < 1000, $"MI_dir_L5_weight max {max0}: the refused device's rows (1e6) reached the normaliser");
        Assert.True(max0 > 1, $"MI_dir_L5_weight max {max0}");
    }

    /// <summary>
    /// With secure aggregation, round 0 and the threshold go through the secure-aggregation protocol: the normaliser comes
    /// from the summed occupancy sketches, so its range contains every training value and is at most 2^0.25 wider.
    /// </summary>
    [Fact]
    public async Task Simulate_SecureAggregation_Round0ThroughSecureSketches_RangeCoversTheRows()
    {
        string output = Path.Combine(_dir, "secure");
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--data", Path.Combine(RepoPaths.Data, "nbaiot"), "--secure-aggregation", "--model", "autoencoder", "--rounds", "2", "--thermal", "off", "--out", output],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("round 0 through secure aggregation", result.Stdout, StringComparison.Ordinal);
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        Assert.True(report.RootElement.GetProperty("preprocessing").GetProperty("round0_secure_aggregation").GetBoolean());
        Assert.True(report.RootElement.GetProperty("final").GetProperty("threshold").GetDouble() > 0);

        // MI_dir_L5_weight over every row of the four files: the secure range must cover the training rows' values and
        // stay within one quarter-octave bin of them.
        double fileMax = 0;
        foreach (string file in Directory.GetFiles(Path.Combine(RepoPaths.Data, "nbaiot"), "*.csv.gz"))
        {
            foreach (string line in (await ReadGzipLinesAsync(file, int.MaxValue)).Skip(1))
            {
                fileMax = Math.Max(fileMax, double.Parse(line[..line.IndexOf(',', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        using JsonDocument normalizer = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "normalizer.json")));
        double max0 = normalizer.RootElement.GetProperty("max")[0].GetDouble();
        Assert.True(max0 <= fileMax * Math.Pow(2, 0.25) + 1e-9, $"secure max {max0} vs rows' max {fileMax}");
        Assert.True(max0 >= fileMax / Math.Pow(2, 0.25), $"secure max {max0} vs rows' max {fileMax}");
    }

    [Fact]
    public async Task CoordinatorAndWorkers_TonIot_DatasetOptionSizesTheModel_CompleteARound()
    {
        int port = LoopbackPorts.Free();
        Task<CliResult> coordinator = CliRunner.RunAsync(
            ["coordinator", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "2", "--dataset", "toniot",
             "--mud", Path.Combine(RepoPaths.Root, "samples", "mud-toniot"),
             "--device", "Fridge", "--device", "Weather", "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("Fridge", "pw-1"), ("Weather", "pw-2")),
             "--out", Path.Combine(_dir, "coordinator")],
            timeout: TimeSpan.FromMinutes(3));
        await LoopbackPorts.WaitForListenerAsync(port, coordinator);

        string broker = $"mqtt://127.0.0.1:{port}";
        Task<CliResult> Worker(string id, string password) => CliRunner.RunAsync(
            ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", broker, "--data", Path.Combine(RepoPaths.Data, "ton_iot", id + ".csv.gz"),
             "--task", "toniot-anomaly", "--mud-url", $"https://mud.fededge.example/toniot/{id}.json",
             "--state", Path.Combine(_dir, id + ".state.json"), "--exit-after-round", "2"],
            timeout: TimeSpan.FromMinutes(3));

        CliResult[] workers = await Task.WhenAll(Worker("Fridge", "pw-1"), Worker("Weather", "pw-2"));
        CliResult c = await coordinator;
        Assert.True(c.ExitCode == 0, c.Stdout + c.Stderr);
        Assert.Contains("round 2 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
        Assert.All(workers, w => Assert.True(w.ExitCode == 0, w.Stdout + w.Stderr));
    }

    /// <summary>A worker whose file does not match --dataset joins, stays up NotReady and says why (it never trains on misread rows).</summary>
    [Fact]
    public async Task Worker_DatasetThatDoesNotMatchTheFile_StaysNotReadyWithTheReason()
    {
        int port = LoopbackPorts.Free();
        string p = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using CliProcess coordinator = CliProcess.Start("coordinator", [
            "coordinator", "--port", p, "--rounds", "1", "--min-devices", "1", "--heartbeat", "1", "--dataset", "iot23",
            "--device", "Fridge=https://mud.example/fridge.json", "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("Fridge", "pw-1")), "--log-level", "warning", "--out", Path.Combine(_dir, "coordinator")]);
        await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the coordinator to listen");

        await using CliProcess worker = CliProcess.Start("Fridge", [
            "worker", "--device-id", "Fridge", "--password-file", SecretFiles.Write(_dir, "Fridge", "pw-1"), "--mud-url", "https://mud.example/fridge.json",
            "--broker", $"mqtt://127.0.0.1:{p}", "--data", Path.Combine(RepoPaths.Data, "ton_iot", "Fridge.csv.gz"), "--dataset", "iot23", "--heartbeat", "1"]);
        string line = await worker.WaitForLineAsync(l => l.Contains("Fridge: NotReady (bad local data:", StringComparison.Ordinal), TimeSpan.FromMinutes(1), "the worker's state");
        Assert.Contains("--dataset iot23 was given but this file's header is toniot", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
        worker.Kill();
        coordinator.Kill();
    }

    private static async Task<string[]> FeatureNamesAsync(string output)
    {
        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "normalizer.json")));
        return doc.RootElement.GetProperty("featureNames").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    private static async Task<string[]> ReadGzipLinesAsync(string path, int count)
    {
        await using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var lines = new List<string>();
        while (lines.Count < count && await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return [.. lines];
    }

    private static async Task WriteGzipLinesAsync(string path, IEnumerable<string> lines)
    {
        await using var gz = new GZipStream(File.Create(path), CompressionLevel.Optimal);
        await using var writer = new StreamWriter(gz);
        foreach (string line in lines)
        {
            await writer.WriteAsync(line + "\n");
        }
    }
}
