using FedEdge.Data;
using FedEdge.Devices;

namespace FedEdge.Coordination;

/// <summary>Settings of a <see cref="Worker"/>; validated when it starts.</summary>
public sealed partial class WorkerOptions
{
    /// <summary>The device id presented at join.</summary>
    public string DeviceId { get; set; } = string.Empty;

    /// <summary>Where the worker persists its state; null keeps it in memory only.</summary>
    public string? StateFile { get; set; }

    /// <summary>What the device wants to do: <see cref="DeviceIntent.Training"/> or <see cref="DeviceIntent.Inference"/>.</summary>
    public DeviceIntent Intent { get; set; } = DeviceIntent.Training;

    /// <summary>The device's MUD URL, presented at join.</summary>
    public Uri? MudUrl { get; set; }

    /// <summary>The device's X.509 certificate (DER), presented at join.</summary>
    public ReadOnlyMemory<byte> CertificateDer { get; set; }

    /// <summary>The federated task the device asks to join.</summary>
    public string? Task { get; set; }

    /// <summary>The model the device trains.</summary>
    public string? Model { get; set; }

    /// <summary>Capabilities and attributes sent at join.</summary>
    public IDictionary<string, string> Capabilities { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Where the device's telemetry (temperature, throttling, memory, ...) comes from; read for every status report
    /// the worker publishes. Null reports only the sample count. A source never throws for a missing sensor.
    /// </summary>
    public ITelemetrySource? Telemetry { get; set; }

    /// <summary>The first delay before reconnecting after a failed connection; doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between reconnection attempts.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the worker announces its state (a heartbeat; it also re-announces its intent when no task came). Keep it equal to the coordinator's <see cref="CoordinatorOptions.HeartbeatInterval"/>.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first delay before an update without a receipt is sent again; it doubles (with ±25 % jitter) up to <see cref="MaxResendDelay"/>, until the round deadline.</summary>
    public TimeSpan ResendDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between re-sends of an update.</summary>
    public TimeSpan MaxResendDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the settings and throws a clear error naming the bad one.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DeviceId))
        {
            throw new ArgumentException("WorkerOptions.DeviceId must name the device.");
        }

        if (Intent == DeviceIntent.NotReady)
        {
            throw new ArgumentException("WorkerOptions.Intent must be Training or Inference.");
        }

        if (ReconnectDelay <= TimeSpan.Zero || MaxReconnectDelay < ReconnectDelay)
        {
            throw new ArgumentException("WorkerOptions.ReconnectDelay must be positive and at most MaxReconnectDelay.");
        }

        if (HeartbeatInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("WorkerOptions.HeartbeatInterval must be positive.");
        }

        if (ResendDelay <= TimeSpan.Zero || MaxResendDelay < ResendDelay)
        {
            throw new ArgumentException("WorkerOptions.ResendDelay must be positive and at most MaxResendDelay.");
        }
    }
}

/// <summary>The local-data port of a worker: loads the device's data (it never leaves the device).</summary>
public interface ILocalDataSource
{
    /// <summary>Loads the local data set.</summary>
    /// <exception cref="InvalidDataException">The data are unusable; the message says why.</exception>
    ValueTask<Dataset> LoadAsync(CancellationToken cancellationToken = default);
}

/// <summary>A local-data source over a data set already in memory.</summary>
public sealed class InMemoryDataSource : ILocalDataSource
{
    private readonly Dataset _data;

    /// <summary>Wraps <paramref name="data"/>.</summary>
    public InMemoryDataSource(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
    }

    /// <inheritdoc />
    public ValueTask<Dataset> LoadAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(_data);
}
