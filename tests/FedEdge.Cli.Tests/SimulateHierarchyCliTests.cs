using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge simulate --topology hierfavg|model2</c>: the tree of edges and devices, bytes per tier, F1 against flat FedAvg, and Model-2's row uploads.</summary>
public sealed class SimulateHierarchyCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-hier-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_HierFavgTwoEdges_ReportsTreeAndTiersAndMatchesFlatFedAvgWithinOnePoint()
    {
        // The same data, seed and device computation: 10 flat rounds of k1 = 20 steps vs 5 cloud rounds of k2 = 2 edge rounds.
        CliResult flat = await CliRunner.RunAsync(["simulate", "--rounds", "10", "--thermal", "off", "--out", Path.Combine(_out, "flat"), "--runs", Path.Combine(_out, "runs")], workingDirectory: RepoPaths.Root);
        Assert.True(flat.ExitCode == 0, flat.Stdout + flat.Stderr);
        CliResult hier = await CliRunner.RunAsync(
            ["simulate", "--topology", "hierfavg", "--edges", "2", "--k2", "2", "--rounds", "5", "--thermal", "off", "--out", Path.Combine(_out, "hier"), "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root);
        Assert.True(hier.ExitCode == 0, hier.Stdout + hier.Stderr);
        Assert.Contains("cloud tier: 2 edge updates", hier.Stdout, StringComparison.Ordinal);

        using JsonDocument flatReport = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "flat", "report.json")));
        using JsonDocument hierReport = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "hier", "report.json")));
        JsonElement h = hierReport.RootElement;
        Assert.Equal("hierfavg", h.GetProperty("config").GetProperty("topology").GetString());
        Assert.Equal(2, h.GetProperty("config").GetProperty("k2").GetInt32());

        // The tree: two edges, the six devices (four with data, two intruders) dealt between them.
        JsonElement[] edges = [.. h.GetProperty("tree").GetProperty("edges").EnumerateArray()];
        Assert.Equal(["edge-0", "edge-1"], edges.Select(e => e.GetProperty("edge").GetString()));
        Assert.Equal(6, edges.Sum(e => e.GetProperty("devices").GetArrayLength()));
        Assert.Equal(2, h.GetProperty("refused").GetArrayLength());

        // The cloud's transparency log holds the edges' (unsigned) updates and verifies with the command the report names.
        string verify = h.GetProperty("ledger").GetProperty("verify").GetString()!;
        Assert.DoesNotContain("--ca", verify, StringComparison.Ordinal);
        CliResult verified = await CliRunner.RunAsync(["ledger", "verify", "--log", Path.Combine(_out, "hier", "ledger")], workingDirectory: RepoPaths.Root);
        Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);

        // Per cloud round: one update per edge reaches the cloud; the edge tier ran k2 rounds per edge.
        JsonElement[] rounds = [.. h.GetProperty("rounds").EnumerateArray()];
        Assert.Equal(5, rounds.Length);
        foreach (JsonElement r in rounds)
        {
            JsonElement cloud = r.GetProperty("tiers").GetProperty("cloud");
            JsonElement edge = r.GetProperty("tiers").GetProperty("edge");
            Assert.Equal(2, cloud.GetProperty("updates").GetInt32());
            Assert.Equal(4, edge.GetProperty("edge_rounds").GetInt32());
            Assert.True(edge.GetProperty("bytes_up").GetInt64() > 3 * cloud.GetProperty("bytes_up").GetInt64(), r.ToString());
        }

        // Flat, the coordinator receives every device's update each round: at least twice the cloud's inbound bytes here.
        double flatUp = flatReport.RootElement.GetProperty("rounds").EnumerateArray().Average(r => r.GetProperty("bytes_up").GetInt64());
        double cloudUp = rounds.Average(r => r.GetProperty("tiers").GetProperty("cloud").GetProperty("bytes_up").GetInt64());
        Assert.True(flatUp >= 1.9 * cloudUp, $"flat {flatUp} B/round vs cloud {cloudUp} B/round");

        double flatF1 = flatReport.RootElement.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble();
        double hierF1 = h.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble();
        Assert.True(Math.Abs(flatF1 - hierF1) <= 0.01, $"HierFAVG F1 {hierF1} vs flat FedAvg F1 {flatF1}");
    }

    [Fact]
    public async Task Simulate_Model2_TrustedDevicesUploadRowsOverTlsAndTheEdgesTrainOnThem()
    {
        // Three devices trusted; the camera and the two intruders are not: their rows never leave them.
        string[] trusted = ["Danmini_Doorbell", "Ennio_Doorbell", "Ecobee_Thermostat"];
        CliResult run = await CliRunner.RunAsync(
            ["simulate", "--topology", "model2", "--edges", "2", "--rounds", "3", "--thermal", "off", .. trusted.SelectMany(t => new[] { "--trusted-device", t }), "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains("Danmini_Doorbell: 1919 normalised rows", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Provision_PT_737E_Security_Camera: row upload refused by edge-1 (Untrusted), no row sent", run.Stdout, StringComparison.Ordinal);

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement r = report.RootElement;
        Assert.Equal("model2", r.GetProperty("config").GetProperty("topology").GetString());
        JsonElement model2 = r.GetProperty("model2");
        Assert.Equal("tls", model2.GetProperty("link").GetString());
        Assert.Equal(trusted.Order(StringComparer.Ordinal), model2.GetProperty("uploaded_devices").EnumerateArray().Select(d => d.GetString()!).Order(StringComparer.Ordinal));
        JsonElement[] uploads = [.. model2.GetProperty("uploads").EnumerateArray()];
        Assert.Equal(6, uploads.Length);
        Assert.All(uploads.Where(u => !u.GetProperty("accepted").GetBoolean()), u =>
        {
            Assert.Equal("Untrusted", u.GetProperty("refusal").GetString());
            Assert.Equal(0, u.GetProperty("bytes").GetInt64());
        });
        long sent = uploads.Where(u => u.GetProperty("accepted").GetBoolean()).Sum(u => u.GetProperty("bytes").GetInt64());
        Assert.True(sent > 0);
        Assert.Equal(sent, model2.GetProperty("uploaded_bytes").GetInt64());

        // The edges trained on the rows they hold: both are the cloud's participants and the model learned.
        JsonElement[] rounds = [.. r.GetProperty("rounds").EnumerateArray()];
        Assert.Equal(3, rounds.Length);
        Assert.All(rounds, x => Assert.Equal(2, x.GetProperty("participants").GetInt32()));
        Assert.True(r.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble() > 0.9, r.GetProperty("final").ToString());
        JsonElement camera = r.GetProperty("final").GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("device").GetString() == "Provision_PT_737E_Security_Camera");
        Assert.StartsWith("rows refused: ", camera.GetProperty("note").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_TrustedDeviceWithoutModel2_ExitTwo()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--trusted-device", "Danmini_Doorbell", "--out", _out], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--trusted-device is for --topology model2", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ring", "must be flat, hierfavg or model2")]
    public async Task Simulate_UnsupportedTopology_ExitTwoWithOneLine(string topology, string message)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--topology", topology, "--out", _out], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }
}
