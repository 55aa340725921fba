namespace FedEdge.Selection;

/// <summary>Where the window is in its cycle.</summary>
public enum WindowPhase
{
    /// <summary>No window is open; the next training request opens one.</summary>
    Idle = 0,

    /// <summary>Collecting training requests.</summary>
    Open = 1,

    /// <summary>Closed; its round is running. Requests now are late and follow the <see cref="LateRequestPolicy"/>.</summary>
    Closed = 2,
}

/// <summary>Why a window closed.</summary>
public enum WindowCloseReason
{
    /// <summary>It reached N devices.</summary>
    Full = 0,

    /// <summary>T elapsed.</summary>
    Elapsed = 1,

    /// <summary>The host closed it (<see cref="TemporalWindow.CloseNow"/>).</summary>
    Forced = 2,
}

/// <summary>What happened to one training request.</summary>
public enum WindowRequestOutcome
{
    /// <summary>The request opened a new window.</summary>
    Opened = 0,

    /// <summary>The request joined the open window.</summary>
    Joined = 1,

    /// <summary>The device was already in the window (or already carried over); nothing changed.</summary>
    AlreadyPending = 2,

    /// <summary>The request came after the window closed and is kept for the next window.</summary>
    CarriedOver = 3,

    /// <summary>The request came after the window closed and was dropped.</summary>
    Discarded = 4,
}

/// <summary>A device's training request as the window recorded it.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="RequestedAt">When the request arrived (for a carried-over request: when it first arrived).</param>
public sealed record WindowRequest(string DeviceId, DateTimeOffset RequestedAt);

/// <summary>The result of <see cref="TemporalWindow.Request"/>.</summary>
/// <param name="Outcome">What happened to the request.</param>
/// <param name="Closure">Set when this request filled the window and closed it.</param>
public sealed record WindowRequestResult(WindowRequestOutcome Outcome, WindowClosure? Closure = null);

/// <summary>A closed window: the devices that take part in the round.</summary>
public sealed record WindowClosure
{
    /// <summary>The window's sequence number (1 for the first window).</summary>
    public required long Sequence { get; init; }

    /// <summary>When the window opened.</summary>
    public required DateTimeOffset OpenedAt { get; init; }

    /// <summary>When it closed.</summary>
    public required DateTimeOffset ClosedAt { get; init; }

    /// <summary>Why it closed.</summary>
    public required WindowCloseReason Reason { get; init; }

    /// <summary>The T that applied to this window (null when there was no time rule).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>The participants, in arrival order.</summary>
    public required IReadOnlyList<WindowRequest> Participants { get; init; }
}

/// <summary>The window's exportable state, for checkpoints. Times are absolute; <see cref="TemporalWindow.ImportState"/> re-arms the timer.</summary>
public sealed record TemporalWindowState
{
    /// <summary>The phase.</summary>
    public required WindowPhase Phase { get; init; }

    /// <summary>The current window's sequence number (0 before the first window).</summary>
    public required long Sequence { get; init; }

    /// <summary>When the current window opened (null when idle).</summary>
    public DateTimeOffset? OpenedAt { get; init; }

    /// <summary>The T in force for the current or next window.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Requests in the open window, or participants of the closed one.</summary>
    public IReadOnlyList<WindowRequest> Pending { get; init; } = [];

    /// <summary>Late requests kept for the next window.</summary>
    public IReadOnlyList<WindowRequest> CarriedOver { get; init; } = [];

    /// <summary>The adaptive rule's memory: per recent window, arrival offsets from opening, in seconds.</summary>
    public IReadOnlyList<IReadOnlyList<double>> ArrivalHistory { get; init; } = [];

    /// <summary>Arrival offsets (seconds) recorded for the current window so far.</summary>
    public IReadOnlyList<double> CurrentArrivals { get; init; } = [];

    /// <summary>The most recent closure (the running round's participants when <see cref="Phase"/> is closed).</summary>
    public WindowClosure? LastClosure { get; init; }
}

/// <summary>
/// CoLearn's temporal window. It opens when the first training request arrives, collects requests until it
/// holds N devices or T has elapsed (either rule may be absent), lets a device withdraw while it is open, and
/// treats requests that arrive after it closed (the round began) by the <see cref="LateRequestPolicy"/>.
/// <see cref="CompleteRound"/> ends the cycle. With <see cref="WindowSizing.Adaptive"/>, T follows the recent
/// arrival pattern. All time comes from the injected <see cref="TimeProvider"/>. Thread-safe.
/// </summary>
public sealed class TemporalWindow : IDisposable
{
    private readonly TemporalWindowOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<WindowRequest> _pending = [];
    private readonly List<WindowRequest> _carried = [];
    private readonly List<double> _arrivals = [];
    private readonly Queue<double[]> _history = new();
    private TaskCompletionSource<WindowClosure> _closed = NewSource();
    private ITimer? _timer;
    private WindowPhase _phase;
    private long _sequence;
    private DateTimeOffset _openedAt;
    private TimeSpan? _duration;
    private WindowClosure? _lastClosure;
    private bool _disposed;

