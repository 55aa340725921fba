using FedEdge.Devices;
using FedEdge.Selection;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Selection;

public sealed class TemporalWindowTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static (TemporalWindow Window, FakeTimeProvider Time) Create(int? n = null, int? seconds = null, LateRequestPolicy late = LateRequestPolicy.Discard, WindowSizing sizing = WindowSizing.Fixed)
    {
        var time = new FakeTimeProvider(Start);
        var window = new TemporalWindow(new TemporalWindowOptions
        {
            MaxDevices = n,
            Duration = seconds is int s ? TimeSpan.FromSeconds(s) : null,
            LatePolicy = late,
            Sizing = sizing,
            MinDuration = TimeSpan.FromSeconds(2),
            MaxDuration = TimeSpan.FromSeconds(100),
            AdaptiveHistory = 2,
            AdaptiveQuantile = 1.0,
            AdaptiveMargin = 1.5,
        }, time);
        return (window, time);
    }

    [Fact]
    public void Request_First_OpensWindow()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 3, seconds: 10);
        using (window)
        {
            Assert.Equal(WindowPhase.Idle, window.Phase);
            time.Advance(TimeSpan.FromMinutes(5));
            Assert.Equal(WindowPhase.Idle, window.Phase);
            Assert.Equal(WindowRequestOutcome.Opened, window.Request("a").Outcome);
            Assert.Equal(WindowPhase.Open, window.Phase);
            Assert.Equal(WindowRequestOutcome.Joined, window.Request("b").Outcome);
            Assert.Equal(WindowRequestOutcome.AlreadyPending, window.Request("a").Outcome);
            Assert.Equal(["a", "b"], window.Pending.Select(p => p.DeviceId));
        }
    }

    [Fact]
    public void Request_NthDevice_ClosesFull()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 3, seconds: 60);
        using (window)
        {
            Task<WindowClosure> closed = window.WaitForCloseAsync();
            window.Request("a");
            time.Advance(TimeSpan.FromSeconds(1));
            window.Request("b");
            Assert.False(closed.IsCompleted);
            WindowRequestResult third = window.Request("c");
            Assert.NotNull(third.Closure);
            Assert.Equal(WindowCloseReason.Full, third.Closure.Reason);
            Assert.Equal(["a", "b", "c"], third.Closure.Participants.Select(p => p.DeviceId));
            Assert.Equal(Start.AddSeconds(1), third.Closure.ClosedAt);
            Assert.Equal(WindowPhase.Closed, window.Phase);
            Assert.True(closed.IsCompleted);
        }
    }

    [Fact]
    public async Task Timer_TElapsed_ClosesAtDeadlineNotBefore()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 10, seconds: 30);
        using (window)
        {
            window.Request("a");
            Task<WindowClosure> closed = window.WaitForCloseAsync();
            time.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
            Assert.Equal(WindowPhase.Open, window.Phase);
            Assert.False(closed.IsCompleted);
            time.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(WindowPhase.Closed, window.Phase);
            WindowClosure closure = await closed;
            Assert.Equal(WindowCloseReason.Elapsed, closure.Reason);
            Assert.Equal(Start.AddSeconds(30), closure.ClosedAt);
            Assert.Equal(["a"], closure.Participants.Select(p => p.DeviceId));
            Assert.Same(closure, await window.WaitForCloseAsync());
        }
    }

    [Fact]
    public void SizeOnly_NoTimeRule_StaysOpenIndefinitely()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 2);
        using (window)
        {
            window.Request("a");
            time.Advance(TimeSpan.FromDays(2));
            Assert.Equal(WindowPhase.Open, window.Phase);
            Assert.Equal(WindowCloseReason.Full, window.Request("b").Closure!.Reason);
        }
    }

    [Fact]
    public void Withdraw_WhileOpen_RemovesDevice_LastOneResetsToIdle()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 3, seconds: 10);
        using (window)
        {
            window.Request("a");
            window.Request("b");
            Assert.True(window.Withdraw("a"));
            Assert.False(window.Withdraw("a"));
            Assert.Equal(["b"], window.Pending.Select(p => p.DeviceId));
            window.Request("c");
            Assert.Equal(WindowPhase.Open, window.Phase);
            Assert.True(window.Withdraw("b"));
            Assert.True(window.Withdraw("c"));
            Assert.Equal(WindowPhase.Idle, window.Phase);
            time.Advance(TimeSpan.FromSeconds(20));
            Assert.Equal(WindowPhase.Idle, window.Phase);
            Assert.Null(window.LastClosure);

            // A new request opens a fresh window with a fresh deadline.
            window.Request("d");
            time.Advance(TimeSpan.FromSeconds(9));
            Assert.Equal(WindowPhase.Open, window.Phase);
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(2, window.LastClosure!.Sequence);
        }
    }

    [Fact]
    public void Announce_TrainingJoins_OtherIntentWithdraws()
    {
        (TemporalWindow window, _) = Create(n: 3, seconds: 10);
        using (window)
        {
            DeviceStatus Status(string id, DeviceIntent intent) => new() { DeviceId = id, Intent = intent };
            Assert.Equal(WindowRequestOutcome.Opened, window.Announce(Status("a", DeviceIntent.Training))!.Outcome);
            Assert.Equal(WindowRequestOutcome.Joined, window.Announce(Status("b", DeviceIntent.Training))!.Outcome);
            Assert.Null(window.Announce(Status("a", DeviceIntent.NotReady)));
            Assert.Null(window.Announce(Status("c", DeviceIntent.Inference)));
            Assert.Equal(["b"], window.Pending.Select(p => p.DeviceId));
        }
    }

    [Fact]
    public void Withdraw_AfterClose_DoesNotChangeParticipants()
    {
        (TemporalWindow window, _) = Create(n: 1);
        using (window)
        {
            window.Request("a");
            Assert.False(window.Withdraw("a"));
            Assert.Equal(["a"], window.LastClosure!.Participants.Select(p => p.DeviceId));
        }
    }

    [Fact]
    public void LateRequest_DiscardPolicy_Dropped()
    {
        (TemporalWindow window, _) = Create(n: 1, late: LateRequestPolicy.Discard);
        using (window)
        {
            window.Request("a");
            Assert.Equal(WindowRequestOutcome.Discarded, window.Request("late").Outcome);
            Assert.Null(window.CompleteRound());
            Assert.Equal(WindowPhase.Idle, window.Phase);
            Assert.Empty(window.Pending);
        }
    }

    [Fact]
    public void LateRequest_CarryOverPolicy_OpensNextWindow()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 2, seconds: 10, late: LateRequestPolicy.CarryOver);
        using (window)
        {
            window.Request("a");
            window.Request("b");
            time.Advance(TimeSpan.FromSeconds(3));
            Assert.Equal(WindowRequestOutcome.CarriedOver, window.Request("late").Outcome);
            Assert.Equal(WindowRequestOutcome.AlreadyPending, window.Request("late").Outcome);
            Assert.Equal(WindowRequestOutcome.AlreadyPending, window.Request("a").Outcome);
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.Null(window.CompleteRound());
            Assert.Equal(WindowPhase.Open, window.Phase);
            WindowRequest carried = Assert.Single(window.Pending);
            Assert.Equal(Start.AddSeconds(3), carried.RequestedAt);

            // The carried-over window's deadline counts from when it opened (the end of the round).
            time.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal(Start.AddSeconds(15), window.LastClosure!.ClosedAt);
        }
    }

    [Fact]
    public void CarryOver_ReachingN_ClosesImmediatelyOnCompleteRound()
    {
        (TemporalWindow window, _) = Create(n: 2, late: LateRequestPolicy.CarryOver);
        using (window)
        {
            window.Request("a");
            window.Request("b");
            window.Request("c");
            window.Request("d");
            Assert.True(window.Withdraw("d"));
            Assert.Null(window.CompleteRound());
            window.Request("e");
            WindowClosure? next = window.LastClosure;
            Assert.Equal(["c", "e"], next!.Participants.Select(p => p.DeviceId));

            window.Request("f");
            window.Request("g");
            WindowClosure? immediate = window.CompleteRound();
            Assert.NotNull(immediate);
            Assert.Equal(["f", "g"], immediate.Participants.Select(p => p.DeviceId));
        }
    }

    [Fact]
    public void CarryOver_MoreThanN_FillsNextWindowsInArrivalOrder()
    {
        (TemporalWindow window, _) = Create(n: 2, late: LateRequestPolicy.CarryOver);
        using (window)
        {
            window.Request("a");
            window.Request("b");
            foreach (string id in new[] { "c", "d", "e" })
            {
                Assert.Equal(WindowRequestOutcome.CarriedOver, window.Request(id).Outcome);
            }

            Assert.Equal(["c", "d"], window.CompleteRound()!.Participants.Select(p => p.DeviceId));
            Assert.Equal(["e"], window.CarriedOver.Select(p => p.DeviceId));
            Assert.Null(window.CompleteRound());
            Assert.Equal(["e"], window.Pending.Select(p => p.DeviceId));
            Assert.Equal(WindowPhase.Open, window.Phase);
        }
    }

    [Fact]
    public void CompleteRound_WhenNotClosed_Throws()
    {
        (TemporalWindow window, _) = Create(n: 2);
        using (window)
        {
            Assert.Throws<InvalidOperationException>(() => window.CompleteRound());
            window.Request("a");
            Assert.Throws<InvalidOperationException>(() => window.CompleteRound());
        }
    }

    [Fact]
    public void Adaptive_EarlyArrivals_ShrinkT_LateArrivals_GrowT()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(seconds: 20, sizing: WindowSizing.Adaptive);
        using (window)
        {
            // Everyone asks within 4 s of opening: T becomes 1.5 × 4 = 6 s.
            window.Request("a");
            time.Advance(TimeSpan.FromSeconds(4));
            window.Request("b");
            time.Advance(TimeSpan.FromSeconds(16));
            Assert.Equal(WindowPhase.Closed, window.Phase);
            window.CompleteRound();
            Assert.Equal(TimeSpan.FromSeconds(6), window.CurrentDuration);

            // Next window: T = 6 s, but a device asks 12 s after opening (late): history max is 12 → T = 18 s.
            window.Request("a");
            time.Advance(TimeSpan.FromSeconds(6));
            Assert.Equal(WindowPhase.Closed, window.Phase);
            time.Advance(TimeSpan.FromSeconds(6));
            Assert.Equal(WindowRequestOutcome.Discarded, window.Request("slow").Outcome);
            window.CompleteRound();
            Assert.Equal(TimeSpan.FromSeconds(18), window.CurrentDuration);

            // Huge lateness is clamped at MaxDuration; after the history forgets, T shrinks to MinDuration.
            window.Request("a");
            time.Advance(TimeSpan.FromSeconds(500));
            window.Request("very-slow");
            window.CompleteRound();
            Assert.Equal(TimeSpan.FromSeconds(100), window.CurrentDuration);
            for (int i = 0; i < 2; i++)
            {
                window.Request("a");
                time.Advance(window.CurrentDuration!.Value);
                window.CompleteRound();
            }

            Assert.Equal(TimeSpan.FromSeconds(2), window.CurrentDuration);
        }
    }

    [Fact]
    public void ExportImport_OpenWindow_ClosesAtOriginalDeadline()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 5, seconds: 30, late: LateRequestPolicy.CarryOver);
        TemporalWindowState state;
        using (window)
        {
            window.Request("a");
            time.Advance(TimeSpan.FromSeconds(10));
            window.Request("b");
            state = window.ExportState();
        }

        Assert.Equal(WindowPhase.Open, state.Phase);
        Assert.Equal(Start, state.OpenedAt);
        time.Advance(TimeSpan.FromSeconds(5));
        using var restored = new TemporalWindow(new TemporalWindowOptions { MaxDevices = 5, Duration = TimeSpan.FromSeconds(30) }, time);
        restored.ImportState(state);
        Assert.Equal(WindowPhase.Open, restored.Phase);
        Assert.Equal(["a", "b"], restored.Pending.Select(p => p.DeviceId));
        time.Advance(TimeSpan.FromSeconds(14));
        Assert.Equal(WindowPhase.Open, restored.Phase);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(Start.AddSeconds(30), restored.LastClosure!.ClosedAt);
        Assert.Equal(state with { }, state);
    }

    [Fact]
    public void ImportState_DeadlinePassedDuringDowntime_ClosesImmediately()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 5, seconds: 30);
        using (window)
        {
            window.Request("a");
            TemporalWindowState state = window.ExportState();
            time.Advance(TimeSpan.FromMinutes(3));
            using var restored = new TemporalWindow(new TemporalWindowOptions { MaxDevices = 5, Duration = TimeSpan.FromSeconds(30) }, time);
            restored.ImportState(state);
            Assert.Equal(WindowPhase.Closed, restored.Phase);
            Assert.Equal(WindowCloseReason.Elapsed, restored.LastClosure!.Reason);
        }
    }

    [Fact]
    public async Task ExportImport_ClosedWindow_KeepsParticipantsAndCarryOver()
    {
        (TemporalWindow window, FakeTimeProvider time) = Create(n: 2, seconds: 30, late: LateRequestPolicy.CarryOver);
        TemporalWindowState state;
        using (window)
        {
            window.Request("a");
            window.Request("b");
            window.Request("late");
            state = window.ExportState();
        }

        using var restored = new TemporalWindow(new TemporalWindowOptions { MaxDevices = 2, Duration = TimeSpan.FromSeconds(30), LatePolicy = LateRequestPolicy.CarryOver }, time);
        restored.ImportState(state);
        Assert.Equal(WindowPhase.Closed, restored.Phase);
        WindowClosure closure = await restored.WaitForCloseAsync();
        Assert.Equal(WindowCloseReason.Full, closure.Reason);
        Assert.Equal(["a", "b"], closure.Participants.Select(p => p.DeviceId));
        Assert.Null(restored.CompleteRound());
        Assert.Equal(["late"], restored.Pending.Select(p => p.DeviceId));
    }

    [Fact]
    public void ImportState_Inconsistent_Throws()
    {
        (TemporalWindow window, _) = Create(n: 2);
        using (window)
        {
            Assert.Throws<ArgumentException>(() => window.ImportState(new TemporalWindowState { Phase = WindowPhase.Open, Sequence = 1 }));
            Assert.Throws<ArgumentException>(() => window.ImportState(new TemporalWindowState { Phase = (WindowPhase)9, Sequence = 1 }));
        }
    }

    [Fact]
    public void CloseNow_ForcesClose()
    {
        (TemporalWindow window, _) = Create(n: 5, seconds: 30);
        using (window)
        {
            Assert.Null(window.CloseNow());
            window.Request("a");
            Assert.Equal(WindowCloseReason.Forced, window.CloseNow()!.Reason);
        }
    }

    [Fact]
    public async Task WaitForCloseAsync_Cancelled_ThrowsAndDisposeFaultsWaiters()
    {
        (TemporalWindow window, _) = Create(n: 5, seconds: 30);
        using var cts = new CancellationTokenSource();
        Task<WindowClosure> cancelled = window.WaitForCloseAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Task<WindowClosure> waiting = window.WaitForCloseAsync();
        window.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting);
        Assert.Throws<ObjectDisposedException>(() => window.Request("a"));
    }

    [Theory]
    [InlineData(null, null, WindowSizing.Fixed)]
    [InlineData(0, null, WindowSizing.Fixed)]
    [InlineData(3, null, WindowSizing.Adaptive)]
    public void Options_Invalid_Throw(int? n, int? seconds, WindowSizing sizing)
    {
        var options = new TemporalWindowOptions { MaxDevices = n, Duration = seconds is int s ? TimeSpan.FromSeconds(s) : null, Sizing = sizing };
        Assert.Throws<ArgumentException>(() => new TemporalWindow(options, new FakeTimeProvider()));
    }
}
