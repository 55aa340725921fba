using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The edge tier as processes (issue 14): one cloud coordinator on Mosquitto, two <c>fededge edge</c> processes, each
/// with its own embedded broker and two <c>fededge worker</c> devices. HierFAVG runs k2 edge rounds per cloud round;
/// an edge killed with <c>kill -9</c> in the middle of a cloud round makes that round fail cleanly, and the restarted
/// edge resumes it from its checkpoint (the edge rounds it had done are not run again) while its devices rejoin.
/// </summary>
public sealed partial class EdgeProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(3);

    private static readonly (string Edge, string Id, string File)[] Devices =
    [
        ("e1", "doorbell", "Danmini_Doorbell.csv.gz"),
        ("e1", "camera", "Provision_PT_737E_Security_Camera.csv.gz"),
        ("e2", "ennio", "Ennio_Doorbell.csv.gz"),
        ("e2", "thermostat", "Ecobee_Thermostat.csv.gz"),
    ];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-edge-" + Guid.NewGuid().ToString("N"));
    private readonly List<CliProcess> _processes = [];
    private readonly Dictionary<string, int> _edgePorts = new(StringComparer.Ordinal) { ["e1"] = LoopbackPorts.Free(), ["e2"] = LoopbackPorts.Free() };
    private MosquittoBroker? _mosquitto;

    /// <summary>
    /// k1 of edge e2: its devices take 4,000 local steps an edge round (a second or more), so a cloud round lasts long enough
    /// for a kill, a cut or a restart to land inside it. At 300 steps a whole cloud round took 0.4 s on CI, and e2 finished
    /// cloud round 2 before the test's kill arrived.
    /// </summary>
    private const int E2LocalSteps = 4000;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (CliProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        if (_mosquitto is not null)
        {
            await _mosquitto.DisposeAsync();
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>The cloud's Mosquitto with the cloud's and both edges' accounts; false when Mosquitto is not installed.</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(_mosquitto))]
    private async Task<bool> StartCloudBrokerAsync()
    {
        var config = new MosquittoConfig();
        config.Users["fededge-coordinator"] = "pw-cloud";
        config.Users["e1"] = "pw-e1";
        config.Users["e2"] = "pw-e2";
        _mosquitto = await MosquittoBroker.StartAsync(config);
        return _mosquitto is not null;
    }

    /// <summary>Starts both edges (e2 optionally through another port towards the cloud) and every device under its edge.</summary>
    private (CliProcess E1, CliProcess E2) StartEdgesAndDevices(int? e2CloudPort = null)
    {
        CliProcess e1 = StartEdge("e1");
        CliProcess e2 = StartEdge("e2", e2CloudPort);
        foreach ((string edge, string id, string file) in Devices)
        {
            StartDevice(edge, id, file);
        }

        return (e1, e2);
    }

    [Fact]
    public async Task KillEdge_MidCloudRound_RoundFailsCleanlyAndRestartedEdgeResumesItsEdgeRounds()
    {
        if (!await StartCloudBrokerAsync())
        {
            return; // No Mosquitto on this developer machine; CI installs it and must run this test.
        }

        // The cloud needs both edges in every round: losing one fails the round cleanly and the round is tried again.
        CliProcess cloud = StartCloud(rounds: 3);
        await cloud.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the cloud to reach Mosquitto");

        (CliProcess e1, CliProcess e2) = StartEdgesAndDevices();

        // Cloud round 1 completes with both edges, each after k2 = 3 edge rounds with both of its devices.
        await cloud.WaitForLineAsync(l => l.StartsWith("round 1 completed=True participants=2", StringComparison.Ordinal), Generous, "cloud round 1");
        await e1.WaitForLineAsync(l => l.StartsWith("cloud model 1 received", StringComparison.Ordinal), Generous, "e1 receiving cloud model 1");
        Assert.Equal([2, 2, 2], EdgeOutput.ParticipantsInCloudRound(e1, 1)); // e1 may already be into cloud round 2

        // Kill e2 once it has done one edge round of cloud round 2.
        await e2.WaitForLineAsync(l => l.StartsWith("cloud round 2:", StringComparison.Ordinal), Generous, "e2 working on cloud round 2");
        int before = EdgeOutput.EdgeRounds(e2).Length;
        await e2.WaitForLineAsync(l => EdgeOutput.EdgeLine().Match(l) is { Success: true } m && int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture) > before, Generous, "an edge round of cloud round 2");
        e2.Kill();

        // The cloud's round 2 fails cleanly without e2 (quorum of 2 not met); the federation goes on.
        await cloud.WaitForLineAsync(l => l.StartsWith("round 2 completed=False", StringComparison.Ordinal), Generous, "cloud round 2 failing without e2");
        Assert.False(cloud.HasExited, cloud.Describe());

        // Restarted with the same state folder, e2 resumes its edge coordinator and the cloud round where it stood.
        CliProcess restarted = StartEdge("e2");
        string listening = await restarted.WaitForLineAsync(l => l.StartsWith("edge e2 listening", StringComparison.Ordinal), Generous, "the restarted edge");
        Match resumedAfter = Regex.Match(listening, @"resumed after edge round (?<n>\d+)$");
        Assert.True(resumedAfter.Success, listening);
        int doneInRound2 = int.Parse(resumedAfter.Groups["n"].Value, CultureInfo.InvariantCulture) - 3;
        Assert.InRange(doneInRound2, 1, 2);
        string resumed = await restarted.WaitForLineAsync(l => l.StartsWith("cloud round 2:", StringComparison.Ordinal), Generous, "the retried cloud round 2");
        Assert.EndsWith($"resumed with {doneInRound2} of its edge rounds done", resumed, StringComparison.Ordinal);

        // Its devices rejoined: the remaining edge rounds have both of them, and the cloud rounds complete with both edges.
        await cloud.WaitForLineAsync(l => l.StartsWith("round 2 completed=True participants=2", StringComparison.Ordinal), Generous, "cloud round 2 with both edges");
        Assert.True(await cloud.WaitForExitAsync(Generous) == 0, cloud.Describe());
        Assert.Contains("round 3 completed=True participants=2", cloud.Stdout, StringComparison.Ordinal);
        Assert.True(await restarted.WaitForExitAsync(Generous) == 0, restarted.Describe());
        (int Round, int Participants)[] afterRestart = EdgeOutput.EdgeRounds(restarted);
        Assert.Equal(3 - doneInRound2 + 3, afterRestart.Length);
        Assert.All(afterRestart, r => Assert.Equal(2, r.Participants));
        Assert.Equal(3 + doneInRound2 + 1, afterRestart[0].Round);
        Assert.Contains("cloud model 3 received; devices 2 (training", restarted.Stdout, StringComparison.Ordinal);
        Assert.True(await e1.WaitForExitAsync(Generous) == 0, e1.Describe());
        Assert.Equal(9, EdgeOutput.EdgeRounds(e1).Length);
        Assert.DoesNotContain("   at ", cloud.Stderr + e1.Stderr + restarted.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillCloud_MidRound_EdgesKeepTheirDevicesAndRejoinTheRestartedCloud()
    {
        if (!await StartCloudBrokerAsync())
        {
            return; // No Mosquitto on this developer machine; CI installs it and must run this test.
        }

        CliProcess first = StartCloud(rounds: 3);
        await first.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the cloud to reach Mosquitto");
        (CliProcess e1, CliProcess e2) = StartEdgesAndDevices();

        await first.WaitForLineAsync(l => l.StartsWith("round 1 completed=True participants=2", StringComparison.Ordinal), Generous, "cloud round 1");
        await first.WaitForLineAsync(l => l.Contains("Round 2 started", StringComparison.Ordinal), Generous, "cloud round 2 started", stderr: true);
        first.Kill();

        // The restarted cloud resumes after round 1; the edges, never restarted, rejoin it by themselves with their devices.
        CliProcess second = StartCloud(rounds: 3);
        string listening = await second.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the restarted cloud");
        Assert.EndsWith("resumed after round 1", listening, StringComparison.Ordinal);
        Assert.True(await second.WaitForExitAsync(Generous) == 0, second.Describe() + e1.Describe() + e2.Describe());
        Assert.Contains("round 2 completed=True participants=2", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("round 3 completed=True participants=2", second.Stdout, StringComparison.Ordinal);
        foreach (CliProcess edge in new[] { e1, e2 })
        {
            Assert.True(await edge.WaitForExitAsync(Generous) == 0, edge.Describe());
            Assert.Single(edge.StdoutLines, l => l.Contains(" listening for devices", StringComparison.Ordinal));
            Assert.All(EdgeOutput.EdgeRounds(edge), r => Assert.Equal(2, r.Participants));
            Assert.Contains("cloud model 3 received; devices 2 (training", edge.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PartitionEdge_LongerThanItsHeartbeatTimeout_CloudMarksItLostThenItRejoins()
    {
        if (!await StartCloudBrokerAsync())
        {
            return; // No Mosquitto on this developer machine; CI installs it and must run this test.
        }

        // e2 reaches the cloud's broker through a relay the test can cut: its devices stay with it on its own broker.
        await using TcpRelay link = TcpRelay.Start(_mosquitto!.Port);
        int dashboardPort = LoopbackPorts.Free();
        CliProcess cloud = StartCloud(rounds: 3, dashboardPort);
        await cloud.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the cloud to reach Mosquitto");
        (CliProcess e1, CliProcess e2) = StartEdgesAndDevices(e2CloudPort: link.Port);

        await cloud.WaitForLineAsync(l => l.StartsWith("round 1 completed=True participants=2", StringComparison.Ordinal), Generous, "cloud round 1");

        // Across processes, the cloud's dashboard shows each edge with its devices in aggregate beneath it (issue 16).
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{dashboardPort.ToString(CultureInfo.InvariantCulture)}") })
        {
            using JsonDocument snapshot = JsonDocument.Parse(await http.GetStringAsync("/_fededge/snapshot"));
            JsonElement[] rows = [.. snapshot.RootElement.GetProperty("devices").EnumerateArray()];
            foreach (string edge in new[] { "e1", "e2" })
            {
                int at = Array.FindIndex(rows, r => r.GetProperty("id").GetString() == edge && r.GetProperty("edge").ValueKind == JsonValueKind.Null);
                Assert.True(at >= 0, snapshot.RootElement.ToString());
                JsonElement child = rows[at + 1];
                Assert.Equal(edge, child.GetProperty("edge").GetString());
                Assert.Equal("2 devices", child.GetProperty("id").GetString());
                JsonElement aggregate = child.GetProperty("aggregate");
                Assert.Equal(2, aggregate.GetProperty("devices").GetInt32());
                Assert.Equal(2, aggregate.GetProperty("training").GetInt32());
                Assert.True(child.GetProperty("bytesUp").GetInt64() > 0, child.ToString());
                Assert.True(child.GetProperty("bytesDown").GetInt64() > 0, child.ToString());
            }
        }

        // Cut e2 off. The cloud hears nothing from it for longer than 4 missed heartbeats of 0.5 s: it marks e2 lost.
        link.Cut();
        await cloud.WaitForLineAsync(l => l.Contains("Device e2 is lost", StringComparison.Ordinal), Generous, "the cloud to mark e2 lost", stderr: true);
        Assert.DoesNotContain("Device e1 is lost", cloud.Stderr, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(3)); // Stay cut well past the heartbeat timeout: e2 must stay lost meanwhile.
        Assert.DoesNotContain(cloud.StderrLines, l => l.Contains("Device e2 is back", StringComparison.Ordinal));
        Assert.False(e2.HasExited, e2.Describe());

        // Healed, e2 comes back by itself (nothing restarted) and the federation completes with both edges.
        link.Heal();
        await cloud.WaitForLineAsync(l => l.Contains("Device e2 is back after being lost", StringComparison.Ordinal), Generous, "e2 to come back", stderr: true);
        Assert.True(await cloud.WaitForExitAsync(Generous) == 0, cloud.Describe() + e2.Describe());
        Assert.Contains("round 3 completed=True participants=2", cloud.Stdout, StringComparison.Ordinal);
        foreach (CliProcess edge in new[] { e1, e2 })
        {
            Assert.True(await edge.WaitForExitAsync(Generous) == 0, edge.Describe());
            Assert.Single(edge.StdoutLines, l => l.Contains(" listening for devices", StringComparison.Ordinal));
            Assert.Contains("cloud model 3 received; devices 2 (training", edge.Stdout, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("   at ", cloud.Stderr + e1.Stderr + e2.Stderr, StringComparison.Ordinal);

        // The cloud's run report holds the tree too, and each device's (edge's) bytes from its heartbeats.
        string reportPath = Assert.Single(Directory.GetFiles(Path.Combine(_dir, "runs"), "report.json", SearchOption.AllDirectories));
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath));
        JsonElement[] treeEdges = [.. report.RootElement.GetProperty("tree").GetProperty("edges").EnumerateArray()];
        Assert.Equal(["e1", "e2"], treeEdges.Select(e => e.GetProperty("edge").GetString()));
        Assert.All(treeEdges, e => Assert.Equal(2, e.GetProperty("devices").GetInt32()));
        JsonElement[] reported = [.. report.RootElement.GetProperty("devices").EnumerateArray()];
        Assert.All(reported, d => Assert.True(d.GetProperty("bytes_sent").GetInt64() > 0, d.ToString()));
        Assert.All(reported, d => Assert.Equal(2, d.GetProperty("edge_devices").GetProperty("devices").GetInt32()));
    }

    [Fact]
    public async Task Worker_ItsEdgeKilled_StopsOnSigterm()
    {
        // Once seen: a worker whose edge had gone kept retrying it and ignored SIGTERM (the host's console lifetime took
        // the signal from the command). The edge here has no cloud to reach; it only needs to serve its device.
        CliProcess edge = Track(CliProcess.Start("e1", [
            "edge", "--edge-id", "e1", "--cloud", $"mqtt://127.0.0.1:{LoopbackPorts.Free().ToString(CultureInfo.InvariantCulture)}", "--password-file", SecretFiles.Write(_dir, "e1", "pw-e1"),
            "--port", _edgePorts["e1"].ToString(CultureInfo.InvariantCulture), "--device", "doorbell=https://mud.example/doorbell.json",
            "--device-passwords", SecretFiles.WriteDevicePasswords(Path.Combine(_dir, "e1-secrets"), ("doorbell", "pw-doorbell")),
            "--heartbeat", "0.5", "--state", Path.Combine(_dir, "e1")]));
        await edge.WaitForLineAsync(l => l.StartsWith("edge e1 listening for devices", StringComparison.Ordinal), Generous, "the edge");
        StartDevice("e1", "doorbell", "Danmini_Doorbell.csv.gz");
        CliProcess device = _processes[^1];
        await device.WaitForLineAsync(l => l.StartsWith("doorbell: ", StringComparison.Ordinal), Generous, "the device to join its edge");

        edge.Kill();
        await Task.Delay(TimeSpan.FromSeconds(3)); // The device is now retrying a broker that is gone.
        device.Terminate();
        await device.WaitForExitAsync(TimeSpan.FromSeconds(30)); // Fails the test when SIGTERM is ignored.
        Assert.DoesNotContain("   at ", device.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Edge_OverGrpcToTheCloud_RunsCloudRoundsWithTheCloudsK1AndK2()
    {
        // The cloud serves gRPC on loopback; its tasks carry k1 and k2, which override the edge's own --k1 and --k2.
        int grpcPort = LoopbackPorts.Free();
        CliProcess cloud = Track(CliProcess.Start("cloud", [
            "coordinator", "--grpc", grpcPort.ToString(CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "1", "--heartbeat", "0.5",
            "--hierfavg-k1", "50", "--hierfavg-k2", "2",
            "--device", "e1=https://mud.example/e1.json", "--device-passwords", SecretFiles.WriteDevicePasswords(Path.Combine(_dir, "cloud-secrets"), ("e1", "tok-e1")), "--out", Path.Combine(_dir, "cloud"), "--runs", Path.Combine(_dir, "runs")]));
        string listening = await cloud.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the gRPC cloud");
        Assert.Contains("gRPC with device tokens, http://127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture), listening, StringComparison.Ordinal);

        CliProcess edge = Track(CliProcess.Start("e1", [
            "edge", "--edge-id", "e1", "--cloud", $"http://127.0.0.1:{grpcPort.ToString(CultureInfo.InvariantCulture)}", "--password-file", SecretFiles.Write(_dir, "e1", "tok-e1"),
            "--mud-url", "https://mud.example/e1.json", "--port", _edgePorts["e1"].ToString(CultureInfo.InvariantCulture),
            .. Devices.Where(d => d.Edge == "e1").SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
            "--device-passwords", SecretFiles.WriteDevicePasswords(Path.Combine(_dir, "e1-secrets"), [.. Devices.Where(d => d.Edge == "e1").Select(d => (d.Id, "pw-" + d.Id))]),
            "--min-devices", "2", "--k1", "5", "--k2", "1", "--heartbeat", "0.5", "--state", Path.Combine(_dir, "e1"), "--exit-after-round", "2"]));
        foreach ((string e, string id, string file) in Devices.Where(d => d.Edge == "e1"))
        {
            StartDevice(e, id, file);
        }

        Assert.True(await cloud.WaitForExitAsync(Generous) == 0, cloud.Describe());
        Assert.Contains("round 2 completed=True participants=1", cloud.Stdout, StringComparison.Ordinal);
        Assert.True(await edge.WaitForExitAsync(Generous) == 0, edge.Describe());
        Assert.Contains("edge e1 joined the cloud http://127.0.0.1:", edge.Stdout, StringComparison.Ordinal);
        Assert.Contains("cloud round 1: k1=50 k2=2", edge.Stdout, StringComparison.Ordinal);
        Assert.Contains("cloud round 2: k1=50 k2=2", edge.Stdout, StringComparison.Ordinal);
        Assert.Equal(4, EdgeOutput.EdgeRounds(edge).Length);
        Assert.All(EdgeOutput.EdgeRounds(edge), r => Assert.Equal(2, r.Participants));
    }

    private CliProcess StartCloud(int rounds, int? dashboardPort = null) => Track(CliProcess.Start("cloud", [
        "coordinator", .. dashboardPort is int dashboard ? new[] { "--dashboard", "127.0.0.1:" + dashboard.ToString(CultureInfo.InvariantCulture) } : [],
        "--broker", _mosquitto!.Uri.ToString(), "--password-file", SecretFiles.Write(_dir, "cloud", "pw-cloud"),
        "--rounds", rounds.ToString(CultureInfo.InvariantCulture), "--min-devices", "2", "--window", "90", "--round-timeout", "120", "--heartbeat", "0.5", "--missed-heartbeats", "4",
        "--device", "e1=https://mud.example/e1.json", "--device", "e2=https://mud.example/e2.json",
        "--out", Path.Combine(_dir, "cloud"), "--runs", Path.Combine(_dir, "runs"), "--verbose"]));

    private CliProcess StartEdge(string edge, int? cloudPort = null) => Track(CliProcess.Start(edge, [
        "edge", "--edge-id", edge, "--cloud", cloudPort is int relayed ? $"mqtt://127.0.0.1:{relayed.ToString(CultureInfo.InvariantCulture)}" : _mosquitto!.Uri.ToString(), "--password-file", SecretFiles.Write(_dir, edge, "pw-" + edge),
        "--mud-url", $"https://mud.example/{edge}.json", "--port", _edgePorts[edge].ToString(CultureInfo.InvariantCulture),
        .. Devices.Where(d => d.Edge == edge).SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
        "--device-passwords", SecretFiles.WriteDevicePasswords(Path.Combine(_dir, edge + "-secrets"), [.. Devices.Where(d => d.Edge == edge).Select(d => (d.Id, "pw-" + d.Id))]),
        "--min-devices", "2", "--window", "60", "--k1", (edge == "e2" ? E2LocalSteps : 300).ToString(CultureInfo.InvariantCulture), "--k2", "3", "--heartbeat", "0.5", "--missed-heartbeats", "4",
        "--state", Path.Combine(_dir, edge), "--exit-after-round", "3"]));

    private void StartDevice(string edge, string id, string file) => Track(CliProcess.Start(id, [
        "worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, "pw-" + id), "--mud-url", $"https://mud.example/{id}.json",
        "--broker", $"mqtt://127.0.0.1:{_edgePorts[edge].ToString(CultureInfo.InvariantCulture)}",
        "--data", Path.Combine(RepoPaths.Root, "samples", "data", file), "--heartbeat", "0.5", "--state", Path.Combine(_dir, id + ".state.json")]));

    private CliProcess Track(CliProcess process)
    {
        _processes.Add(process);
        return process;
    }
}
