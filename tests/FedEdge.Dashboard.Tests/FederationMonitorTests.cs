using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Privacy;

namespace FedEdge.Dashboard.Tests;

public sealed class FederationMonitorTests
{
    private static readonly ParameterSet Parameters = new(new ParameterLayout(new TensorSpec("w", 2)));

    [Fact]
    public void RecordRound_TwoRounds_DeviceFiguresAddUpAndRefusalsKeepTheirReasons()
    {
        var monitor = new FederationMonitor();
        long before = monitor.Version;
        monitor.RecordRound(Round(1, completed: true) with { Contributors = ["a", "b"], Refused = [new RefusedUpdate("c", 1, "replayed update")] }, [Usage("a", 100, 61.5, false), Usage("b", 50, null, null)]);
        monitor.RecordRound(Round(2, completed: false) with { FailureReason = "quorum not met", Failed = [new RefusedUpdate("b", 2, "no update before the deadline")], Privacy = new PrivacySpent(1.25, 1e-5, 2, null, null) }, [Usage("a", 10, 72.0, true)]);

        Assert.True(monitor.Version > before);
        DashboardSnapshot s = monitor.BuildSnapshot();
        Assert.Equal(1.25, s.Epsilon);
        Assert.Equal([1L, 2L], s.Rounds.Select(r => r.Round));
        Assert.Equal(["a", "b"], s.Rounds[0].Accepted);
        Assert.Equal(new ReasonEntry("c", "replayed update"), Assert.Single(s.Rounds[0].Refused));
        Assert.False(s.Rounds[1].Completed);
        Assert.Equal("quorum not met", s.Rounds[1].Failure);
        Assert.Equal(new ReasonEntry("b", "no update before the deadline"), Assert.Single(s.Rounds[1].Refused));
        DeviceEntry a = s.Devices.Single(d => d.Id == "a");
        Assert.Equal((110L, 220L, 2.0, 72.0, true), (a.BytesUp, a.BytesDown, a.TrainingSeconds, a.TemperatureCelsius, a.Throttled));
        DeviceEntry b = s.Devices.Single(d => d.Id == "b");
        Assert.Equal((50L, 1.0, (double?)null), (b.BytesUp, b.TrainingSeconds, b.TemperatureCelsius));
        Assert.Contains("series-loss", s.QualityChart, StringComparison.Ordinal);
        Assert.Contains("series-up", s.BytesChart, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordRound_LedgerHeadAndReputation_ShownOnTheRoundAndTheDevices()
    {
        var monitor = new FederationMonitor();
        byte[] root = [0xab, 0x01, 0xff];
        var head = new FedEdge.Transparency.SignedTreeHead(7, root, DateTimeOffset.UnixEpoch, new byte[] { 1, 2, 3 });
        monitor.RecordRound(Round(1, completed: true) with
        {
            Contributors = ["a", "b"],
            LedgerHead = head,
            Committee = new FedEdge.Transparency.CommitteeResult
            {
                CoSignatures = [new FedEdge.Transparency.CoSignature("v0", new byte[] { 9, 9 })],
                Witnesses = [new("v0", true, null), new("v1", false, "down: unreachable")],
                Quorum = 1,
            },
            ReputationScores = new Dictionary<string, double> { ["a"] = 0.95, ["b"] = 0.4 },
            ReputationChanges = [new FedEdge.Reputation.ReputationChange("b", 1, 0.7, 0.4, "outlier", Quarantined: true)],
        }, [Usage("a", 10, null, null), Usage("b", 10, null, null)]);
        monitor.RecordRound(Round(2, completed: true) with { Contributors = ["a"], ReputationScores = new Dictionary<string, double> { ["a"] = 1.0 } });

        DashboardSnapshot s = monitor.BuildSnapshot();
        Assert.Equal(7L, s.Rounds[0].LedgerSize);
        Assert.Equal("ab01ff", s.Rounds[0].LedgerRoot);
        Assert.Equal(Convert.ToBase64String(new byte[] { 1, 2, 3 }), s.Rounds[0].LedgerSignature);
        Assert.Equal(1, s.Rounds[0].CommitteeQuorum);
        Assert.Equal([new WitnessEntry("v0", true, Convert.ToBase64String(new byte[] { 9, 9 })), new WitnessEntry("v1", false, "down: unreachable")], s.Rounds[0].Committee);
        Assert.Contains("b: 0.70 → 0.40 (outlier), quarantined", Assert.Single(s.Rounds[0].ReputationChanges), StringComparison.Ordinal);
        Assert.Null(s.Rounds[1].LedgerSize);
        Assert.Equal(1.0, s.Devices.Single(d => d.Id == "a").Reputation);
        Assert.Equal(0.4, s.Devices.Single(d => d.Id == "b").Reputation);
    }

    [Fact]
    public void RecordRound_EdgeSummariesFromOtherProcesses_ShownAsEachEdgesDevicesInAggregate()
    {
        var monitor = new FederationMonitor();
        var first = new FedEdge.Hierarchy.EdgeDeviceSummary { Devices = 3, Training = 2, NotReady = 1, Refused = 1, Throttled = 1, MaxTemperatureCelsius = 58.5, MeanTemperatureCelsius = 51.0, BytesToDevices = 900, BytesFromDevices = 400 };
        monitor.RecordRound(Round(1, completed: true) with { Contributors = ["e1"], EdgeSummaries = new Dictionary<string, FedEdge.Hierarchy.EdgeDeviceSummary> { ["e1"] = first } });

        DeviceEntry aggregate = Assert.Single(monitor.BuildSnapshot().Devices, d => d.Edge == "e1");
        Assert.Equal("3 devices", aggregate.Id);
        Assert.Equal("2 training, 0 inference, 1 not ready, 1 refused", aggregate.State);
        Assert.Equal((58.5, (bool?)true, 400L, 900L), (aggregate.TemperatureCelsius, aggregate.Throttled, aggregate.BytesUp, aggregate.BytesDown));
        Assert.Equal(new EdgeAggregateEntry(3, 2, 0, 1, 1, 1, 51.0), aggregate.Aggregate);

        // A later round's report replaces the edge's summary; a round without it keeps the last one.
        monitor.RecordRound(Round(2, completed: true) with { Contributors = ["e1"], EdgeSummaries = new Dictionary<string, FedEdge.Hierarchy.EdgeDeviceSummary> { ["e1"] = first with { Devices = 4, Training = 4, NotReady = 0 } } });
        monitor.RecordRound(Round(3, completed: false));
        Assert.Equal("4 devices", Assert.Single(monitor.BuildSnapshot().Devices, d => d.Edge == "e1").Id);
    }

    [Fact]
    public void BuildSnapshot_NothingAttached_EmptyButValid()
    {
        DashboardSnapshot s = new FederationMonitor { Federation = "f" }.BuildSnapshot();

        Assert.Equal("f", s.Federation);
        Assert.Empty(s.Devices);
        Assert.Empty(s.Rounds);
        Assert.Equal(nameof(RoundPhase.Idle), s.Phase);
        Assert.StartsWith("<svg", s.QualityChart, StringComparison.Ordinal);
    }

    private static RoundResult Round(long round, bool completed) => new()
    {
        Round = round,
        Completed = completed,
        GlobalParameters = Parameters,
        GlobalHash = "h",
        TrainingLoss = 0.5 / round,
        BytesUp = 1000 * round,
        BytesDown = 2000 * round,
        Evaluation = new Dictionary<string, double> { ["f1"] = 0.9 },
    };

    private static DeviceRoundUsage Usage(string id, long bytes, double? temperature, bool? throttled) =>
        new() { DeviceId = id, BytesUp = bytes, BytesDown = 2 * bytes, TrainingTime = TimeSpan.FromSeconds(1), TemperatureCelsius = temperature, Throttled = throttled };
}
