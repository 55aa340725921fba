namespace FedEdge.Transport.Wire;

/// <summary>
/// One decoded FedEdge message: an envelope (ids, sender, protocol version) around a Core record —
/// <see cref="Messaging.JoinRequest"/>, <see cref="Messaging.JoinResponse"/>, <see cref="Devices.DeviceStatus"/>,
/// <see cref="Messaging.RoundTask"/>, <see cref="ModelUpdate"/>, <see cref="Messaging.GlobalModel"/> or
/// <see cref="Messaging.UpdateReceipt"/>.
/// </summary>
public sealed record WireMessage
{
    /// <summary>A unique id of this logical message; receivers drop repeats.</summary>
    public required string MessageId { get; init; }

    /// <summary>For a response: the request's <see cref="MessageId"/>.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>The sender's device id, or empty for the coordinator.</summary>
    public string SenderId { get; init; } = string.Empty;

    /// <summary>The protocol version the sender speaks.</summary>
    public int ProtocolVersion { get; init; } = Messaging.ProtocolVersion.Current;

    /// <summary>True for a device status the broker delivered as the device's last will.</summary>
    public bool IsLastWill { get; init; }

    /// <summary>The Core record carried.</summary>
    public required object Body { get; init; }

    /// <summary>A fresh message id (128 random bits as 32 hex characters).</summary>
    public static string NewId() => Guid.NewGuid().ToString("N");
}
