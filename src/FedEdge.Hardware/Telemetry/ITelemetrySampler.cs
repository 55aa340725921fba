using FedEdge.Devices;

namespace FedEdge.Hardware;

/// <summary>
/// Samples the hardware periodically and serves the latest snapshot: to the worker's state reports and
/// governors through Core's <see cref="ITelemetrySource"/>, to <c>System.Diagnostics.Metrics</c>
/// (meter <c>FedEdge.Hardware</c>) and to callers that stream snapshots.
/// </summary>
public interface ITelemetrySampler : ITelemetrySource, IAsyncDisposable
{
    /// <summary>The latest snapshot, or null before the first sample.</summary>
    HardwareSnapshot? Latest { get; }

    /// <summary>Probes now and makes the result the latest snapshot.</summary>
    ValueTask<HardwareSnapshot> SampleNowAsync(CancellationToken cancellationToken = default);

    /// <summary>Samples now and then once per period (on the injected <see cref="TimeProvider"/>) until cancelled.</summary>
    IAsyncEnumerable<HardwareSnapshot> SampleAsync(CancellationToken cancellationToken = default);
}
