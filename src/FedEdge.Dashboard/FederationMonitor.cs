using FedEdge.Coordination;
using FedEdge.Devices;

namespace FedEdge.Dashboard;

/// <summary>
/// What the dashboard shows: a coordinator's live state (phase, devices, refusals, read when a snapshot is
/// built) and the history of its rounds (recorded by the host with <see cref="RecordRound"/>). Events only mark
/// the state changed; the dashboard builds one snapshot per push interval, shared by every browser.
/// Thread-safe.
/// </summary>
public sealed class FederationMonitor
{
    private readonly Lock _gate = new();
    private readonly List<RoundEntry> _rounds = [];
    private readonly Dictionary<string, DeviceTotals> _totals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Coordinator> _edges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _reputation = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FedEdge.Hierarchy.EdgeDeviceSummary> _edgeSummaries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private Coordinator? _coordinator;
    private long _version;
    private long _phaseRound;
    private RoundPhase _phase;
    private string? _stopReason;

    /// <summary>Creates an empty monitor.</summary>
    /// <param name="timeProvider">The clock for heartbeat ages; null uses the system clock.</param>
    public FederationMonitor(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>The federation's name shown in the page title.</summary>
    public string Federation { get; set; } = "federation";

    /// <summary>Grows by one with every change; the dashboard pushes a new snapshot only when it moved.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>
    /// Watches <paramref name="coordinator"/>: its phase changes and device changes (admissions, refusals,
    /// statuses and heartbeats). Dispose the result to stop watching.
    /// </summary>
    public IDisposable Attach(Coordinator coordinator)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        Action devices = Touch;
        Action<long, RoundPhase> phase = (round, p) =>
        {
            lock (_gate)
            {
                _phaseRound = round;
                _phase = p;
            }

            Touch();
        };
        lock (_gate)
        {
            _coordinator = coordinator;
        }

        coordinator.DevicesChanged += devices;
        coordinator.PhaseChanged += phase;
        Touch();
        return new Detach(() =>
        {
            coordinator.DevicesChanged -= devices;
            coordinator.PhaseChanged -= phase;
        });
    }

    /// <summary>
    /// Watches the coordinator of an edge (fog) aggregator in a hierarchy (<see cref="FedEdge.Hierarchy.EdgeAggregator"/>):
    /// its devices are shown under <paramref name="edgeId"/>, the id the edge has as a device of the cloud coordinator.
    /// Dispose the result to stop watching.
    /// </summary>
    public IDisposable AttachEdge(string edgeId, Coordinator edgeCoordinator)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(edgeId);
        ArgumentNullException.ThrowIfNull(edgeCoordinator);
        Action devices = Touch;
        lock (_gate)
        {
            _edges[edgeId] = edgeCoordinator;
        }