    /// <summary>Creates a window.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public TemporalWindow(TemporalWindowOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid temporal window options: " + string.Join(" ", errors), nameof(options));
        }

        _options = new TemporalWindowOptions
        {
            MaxDevices = options.MaxDevices,
            Duration = options.Duration,
            LatePolicy = options.LatePolicy,
            Sizing = options.Sizing,
            MinDuration = options.MinDuration,
            MaxDuration = options.MaxDuration,
            AdaptiveHistory = options.AdaptiveHistory,
            AdaptiveQuantile = options.AdaptiveQuantile,
            AdaptiveMargin = options.AdaptiveMargin,
        };
        _time = timeProvider ?? TimeProvider.System;
        _duration = options.Duration;
    }

    /// <summary>The current phase.</summary>
    public WindowPhase Phase
    {
        get
        {
            lock (_gate)
            {
                return _phase;
            }
        }
    }

    /// <summary>The T that applies to the open window, or to the next one when idle (null: no time rule).</summary>
    public TimeSpan? CurrentDuration
    {
        get
        {
            lock (_gate)
            {
                return _duration;
            }
        }
    }

    /// <summary>The devices in the open window (or the participants of the closed one), in arrival order.</summary>
    public IReadOnlyList<WindowRequest> Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.ToArray();
            }
        }
    }

    /// <summary>Late requests kept for the next window.</summary>
    public IReadOnlyList<WindowRequest> CarriedOver
    {
        get
        {
            lock (_gate)
            {
                return _carried.ToArray();
            }
        }
    }

    /// <summary>The most recent closure, or null before the first.</summary>
    public WindowClosure? LastClosure
    {
        get
        {
            lock (_gate)
            {
                return _lastClosure;
            }
        }
    }

    /// <summary>Records a device's training request.</summary>
    public WindowRequestResult Request(string deviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        WindowRequestResult result;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            DateTimeOffset now = _time.GetUtcNow();
            CloseIfElapsed(now);
            switch (_phase)
            {
                case WindowPhase.Idle:
                    Open(now);
                    _pending.Add(new WindowRequest(deviceId, now));
                    _arrivals.Add(0);
                    result = new WindowRequestResult(WindowRequestOutcome.Opened, CloseIfFull(now));
                    break;
                case WindowPhase.Open:
                    if (Contains(_pending, deviceId))
                    {
                        result = new WindowRequestResult(WindowRequestOutcome.AlreadyPending);
                        break;
                    }

                    _pending.Add(new WindowRequest(deviceId, now));
                    _arrivals.Add((now - _openedAt).TotalSeconds);
                    result = new WindowRequestResult(WindowRequestOutcome.Joined, CloseIfFull(now));
                    break;
                default:
                    if (Contains(_pending, deviceId) || Contains(_carried, deviceId))
                    {
                        result = new WindowRequestResult(WindowRequestOutcome.AlreadyPending);
                        break;
                    }

                    // A late arrival still tells the adaptive rule how long devices take to ask.
                    _arrivals.Add((now - _openedAt).TotalSeconds);
                    if (_options.LatePolicy == LateRequestPolicy.CarryOver)
                    {
                        _carried.Add(new WindowRequest(deviceId, now));
                        result = new WindowRequestResult(WindowRequestOutcome.CarriedOver);
                    }
                    else
                    {
                        result = new WindowRequestResult(WindowRequestOutcome.Discarded);
                    }

                    break;
            }
        }

        return result;
    }

    /// <summary>
    /// Applies a device's announced state (CoLearn's publish/subscribe status): <see cref="Devices.DeviceIntent.Training"/>
    /// is a training request; any other intent withdraws the device's pending request, if it has one.
    /// </summary>
    /// <returns>The request's result for a training announcement; null for other intents.</returns>
    public WindowRequestResult? Announce(Devices.DeviceStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (status.Intent == Devices.DeviceIntent.Training)
        {
            return Request(status.DeviceId);
        }

        Withdraw(status.DeviceId);
        return null;
    }

    /// <summary>
    /// Withdraws a device's request while the window is open, or its carried-over request. When the last
    /// device of an open window withdraws, the window goes back to idle (the next request opens a new one).
    /// </summary>
    /// <returns>True when a request was removed; false when the device had none (or the window already closed).</returns>
    public bool Withdraw(string deviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CloseIfElapsed(_time.GetUtcNow());
            if (_phase == WindowPhase.Open)
            {
                int index = IndexOf(_pending, deviceId);
                if (index < 0)
                {
                    return false;
                }

                _pending.RemoveAt(index);
                _arrivals.RemoveAt(index);
                if (_pending.Count == 0)
                {
                    StopTimer();
                    _arrivals.Clear();
                    _phase = WindowPhase.Idle;
                }

                return true;
            }

            int carried = IndexOf(_carried, deviceId);
            if (carried >= 0)
            {
                _carried.RemoveAt(carried);
                return true;
            }

            return false;
        }
    }

    /// <summary>Closes the open window now (e.g. on shutdown). Returns null when no window is open.</summary>
    public WindowClosure? CloseNow()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            DateTimeOffset now = _time.GetUtcNow();
            return CloseIfElapsed(now) ?? (_phase == WindowPhase.Open ? Close(now, WindowCloseReason.Forced) : null);
        }
    }

    /// <summary>
    /// Waits until the window closes; completes at once with the current closure when it already is closed.
    /// </summary>
    public Task<WindowClosure> WaitForCloseAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_phase == WindowPhase.Closed && _lastClosure is not null)
            {
                return Task.FromResult(_lastClosure);
            }

            return _closed.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Ends the cycle after the round of the closed window finished: the adaptive rule updates T, and
    /// carried-over requests open the next window at once, in arrival order (at most N of them; the rest stay
    /// carried over for the window after). The new window may close immediately when they reach N.
    /// </summary>
    /// <returns>The closure when the carried-over requests alone filled the next window; otherwise null.</returns>
    /// <exception cref="InvalidOperationException">The window is not closed.</exception>
    public WindowClosure? CompleteRound()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_phase != WindowPhase.Closed)
            {
                throw new InvalidOperationException($"CompleteRound needs a closed window, but the window is {_phase}.");
            }

            _history.Enqueue(_arrivals.ToArray());
            while (_history.Count > _options.AdaptiveHistory)
            {
                _history.Dequeue();
            }

            _arrivals.Clear();
            _pending.Clear();
            if (_options.Sizing == WindowSizing.Adaptive)
            {
                _duration = AdaptedDuration();
            }

            _phase = WindowPhase.Idle;
            if (_carried.Count == 0)
            {
                return null;
            }

            // Carried-over requests open the next window in arrival order; beyond N they wait for the one after.
            DateTimeOffset now = _time.GetUtcNow();
            Open(now);
            int take = Math.Min(_carried.Count, _options.MaxDevices ?? int.MaxValue);
            for (int i = 0; i < take; i++)
            {
                _pending.Add(_carried[i]);
                _arrivals.Add(0);
            }

            _carried.RemoveRange(0, take);
            return CloseIfFull(now);
        }
    }

    /// <summary>Exports the window's state for a checkpoint.</summary>
    public TemporalWindowState ExportState()
    {
        lock (_gate)
        {
            return new TemporalWindowState
            {
                Phase = _phase,
                Sequence = _sequence,
                OpenedAt = _phase == WindowPhase.Idle ? null : _openedAt,
                Duration = _duration,
                Pending = _pending.ToArray(),
                CarriedOver = _carried.ToArray(),
                ArrivalHistory = _history.Select(h => (IReadOnlyList<double>)h.ToArray()).ToArray(),
                CurrentArrivals = _arrivals.ToArray(),
                LastClosure = _lastClosure,
            };
        }
    }

    /// <summary>
    /// Restores exported state. An open window whose T has already run out closes at once (reason
    /// <see cref="WindowCloseReason.Elapsed"/>); otherwise its timer is re-armed for the remaining time.
    /// </summary>
    /// <exception cref="ArgumentException">The state is inconsistent.</exception>
    public void ImportState(TemporalWindowState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!Enum.IsDefined(state.Phase) || state.Sequence < 0)
        {
            throw new ArgumentException($"Window state has phase {(int)state.Phase} and sequence {state.Sequence}.", nameof(state));
        }

        if (state.Phase != WindowPhase.Idle && (state.OpenedAt is null || state.Pending.Count == 0))
        {
            throw new ArgumentException($"A {state.Phase} window needs an opening time and at least one request.", nameof(state));
        }

        if (state.Duration is TimeSpan d && d <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Window state has a non-positive duration {d}.", nameof(state));
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            StopTimer();
            _phase = state.Phase;
            _sequence = state.Sequence;
            _openedAt = state.OpenedAt ?? default;
            _duration = state.Duration ?? _options.Duration;
            _pending.Clear();
            _pending.AddRange(state.Pending);
            _carried.Clear();
            _carried.AddRange(state.CarriedOver);
            _history.Clear();
            foreach (IReadOnlyList<double> h in state.ArrivalHistory.TakeLast(_options.AdaptiveHistory))
            {
                _history.Enqueue(h.ToArray());
            }

            _arrivals.Clear();
            _arrivals.AddRange(state.CurrentArrivals);
            _lastClosure = state.LastClosure;
            if (_phase == WindowPhase.Closed && _lastClosure is null)
            {
                // A closed window's round is running; describe it from the state so waiters see its participants.
                _lastClosure = new WindowClosure { Sequence = _sequence, OpenedAt = _openedAt, ClosedAt = _openedAt + (_duration ?? TimeSpan.Zero), Reason = WindowCloseReason.Forced, Duration = _duration, Participants = _pending.ToArray() };
            }

            if (_phase == WindowPhase.Open)
            {
                DateTimeOffset now = _time.GetUtcNow();
                if (CloseIfElapsed(now) is null && CloseIfFull(now) is null && _duration is TimeSpan t)
                {
                    ArmTimer(_openedAt + t - now);
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            StopTimer();
            _closed.TrySetException(new ObjectDisposedException(nameof(TemporalWindow)));
        }
    }

    private static TaskCompletionSource<WindowClosure> NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static int IndexOf(List<WindowRequest> list, string deviceId) => list.FindIndex(r => string.Equals(r.DeviceId, deviceId, StringComparison.Ordinal));

    private static bool Contains(List<WindowRequest> list, string deviceId) => IndexOf(list, deviceId) >= 0;

    private void Open(DateTimeOffset now)
    {
        _phase = WindowPhase.Open;
        _sequence++;
        _openedAt = now;
        _arrivals.Clear();
        if (_duration is TimeSpan t)
        {
            ArmTimer(t);
        }
    }

    private void ArmTimer(TimeSpan dueTime)
    {
        StopTimer();
        long sequence = _sequence;
        _timer = _time.CreateTimer(_ => OnTimer(sequence), null, dueTime, Timeout.InfiniteTimeSpan);
    }

    private void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    private void OnTimer(long sequence)
    {
        lock (_gate)
        {
            if (!_disposed && _phase == WindowPhase.Open && _sequence == sequence)
            {
                // The window closed at its deadline, even when the callback runs a little later.
                DateTimeOffset now = _time.GetUtcNow();
                DateTimeOffset deadline = _duration is TimeSpan t ? _openedAt + t : now;
                Close(deadline < now ? deadline : now, WindowCloseReason.Elapsed);
            }
        }
    }

    private WindowClosure? CloseIfElapsed(DateTimeOffset now) =>
        _phase == WindowPhase.Open && _duration is TimeSpan t && now - _openedAt >= t ? Close(_openedAt + t, WindowCloseReason.Elapsed) : null;

    private WindowClosure? CloseIfFull(DateTimeOffset now) =>
        _phase == WindowPhase.Open && _options.MaxDevices is int n && _pending.Count >= n ? Close(now, WindowCloseReason.Full) : null;

    private WindowClosure Close(DateTimeOffset at, WindowCloseReason reason)
    {
        StopTimer();
        _phase = WindowPhase.Closed;
        var closure = new WindowClosure
        {
            Sequence = _sequence,
            OpenedAt = _openedAt,
            ClosedAt = at,
            Reason = reason,
            Duration = _duration,
            Participants = _pending.ToArray(),
        };
        _lastClosure = closure;
        TaskCompletionSource<WindowClosure> source = _closed;
        _closed = NewSource();
        source.TrySetResult(closure);
        return closure;
    }

    private TimeSpan? AdaptedDuration()
    {
        double[] offsets = _history.SelectMany(h => h).Order().ToArray();
        if (offsets.Length == 0)
        {
            return _duration;
        }

        int index = Math.Clamp((int)Math.Ceiling(_options.AdaptiveQuantile * offsets.Length) - 1, 0, offsets.Length - 1);
        double seconds = offsets[index] * _options.AdaptiveMargin;
        double min = _options.MinDuration.TotalSeconds;
        double max = _options.MaxDuration.TotalSeconds;
        return TimeSpan.FromSeconds(Math.Clamp(seconds, min, max));
    }
}
