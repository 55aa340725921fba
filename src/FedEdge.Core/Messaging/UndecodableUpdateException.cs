namespace FedEdge.Messaging;

/// <summary>
/// A transport received an update from an authenticated device whose content cannot be decoded into a
/// <see cref="ModelUpdate"/>: values of the wrong length or shape, a negative sample count, an unknown kind. Transports
/// hand it to <see cref="ICoordinatorHandler.OnMalformedAsync"/>; the coordinator refuses the update with a receipt to
/// <see cref="DeviceId"/> (never to an id the bytes claim), logs it, and a participant that sent it counts as failed,
/// so the round does not wait out its deadline for it.
/// </summary>
public sealed class UndecodableUpdateException : Exception
{
    /// <summary>Creates the error for the authenticated <paramref name="deviceId"/> and the round the update named.</summary>
    public UndecodableUpdateException(string deviceId, long round, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        DeviceId = deviceId;
        Round = round;
    }

    /// <summary>The device the connection authenticated: the one that sent the bytes.</summary>
    public string DeviceId { get; }

    /// <summary>The round the update named.</summary>
    public long Round { get; }
}
