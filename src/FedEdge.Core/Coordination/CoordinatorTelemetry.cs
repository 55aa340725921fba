using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FedEdge.Coordination;

/// <summary>The coordinator's meter (<c>FedEdge.Core</c>), instruments and activity source.</summary>
internal sealed class CoordinatorTelemetry : IDisposable
{
    public static readonly ActivitySource Activities = new(Coordinator.TelemetryName);

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Histogram<double> _roundDuration;
    private readonly Histogram<int> _participants;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _resent;
    private readonly KeyValuePair<string, object?> _federation;

    public CoordinatorTelemetry(IMeterFactory? meterFactory, string federation)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(Coordinator.TelemetryName) ?? new Meter(Coordinator.TelemetryName);
        _federation = new("fededge.federation", federation);
        _roundDuration = _meter.CreateHistogram<double>("fededge.round.duration", "s", "Wall time of a round from window open to checkpoint.");
        _participants = _meter.CreateHistogram<int>("fededge.round.participants", "{device}", "Updates aggregated per round.");
        _refused = _meter.CreateCounter<long>("fededge.updates.refused", "{update}", "Updates refused by validation.");
        _bytes = _meter.CreateCounter<long>("fededge.transport.bytes", "By", "Bytes moved per round, tagged with direction up or down.");
        _resent = _meter.CreateCounter<long>("fededge.tasks.resent", "{task}", "Round tasks sent again because no acknowledgement came.");
    }

    public void Refused() => _refused.Add(1);

    public void Resent() => _resent.Add(1, _federation);

    public void Record(RoundResult result)
    {
        _roundDuration.Record(result.Duration.TotalSeconds, _federation, new("fededge.round.completed", result.Completed));
        _participants.Record(result.Participants, _federation);
        _bytes.Add(result.BytesUp, _federation, new("direction", "up"));
        _bytes.Add(result.BytesDown, _federation, new("direction", "down"));
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
