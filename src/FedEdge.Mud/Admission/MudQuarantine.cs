using System.Collections.Concurrent;

namespace FedEdge.Mud.Admission;

/// <summary>The port that says whether a device is quarantined (for example by an intrusion detector).</summary>
public interface IMudQuarantine
{
    /// <summary>The quarantine reason for the device (by id or MAC), or null when it is not quarantined.</summary>
    ValueTask<string?> GetReasonAsync(string deviceId, string? mac, CancellationToken cancellationToken = default);
}

/// <summary>An in-memory quarantine list keyed by device id or MAC address.</summary>
public sealed class MudQuarantineList : IMudQuarantine
{
    private readonly ConcurrentDictionary<string, string> _entries = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Quarantines a device id or MAC address.</summary>
    public void Add(string deviceIdOrMac, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceIdOrMac);
        _entries[deviceIdOrMac] = reason;
    }

    /// <summary>Lifts a quarantine.</summary>
    public bool Remove(string deviceIdOrMac) => _entries.TryRemove(deviceIdOrMac, out _);

    /// <inheritdoc />
    public ValueTask<string?> GetReasonAsync(string deviceId, string? mac, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        if (_entries.TryGetValue(deviceId, out string? r) || (mac is not null && _entries.TryGetValue(mac, out r)))
        {
            return ValueTask.FromResult<string?>(r);
        }

        return ValueTask.FromResult<string?>(null);
    }
}
