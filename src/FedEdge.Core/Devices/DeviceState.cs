namespace FedEdge.Devices;

/// <summary>What a device announces it wants to do (CoLearn's device states).</summary>
public enum DeviceIntent
{
    /// <summary>Not ready for anything (busy, hot, no data).</summary>
    NotReady = 0,

    /// <summary>Wants to train in the next round.</summary>
    Training = 1,

    /// <summary>Wants the latest global model to score local data.</summary>
    Inference = 2,
}

/// <summary>Telemetry a device reports with its state. Every reading is optional ("not available").</summary>
public sealed record DeviceTelemetry
{
    /// <summary>SoC temperature in °C.</summary>
    public double? TemperatureCelsius { get; init; }

    /// <summary>True when the device is throttled now (Raspberry Pi <c>get_throttled</c> bits 1–3, or frequency capped).</summary>
    public bool? Throttled { get; init; }

    /// <summary>Free (available) memory in bytes.</summary>
    public long? FreeMemoryBytes { get; init; }

    /// <summary>Local training samples.</summary>
    public long? SampleCount { get; init; }

    /// <summary>1-minute load average.</summary>
    public double? LoadAverage { get; init; }

    /// <summary>Bytes sent on the network since boot.</summary>
    public long? BytesSent { get; init; }

    /// <summary>Bytes received on the network since boot.</summary>
    public long? BytesReceived { get; init; }
}

/// <summary>A device's announced state at a time.</summary>
public sealed record DeviceStatus
{
    /// <summary>The device id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The announced intent.</summary>
    public required DeviceIntent Intent { get; init; }

    /// <summary>The telemetry that came with it.</summary>
    public DeviceTelemetry Telemetry { get; init; } = new();

    /// <summary>When the coordinator received it.</summary>
    public DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Why the device is in this state (e.g. why it is <see cref="DeviceIntent.NotReady"/>: bad local data, declined by its governor); null when there is nothing to explain.</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// The round whose task the device holds (training it, or waiting for the receipt of its update), or null.
    /// A status carrying it acknowledges the round task, so the coordinator stops re-sending it.
    /// </summary>
    public long? ActiveRound { get; init; }

    /// <summary>The nonce of the task behind <see cref="ActiveRound"/>: a failed round is retried under the same number with a new nonce, so only both together acknowledge a task.</summary>
    public string? ActiveNonce { get; init; }
}
