namespace FedEdge.Devices;

/// <summary>
/// The telemetry port: where a worker's state reports and a training governor read the device's
/// current temperature, throttling, memory, load and network counters. FedEdge.Hardware implements it
/// for Linux and Raspberry Pi; a simulation can implement it with a model of a device.
/// </summary>
public interface ITelemetrySource
{
    /// <summary>
    /// Returns the device's current telemetry. Readings the device cannot provide are null
    /// ("not available"); an implementation never throws because a sensor or tool is missing.
    /// </summary>
    ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default);
}
