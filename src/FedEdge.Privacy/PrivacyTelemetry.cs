using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FedEdge.Privacy;

/// <summary>The package's meter, <c>FedEdge.Privacy</c>, and its instruments.</summary>
internal static class PrivacyTelemetry
{
    public const string MeterName = "FedEdge.Privacy";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Traces the expensive secure-aggregation steps (masking, unmasking).</summary>
    public static readonly ActivitySource ActivitySource = new(MeterName);

    public static readonly Counter<long> RoundsCompleted = Meter.CreateCounter<long>("fededge.secagg.rounds.completed", "{round}", "Secure-aggregation rounds that produced a sum.");

    public static readonly Counter<long> RoundsAborted = Meter.CreateCounter<long>("fededge.secagg.rounds.aborted", "{round}", "Secure-aggregation rounds that aborted.");

    public static readonly Histogram<double> UnmaskDuration = Meter.CreateHistogram<double>("fededge.secagg.unmask.duration", "s", "Time to reconstruct secrets and remove masks.");

    public static readonly Histogram<double> Epsilon = Meter.CreateHistogram<double>("fededge.dp.epsilon", "{epsilon}", "Privacy spent after each accounted round.");
}