        edgeCoordinator.DevicesChanged += devices;
        Touch();
        return new Detach(() =>
        {
            edgeCoordinator.DevicesChanged -= devices;
            lock (_gate)
            {
                _edges.Remove(edgeId);
            }

            Touch();
        });
    }

    /// <summary>
    /// Records a finished round (completed or failed) and, when the host measured them, each device's figures in
    /// it (bytes, training time, temperature, throttling, governor note); figures add up per device over rounds.
    /// </summary>
    public void RecordRound(RoundResult result, IEnumerable<DeviceRoundUsage>? devices = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var entry = new RoundEntry(
            result.Round,
            result.Completed,
            result.FailureReason,
            result.Participants,
            result.TrainingLoss,
            Metric(result, "f1"),
            result.BytesUp,
            result.BytesDown,
            result.Duration.TotalSeconds,
            result.Epsilon,
            [.. result.Contributors],
            [.. result.Refused.Concat(result.Failed).Select(r => new ReasonEntry(r.DeviceId, r.Reason))])
        {
            LedgerSize = result.LedgerHead?.Size,
            LedgerRoot = result.LedgerHead is { } head ? Convert.ToHexStringLower(head.RootHash.Span) : null,
            LedgerSignature = result.LedgerHead is { } signed ? Convert.ToBase64String(signed.Signature.Span) : null,
            CommitteeQuorum = result.Committee?.Quorum,
            Committee = result.Committee is not { } committee ? [] : [.. committee.Witnesses.Select(w => new WitnessEntry(
                w.Witness,
                w.Signed,
                w.Signed ? Convert.ToBase64String(committee.CoSignatures.First(c => c.Witness == w.Witness).Signature.Span) : w.Problem ?? string.Empty))],
            ReputationChanges = [.. result.ReputationChanges.Select(c => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{c.DeviceId}: {c.PreviousScore:0.00} → {c.Score:0.00} ({c.Reason}){(c.Quarantined ? ", quarantined" : string.Empty)}"))],
        };
        lock (_gate)
        {
            _rounds.Add(entry);
            foreach ((string device, double score) in result.ReputationScores)
            {
                _reputation[device] = score;
            }

            foreach ((string edge, FedEdge.Hierarchy.EdgeDeviceSummary summary) in result.EdgeSummaries)
            {
                _edgeSummaries[edge] = summary;
            }

            foreach (DeviceRoundUsage d in devices ?? [])
            {
                DeviceTotals t = _totals.TryGetValue(d.DeviceId, out DeviceTotals? prior) ? prior : _totals[d.DeviceId] = new DeviceTotals();
                t.BytesUp += d.BytesUp;
                t.BytesDown += d.BytesDown;
                t.TrainingSeconds += d.TrainingTime.TotalSeconds;
                t.Temperature = d.TemperatureCelsius ?? t.Temperature;
                t.Throttled = d.Throttled ?? t.Throttled;
                t.GovernorNote = d.GovernorNote;
            }

            if (result.IsLast)
            {
                _stopReason = result.StopReason;
            }
        }

        Touch();
    }

    /// <summary>Builds the current snapshot: O(devices + rounds), called once per push for all browsers.</summary>
    internal DashboardSnapshot BuildSnapshot()
    {
        long version = Version;
        Coordinator? coordinator;
        RoundEntry[] rounds;
        Dictionary<string, DeviceTotals> totals;
        long phaseRound;
        RoundPhase phase;
        string? stop;
        KeyValuePair<string, Coordinator>[] edges;
        Dictionary<string, double> reputation;
        KeyValuePair<string, FedEdge.Hierarchy.EdgeDeviceSummary>[] summaries;
        lock (_gate)
        {
            summaries = [.. _edgeSummaries];
            reputation = new Dictionary<string, double>(_reputation, StringComparer.Ordinal);
            coordinator = _coordinator;
            edges = [.. _edges];
            rounds = [.. _rounds];
            totals = _totals.ToDictionary(p => p.Key, p => p.Value.Clone(), StringComparer.Ordinal);
            phaseRound = _phaseRound;
            phase = _phase;
            stop = _stopReason;
        }

        DateTimeOffset now = _time.GetUtcNow();
        List<DeviceEntry> devices = Devices(coordinator, null, totals, now);
        foreach ((string edgeId, Coordinator edge) in edges.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            // The edge → device tree: each edge's devices right after the edge's own row (added when the cloud does not list it).
            int at = devices.FindIndex(d => d.Id == edgeId && d.Edge is null);
            if (at < 0)
            {
                devices.Add(new DeviceEntry(edgeId, "Edge", null, null, null, null, 0, 0, 0, null));
                at = devices.Count - 1;
            }

            devices.InsertRange(at + 1, Devices(edge, edgeId, totals, now));
        }

        // Edges in other processes: their devices in aggregate, as each edge last reported them with its update.
        foreach ((string edgeId, FedEdge.Hierarchy.EdgeDeviceSummary s) in summaries.Where(s => !edges.Any(e => e.Key == s.Key)).OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            int at = devices.FindIndex(d => d.Id == edgeId && d.Edge is null);
            var aggregate = new DeviceEntry(
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{s.Devices} devices"),
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{s.Training} training, {s.Inference} inference, {s.NotReady} not ready, {s.Refused} refused"),
                null,
                s.MaxTemperatureCelsius,
                s.Devices == 0 ? null : s.Throttled > 0,
                null,
                s.BytesFromDevices,
                s.BytesToDevices,
                0,
                null)
            { Edge = edgeId, Aggregate = new EdgeAggregateEntry(s.Devices, s.Training, s.Inference, s.NotReady, s.Refused, s.Throttled, s.MeanTemperatureCelsius) };
            if (at < 0)
            {
                devices.Add(aggregate);
            }
            else
            {
                devices.Insert(at + 1, aggregate);
            }
        }

        // Devices the host measured in rounds but no watched coordinator lists (none attached, or gone since).
        foreach ((string id, DeviceTotals t) in totals.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            devices.Add(new DeviceEntry(id, "Unlisted", null, t.Temperature, t.Throttled, t.GovernorNote, t.BytesUp, t.BytesDown, t.TrainingSeconds, null));
        }

        if (reputation.Count > 0)
        {
            devices = [.. devices.Select(d => reputation.TryGetValue(d.Id, out double score) ? d with { Reputation = score } : d)];
        }

        RoundEntry? last = rounds.Length > 0 ? rounds[^1] : null;
        return new DashboardSnapshot(
            version,
            Federation,
            phaseRound,
            phase.ToString(),
            last?.Participants ?? 0,
            last?.Epsilon,
            stop,
            devices,
            rounds,
            SvgCharts.Quality(rounds),
            SvgCharts.Bytes(rounds));
    }

    /// <summary>The admitted devices of one coordinator, then its refused ones, each ordered by id.</summary>
    private static List<DeviceEntry> Devices(Coordinator? coordinator, string? edge, Dictionary<string, DeviceTotals> totals, DateTimeOffset now)
    {
        var admitted = new List<DeviceEntry>();

        // Bytes: the host's per-round figures where it measured them (simulate), else what the coordinator's transport
        // counted for the authenticated device (never the device's own telemetry, which a device could make up).
        IReadOnlyDictionary<string, FedEdge.Messaging.DeviceTraffic> traffic = coordinator?.TransportStatistics.PerDevice
            ?? new Dictionary<string, FedEdge.Messaging.DeviceTraffic>();
        foreach (DeviceStatus s in coordinator?.Devices ?? [])
        {
            totals.Remove(s.DeviceId, out DeviceTotals? t);
            traffic.TryGetValue(s.DeviceId, out FedEdge.Messaging.DeviceTraffic counted);
            admitted.Add(new DeviceEntry(
                s.DeviceId,
                s.Intent.ToString(),
                Math.Max(0, (now - s.ReceivedAt).TotalSeconds),
                s.Telemetry.TemperatureCelsius ?? t?.Temperature,
                s.Telemetry.Throttled ?? t?.Throttled,
                t?.GovernorNote ?? s.Reason,
                t?.BytesUp ?? counted.BytesReceived,
                t?.BytesDown ?? counted.BytesSent,
                t?.TrainingSeconds ?? 0,
                null)
            { Edge = edge });
        }

        var refused = (coordinator?.RefusedDevices ?? [])
            .Select(r => new DeviceEntry(r.DeviceId, "Refused", null, null, null, null, 0, 0, 0, string.Join("; ", r.Reasons)) { Edge = edge })
            .ToList();
        admitted.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        refused.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return [.. admitted, .. refused];
    }

    private static double? Metric(RoundResult result, string name) => result.Evaluation.TryGetValue(name, out double v) ? v : null;

    private void Touch() => Interlocked.Increment(ref _version);

    private sealed class DeviceTotals
    {
        public long BytesUp { get; set; }

        public long BytesDown { get; set; }

        public double TrainingSeconds { get; set; }

        public double? Temperature { get; set; }

        public bool? Throttled { get; set; }

        public string? GovernorNote { get; set; }

        public DeviceTotals Clone() => (DeviceTotals)MemberwiseClone();
    }

    private sealed class Detach(Action detach) : IDisposable
    {
        private Action? _detach = detach;

        public void Dispose() => Interlocked.Exchange(ref _detach, null)?.Invoke();
    }
}

/// <summary>One push to the browsers.</summary>
internal sealed record DashboardSnapshot(
    long Version,
    string Federation,
    long Round,
    string Phase,
    int Participants,
    double? Epsilon,
    string? StopReason,
    IReadOnlyList<DeviceEntry> Devices,
    IReadOnlyList<RoundEntry> Rounds,
    string QualityChart,
    string BytesChart);

/// <summary>A device row: admitted (state = its announced intent) or refused (with the reason).</summary>
internal sealed record DeviceEntry(
    string Id,
    string State,
    double? HeartbeatAgeSeconds,
    double? TemperatureCelsius,
    bool? Throttled,
    string? Governor,
    long BytesUp,
    long BytesDown,
    double TrainingSeconds,
    string? RefusalReason)
{
    /// <summary>The edge aggregator this device belongs to in a hierarchy, or null for the coordinator's own devices.</summary>
    public string? Edge { get; init; }

    /// <summary>The device's latest reputation score when the coordinator keeps one (issue 15), or null.</summary>
    public double? Reputation { get; init; }

    /// <summary>For an edge in another process: its devices in aggregate (this row stands for all of them), or null.</summary>
    public EdgeAggregateEntry? Aggregate { get; init; }
}

/// <summary>An edge's devices in aggregate, as the edge reports them upwards (issue 14): counts per state, throttled, mean temperature.</summary>
internal sealed record EdgeAggregateEntry(int Devices, int Training, int Inference, int NotReady, int Refused, int Throttled, double? MeanTemperatureCelsius);

/// <summary>A finished round.</summary>
internal sealed record RoundEntry(
    long Round,
    bool Completed,
    string? Failure,
    int Participants,
    double? Loss,
    double? F1,
    long BytesUp,
    long BytesDown,
    double Seconds,
    double? Epsilon,
    IReadOnlyList<string> Accepted,
    IReadOnlyList<ReasonEntry> Refused)
{
    /// <summary>The transparency log's size after this round, when the coordinator keeps one.</summary>
    public long? LedgerSize { get; init; }

    /// <summary>The signed tree head's root hash (hex).</summary>
    public string? LedgerRoot { get; init; }

    /// <summary>The coordinator's signature over the tree head (base64).</summary>
    public string? LedgerSignature { get; init; }

    /// <summary>The reputation changes of this round, one line each.</summary>
    public IReadOnlyList<string> ReputationChanges { get; init; } = [];

    /// <summary>The co-signatures the head needed (2f + 1), when a committee co-signs.</summary>
    public int? CommitteeQuorum { get; init; }

    /// <summary>Each validator's answer on the round's head: its co-signature, or why there is none.</summary>
    public IReadOnlyList<WitnessEntry> Committee { get; init; } = [];
}

/// <summary>A validator's answer on a head: co-signed (with the co-signature, base64) or not (with the problem).</summary>
internal sealed record WitnessEntry(string Validator, bool CoSigned, string Detail);

/// <summary>A refused or missing update and why.</summary>
internal sealed record ReasonEntry(string Device, string Reason);
