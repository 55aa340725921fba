using FedEdge.Devices;
using FedEdge.Selection;

namespace FedEdge.Coordination;

/// <summary>
/// Who asked to train: CoLearn's temporal window (Core's <see cref="TemporalWindow"/>) driven by the devices'
/// training requests, with one vocabulary of options (<see cref="CoordinatorOptions.WindowSize"/> N,
/// <see cref="CoordinatorOptions.WindowDuration"/> T, <see cref="CoordinatorOptions.WindowSizing"/> (adaptive T),
/// <see cref="CoordinatorOptions.LateRequests"/>). Requests that arrive while a round runs are carried over (or
/// dropped) by policy; carried-over requests survive a restart through the checkpoint. Thread-safe.
/// </summary>
internal sealed class TrainingRequests : IDisposable
{
    private readonly CoordinatorOptions _options;
    private readonly DeviceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly Reputation.IReputationPolicy? _reputation;
    private readonly TemporalWindow _window;
    private readonly Lock _gate = new();
    private readonly List<string> _askedDuringRound = [];
    private readonly HashSet<string> _restored = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _windowInRound = -1;
    private bool _disposed;

    public TrainingRequests(CoordinatorOptions options, DeviceRegistry registry, TimeProvider time, Reputation.IReputationPolicy? reputation = null)
    {
        _options = options;
        _registry = registry;
        _time = time;
        _reputation = reputation;
        _window = new TemporalWindow(
            new TemporalWindowOptions
            {
                // A zero T means "close as soon as a quorum asked", which the collection loop does by force-closing.
                MaxDevices = options.WindowSize ?? (options.WindowDuration > TimeSpan.Zero ? null : int.MaxValue),
                Duration = options.WindowDuration > TimeSpan.Zero ? options.WindowDuration : null,
                LatePolicy = options.LateRequests,
                Sizing = options.WindowSizing,
            },
            time);
    }

    /// <summary>Restores the window's numbering, T and history and the carried-over requests from a checkpoint.</summary>
    public void Restore(TemporalWindowState? state, IReadOnlyList<string> carriedOver)
    {
        lock (_gate)
        {
            if (state is not null)
            {
                _window.ImportState(new TemporalWindowState { Phase = WindowPhase.Idle, Sequence = state.Sequence, Duration = state.Duration, ArrivalHistory = state.ArrivalHistory });
            }

            foreach (string id in carriedOver)
            {
                // Kept until the device rejoins: its request then stands without asking again.
                _restored.Add(id);
            }
        }
    }

    /// <summary>
    /// A device (re)joined: any request it had is void until it asks again. (A request carried over by the checkpoint
    /// the coordinator resumed from is not put back in the window before the device asks: the window's N counts
    /// requests, and one from a device that has not announced <see cref="Devices.DeviceIntent.Training"/> yet would
    /// close it early with too few candidates.)
    /// </summary>
    public void OnJoined(string deviceId)
    {
        lock (_gate)
        {
            WithdrawLocked(deviceId);
            SignalLocked();
        }
    }

    /// <summary>A device asked to train. <paramref name="busyInRound"/>: it still owes the running round its update (the request is ignored).</summary>
    public WindowRequestOutcome? Request(string deviceId, bool busyInRound, bool participantOfRunningRound)
    {
        lock (_gate)
        {
            WindowRequestOutcome? outcome = null;
            if (!_disposed && !busyInRound)
            {
                _restored.Remove(deviceId);
                outcome = _window.Request(deviceId).Outcome;
                if (outcome == WindowRequestOutcome.AlreadyPending && _window.Phase == WindowPhase.Closed
                    && participantOfRunningRound && !_askedDuringRound.Contains(deviceId))
                {
                    // A participant that delivered (or left) asks again while its round runs: a late request.
                    _askedDuringRound.Add(deviceId);
                }
            }

            SignalLocked();
            return outcome;
        }
    }

    /// <summary>A device no longer wants to train (another intent, lost, refused).</summary>
    public void Withdraw(string deviceId)
    {
        lock (_gate)
        {
            WithdrawLocked(deviceId);
            SignalLocked();
        }
    }

    /// <summary>Wakes the collection loop (a device's state changed).</summary>
    public void Signal()
    {
        lock (_gate)
        {
            SignalLocked();
        }
    }

