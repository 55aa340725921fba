using FedEdge.Messaging;
using FedEdge.Rounds;

namespace FedEdge.Coordination;

/// <summary>The round that is running: its task, its participants, its protocol session and who acknowledged the task.</summary>
internal sealed class ActiveRound(RoundTask task, IReadOnlyList<string> selected, IRoundSession session)
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _acknowledged = new(StringComparer.Ordinal);
    private readonly List<RefusedUpdate> _otherRefusals = [];
    private readonly Dictionary<string, SignedUpdate> _signatures = new(StringComparer.Ordinal);

    public long Round => Task.Round;

    public RoundTask Task { get; } = task;

    public IReadOnlyList<string> SelectedList { get; } = selected;

    public HashSet<string> Selected { get; } = new(selected, StringComparer.Ordinal);

    public IRoundSession Session { get; } = session;

    /// <summary>The device holds the task (its status named this round): stop re-sending it.</summary>
    public void Acknowledge(string deviceId)
    {
        lock (_gate)
        {
            _acknowledged.Add(deviceId);
        }
    }

    public bool IsAcknowledged(string deviceId)
    {
        lock (_gate)
        {
            return _acknowledged.Contains(deviceId);
        }
    }

    /// <summary>Updates refused while this round ran that the round protocol never saw (late, unknown sender, wrong round).</summary>
    public IReadOnlyList<RefusedUpdate> OtherRefusals
    {
        get
        {
            lock (_gate)
            {
                return [.. _otherRefusals];
            }
        }
    }

    /// <summary>
    /// The verified signatures of the updates this round received, one per device and update digest. Each is recorded
    /// before the round protocol sees its update, so a round that completes on that update already holds it.
    /// </summary>
    public IReadOnlyList<SignedUpdate> Signatures
    {
        get
        {
            lock (_gate)
            {
                return [.. _signatures.Values];
            }
        }
    }

    public void RecordSignature(SignedUpdate signature)
    {
        lock (_gate)
        {
            _signatures[signature.DeviceId + "/" + Convert.ToHexStringLower(signature.Digest.Span)] = signature;
        }
    }

    public void RecordRefusal(RefusedUpdate refusal)
    {
        lock (_gate)
        {
            _otherRefusals.Add(refusal);
        }
    }

    /// <summary>True when the device is selected and the round still waits for its contribution.</summary>
    public bool Owes(string deviceId) => Selected.Contains(deviceId) && Session.IsAwaiting(deviceId);
}

/// <summary>Which round runs now and the highest round started. Thread-safe.</summary>
internal sealed class RoundTracker
{
    private readonly Lock _gate = new();
    private ActiveRound? _current;
    private long _highestStarted;

    public ActiveRound? Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    public long HighestStarted
    {
        get
        {
            lock (_gate)
            {
                return _highestStarted;
            }
        }
    }

    public void Resume(long completedRound)
    {
        lock (_gate)
        {
            _highestStarted = Math.Max(_highestStarted, completedRound);
        }
    }

    public void Begin(ActiveRound round)
    {
        lock (_gate)
        {
            _current = round;
            _highestStarted = Math.Max(_highestStarted, round.Round);
        }
    }

    public void End(ActiveRound round)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_current, round))
            {
                _current = null;
            }
        }
    }
}
