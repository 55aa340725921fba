using System.Text.Json.Nodes;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Hierarchy;
using FedEdge.Messaging;

namespace FedEdge.Cli;

/// <summary>
/// The devices part of <c>fededge coordinator</c>'s run report: each admitted device with the bytes its coordinator's transport counted for
/// it, the bytes and temperature of its last heartbeat and, for an edge aggregator, its devices in aggregate as the edge last reported them (the
/// edge → devices tree across processes).
/// </summary>
internal sealed class CoordinatorReportTree
{
    private readonly SortedDictionary<string, EdgeDeviceSummary> _edges = new(StringComparer.Ordinal);

    /// <summary>Keeps the edges' latest summaries from a finished round.</summary>
    public void Record(RoundResult round)
    {
        foreach ((string edge, EdgeDeviceSummary summary) in round.EdgeSummaries)
        {
            _edges[edge] = summary;
        }
    }

    /// <summary>Adds <c>devices</c> (and <c>tree</c> when edges reported) to <paramref name="report"/>.</summary>
    public void WriteTo(JsonObject report, Coordinator coordinator)
    {
        IReadOnlyList<DeviceStatus> devices = coordinator.Devices;
        IReadOnlyDictionary<string, DeviceTraffic> traffic = coordinator.TransportStatistics.PerDevice;
        report["devices"] = new JsonArray([.. devices.OrderBy(d => d.DeviceId, StringComparer.Ordinal).Select(d => (JsonNode)new JsonObject
        {
            ["device"] = d.DeviceId,
            ["state"] = d.Intent.ToString(),

            // From the device's side, counted by the coordinator's transport for the authenticated device: what the
            // device sent to the coordinator and what it was sent (tasks, receipts; the model where delivered to it).
            ["bytes_sent"] = traffic.TryGetValue(d.DeviceId, out DeviceTraffic t) ? t.BytesReceived : 0,
            ["bytes_received"] = t.BytesSent,

            // The device's own heartbeat figures (for a plain worker, the host's network counters since boot).
            ["host_bytes_sent"] = d.Telemetry.BytesSent,
            ["host_bytes_received"] = d.Telemetry.BytesReceived,
            ["temperature_c"] = d.Telemetry.TemperatureCelsius,
            ["throttled"] = d.Telemetry.Throttled,
            ["edge_devices"] = _edges.TryGetValue(d.DeviceId, out EdgeDeviceSummary? s) ? Summary(s) : null,
        })]);
        if (_edges.Count > 0)
        {
            report["tree"] = new JsonObject
            {
                ["cloud"] = "coordinator",
                ["edges"] = new JsonArray([.. _edges.Select(e =>
                {
                    JsonObject node = Summary(e.Value);
                    node["edge"] = e.Key;
                    return (JsonNode)node;
                })]),
            };
        }
    }

    private static JsonObject Summary(EdgeDeviceSummary s) => new()
    {
        ["devices"] = s.Devices,
        ["training"] = s.Training,
        ["inference"] = s.Inference,
        ["not_ready"] = s.NotReady,
        ["refused"] = s.Refused,
        ["throttled"] = s.Throttled,
        ["temperature_max_c"] = s.MaxTemperatureCelsius,
        ["temperature_mean_c"] = s.MeanTemperatureCelsius,
        ["bytes_to_devices"] = s.BytesToDevices,
        ["bytes_from_devices"] = s.BytesFromDevices,
    };
}
