using FedEdge.Devices;

namespace FedEdge.Coordination;

/// <summary>
/// Who is there: every admitted device with its admission outcome, announced intent, state, telemetry and
/// last sign of life, plus the devices refused at admission. A device that misses
/// <see cref="CoordinatorOptions.MissedHeartbeats"/> heartbeats is <em>lost</em>: it is no training candidate
/// until any message from it arrives again. Thread-safe.
/// </summary>
internal sealed class DeviceRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _devices = new(StringComparer.Ordinal);
    private readonly List<RefusedDevice> _refused = [];
    private readonly Dictionary<string, IReadOnlyList<string>> _admissionNotes = new(StringComparer.Ordinal);

    /// <summary>The number of admitted devices (the population for sampling rates).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _devices.Count;
            }
        }
    }

    /// <summary>Every admitted device's latest status.</summary>
    public IReadOnlyList<DeviceStatus> Statuses
    {
        get
        {
            lock (_gate)
            {
                return _devices.Values.Select(d => d.Status).ToArray();
            }
        }
    }

    /// <summary>Devices refused at admission, with their reasons.</summary>
    public IReadOnlyList<RefusedDevice> Refused
    {
        get
        {
            lock (_gate)
            {
                return _refused.ToArray();
            }
        }
    }

    /// <summary>What the admission policy noted at each admitted device's latest admission (e.g. where its MUD URL came from).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> AdmissionNotes
    {
        get
        {
            lock (_gate)
            {
                return new Dictionary<string, IReadOnlyList<string>>(_admissionNotes, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Records an admission with the policy's notes: the device starts <see cref="DeviceIntent.NotReady"/>, seen now.</summary>
    public void Admit(string deviceId, DateTimeOffset now, IReadOnlyList<string>? notes = null)
    {
        lock (_gate)
        {
            _refused.RemoveAll(r => r.DeviceId == deviceId);
            _admissionNotes[deviceId] = notes ?? [];
            _devices[deviceId] = new Entry(new DeviceStatus { DeviceId = deviceId, Intent = DeviceIntent.NotReady, ReceivedAt = now }, now);
        }
    }

    /// <summary>Records a refusal (replacing an earlier one) and forgets any admission of the device.</summary>
    public void Refuse(string deviceId, IReadOnlyList<string> reasons)
    {
        lock (_gate)
        {
            _refused.RemoveAll(r => r.DeviceId == deviceId);
            _refused.Add(new RefusedDevice(deviceId, reasons));
            _admissionNotes.Remove(deviceId);
            _devices.Remove(deviceId);
        }
    }

    /// <summary>True when the device is admitted.</summary>
    public bool IsAdmitted(string deviceId)
    {
        lock (_gate)
        {
            return _devices.ContainsKey(deviceId);
        }
    }

    /// <summary>Records a status announcement; false when the device is not admitted. <paramref name="returned"/> is true when a lost device came back.</summary>
    public bool Announce(DeviceStatus status, DateTimeOffset now, out bool returned, out bool changed)
    {
        lock (_gate)
        {
            returned = false;
            changed = false;
            if (!_devices.TryGetValue(status.DeviceId, out Entry? entry))
            {
                return false;
            }

            changed = !entry.Announced || entry.Status.Intent != status.Intent || !string.Equals(entry.Status.Reason, status.Reason, StringComparison.Ordinal);
            entry.Status = status with { ReceivedAt = now };
            entry.Announced = true;
            returned = Seen(entry, now);
            return true;
        }
    }

    /// <summary>Records any other sign of life (an update, a protocol message); true when a lost device came back.</summary>
    public bool Touch(string deviceId, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _devices.TryGetValue(deviceId, out Entry? entry) && Seen(entry, now);
        }
    }

    /// <summary>True when the device is admitted, not lost, and its last announced intent is <see cref="DeviceIntent.Training"/>.</summary>
    public bool IsTrainingCandidate(string deviceId)
    {
        lock (_gate)
        {
            return _devices.TryGetValue(deviceId, out Entry? d) && !d.Lost && d.Status.Intent == DeviceIntent.Training;
        }
    }

    /// <summary>The latest status of each listed device that is a training candidate, in the given order.</summary>
    public List<DeviceStatus> Candidates(IEnumerable<string> deviceIds)
    {
        lock (_gate)
        {
            var result = new List<DeviceStatus>();
            foreach (string id in deviceIds)
            {
                if (_devices.TryGetValue(id, out Entry? d) && !d.Lost && d.Status.Intent == DeviceIntent.Training)
                {
                    result.Add(d.Status);
                }
            }

            return result;
        }
    }

    /// <summary>True when every admitted device has either asked (is in <paramref name="asked"/>), said it will not train, or is lost.</summary>
    public bool EveryoneAnswered(IReadOnlyCollection<string> asked)
    {
        lock (_gate)
        {
            return _devices.Values.All(d => d.Lost || asked.Contains(d.Status.DeviceId) || (d.Announced && d.Status.Intent != DeviceIntent.Training));
        }
    }

    /// <summary>How many devices are admitted, and how many of them are lost now.</summary>
    public (int Admitted, int Lost) Census()
    {
        lock (_gate)
        {
            return (_devices.Count, _devices.Values.Count(d => d.Lost));
        }
    }

    /// <summary>Marks devices not seen for <paramref name="timeout"/> as lost and returns the newly lost ones.</summary>
    public IReadOnlyList<string> SweepLost(DateTimeOffset now, TimeSpan timeout)
    {
        lock (_gate)
        {
            List<string>? lost = null;
            foreach (Entry entry in _devices.Values)
            {
                if (!entry.Lost && now - entry.LastSeen > timeout)
                {
                    entry.Lost = true;
                    (lost ??= []).Add(entry.Status.DeviceId);
                }
            }

            return lost ?? (IReadOnlyList<string>)[];
        }
    }

    private static bool Seen(Entry entry, DateTimeOffset now)
    {
        if (now > entry.LastSeen)
        {
            entry.LastSeen = now;
        }

        bool returned = entry.Lost;
        entry.Lost = false;
        return returned;
    }

    private sealed class Entry(DeviceStatus status, DateTimeOffset seen)
    {
        public DeviceStatus Status { get; set; } = status;

        public bool Announced { get; set; }

        public DateTimeOffset LastSeen { get; set; } = seen;

        public bool Lost { get; set; }
    }
}