    /// <summary>
    /// Waits until the window closes holding at least <see cref="CoordinatorOptions.MinParticipants"/> training
    /// devices and returns their latest statuses (arrival order), or null after <see cref="CoordinatorOptions.JoinTimeout"/>.
    /// The window closes by itself on N or T; it is force-closed once T has passed since the first request of this
    /// collection and a quorum asked, or (without N) as soon as every admitted device has answered, or (with N and
    /// reputation) once N less the quarantined devices asked.
    /// </summary>
    public async ValueTask<List<DeviceStatus>?> CollectAsync(CancellationToken ct)
    {
        DateTimeOffset giveUp = _time.GetUtcNow() + _options.JoinTimeout;
        DateTimeOffset? opened = null;
        while (true)
        {
            Task changed;
            Task? closing = null;
            TimeSpan wait;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                DateTimeOffset now = _time.GetUtcNow();
                if (_window.Phase == WindowPhase.Closed && _window.LastClosure is { } stale && stale.Sequence == _windowInRound)
                {
                    // The previous round stopped before ending its window cycle (it was cancelled): end it now.
                    CompleteRoundLocked([]);
                }

                if (_window.Phase == WindowPhase.Closed && _window.LastClosure is { } closure)
                {
                    List<DeviceStatus> members = _registry.Candidates(closure.Participants.Select(p => p.DeviceId));
                    if (members.Count >= _options.MinParticipants)
                    {
                        _windowInRound = closure.Sequence;
                        return members;
                    }

                    // Too few for a quorum (members left, or were lost): reopen with those still asking.
                    _window.CompleteRound();
                    foreach (DeviceStatus member in members)
                    {
                        _window.Request(member.DeviceId);
                    }

                    continue;
                }

                int readyCount = 0;
                if (_window.Phase == WindowPhase.Open)
                {
                    List<DeviceStatus> ready = _registry.Candidates(_window.Pending.Select(p => p.DeviceId));
                    readyCount = ready.Count;
                    if (readyCount > 0)
                    {
                        opened ??= now;
                    }

                    if (opened is not null && readyCount >= _options.MinParticipants)
                    {
                        bool expired = now - opened.Value >= T;
                        bool everyoneIn = _options.WindowSize is null
                            && _registry.EveryoneAnswered(ready.Select(r => r.DeviceId).ToHashSet(StringComparer.Ordinal));
                        if ((expired || everyoneIn || FullWithoutQuarantined(ready)) && _window.CloseNow() is not null)
                        {
                            continue;
                        }
                    }

                    closing = _window.WaitForCloseAsync(CancellationToken.None);
                }

                if (now >= giveUp)
                {
                    return null;
                }

                changed = _changed.Task;
                TimeSpan untilGiveUp = giveUp - now;
                wait = opened is null || readyCount < _options.MinParticipants
                    ? untilGiveUp
                    : Min(opened.Value + T - now, untilGiveUp);
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task delay = Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, cts.Token);
            await (closing is null ? Task.WhenAny(changed, delay) : Task.WhenAny(changed, delay, closing)).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// With N set and reputation on: true when the devices asking, quarantined ones aside, reach N less the number of
    /// quarantined devices (and a quorum). A quarantined device is refused at admission and never asks again, so a
    /// window sized for the whole fleet would otherwise wait out T in every round after a quarantine.
    /// </summary>
    private bool FullWithoutQuarantined(List<DeviceStatus> ready)
    {
        if (_reputation is null || _options.WindowSize is not int n || ready.Count >= n)
        {
            return false;
        }

        HashSet<string> quarantined = Reputation.ReputationPolicies.QuarantinedDevices(_reputation);
        if (quarantined.Count == 0)
        {
            return false;
        }

        int eligible = ready.Count(r => !quarantined.Contains(r.DeviceId));
        return eligible >= Math.Max(_options.MinParticipants, n - quarantined.Count);
    }

    /// <summary>
    /// Why a collection gave up after <see cref="CoordinatorOptions.JoinTimeout"/>: how many training devices were asking
    /// at that moment against <see cref="CoordinatorOptions.MinParticipants"/>, with the admitted and lost counts (after a
    /// mass loss the devices come back one by one, and a quorum of all of them needs every one back at once).
    /// </summary>
    public string DescribeShortfall()
    {
        int asking;
        lock (_gate)
        {
            asking = _window.Phase == WindowPhase.Open ? _registry.Candidates(_window.Pending.Select(p => p.DeviceId)).Count : 0;
        }

        (int admitted, int lost) = _registry.Census();
        return asking == 0
            ? $"no device asked to train within {_options.JoinTimeout} ({admitted} admitted, {lost} of them lost)"
            : $"too few devices asked to train within {_options.JoinTimeout}: {asking} of the {_options.MinParticipants} required were asking ({admitted} admitted, {lost} of them lost)";
    }

    /// <summary>
    /// Ends the window cycle of the round that ran: members of the closed window that were not selected rejoin the
    /// next window, then (with <see cref="LateRequestPolicy.CarryOver"/>) the participants that asked again during the round.
    /// </summary>
    public void CompleteRound(IReadOnlyCollection<string> selected)
    {
        lock (_gate)
        {
            CompleteRoundLocked(selected);
        }
    }

    /// <summary>The window's state and the requests that carry over, for a checkpoint.</summary>
    public (TemporalWindowState Window, string[] CarriedOver) Export()
    {
        lock (_gate)
        {
            TemporalWindowState state = _window.ExportState();
            string[] carried = [.. state.Pending.Concat(state.CarriedOver).Select(r => r.DeviceId).Concat(_restored).Distinct(StringComparer.Ordinal)];
            return (state, carried);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _window.Dispose();
                _changed.TrySetResult();
            }
        }
    }

    private TimeSpan T => _window.CurrentDuration ?? _options.WindowDuration;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private void CompleteRoundLocked(IReadOnlyCollection<string> selected)
    {
        if (_disposed || _window.Phase != WindowPhase.Closed)
        {
            _askedDuringRound.Clear();
            return;
        }

        IReadOnlyList<WindowRequest> members = _window.LastClosure?.Participants ?? [];
        _window.CompleteRound();
        _windowInRound = -1;
        var again = members.Select(m => m.DeviceId).Where(id => !selected.Contains(id)).ToList();
        if (_options.LateRequests == LateRequestPolicy.CarryOver)
        {
            again.AddRange(_askedDuringRound);
        }

        _askedDuringRound.Clear();
        foreach (string id in again.Distinct(StringComparer.Ordinal))
        {
            if (_registry.IsTrainingCandidate(id))
            {
                _window.Request(id);
            }
        }

        SignalLocked();
    }

    private void WithdrawLocked(string deviceId)
    {
        if (!_disposed)
        {
            _window.Withdraw(deviceId);
        }

        _askedDuringRound.Remove(deviceId);
    }

    private void SignalLocked()
    {
        TaskCompletionSource previous = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }
}
