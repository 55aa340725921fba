using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Grpc;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The gRPC coordinator holds back a re-sent round task while a copy of it was written whole to the device's open
/// inbox stream: the hold adapts to the devices' acknowledgement times (capped by
/// <see cref="GrpcCoordinatorOptions.TaskResendHold"/>), and a stream that ended lets the re-send out at once.
/// The coordinator's clock is fake; the worker and Kestrel run for real on loopback.
/// </summary>
public sealed class GrpcTaskResendHoldTests : GrpcFakeClockCoordinatorTests
{
    private readonly ParameterSet _global = TestData.RandomSet(5, 30_000);

    protected override string DeviceId => "h-1";

    private protected override void Configure(GrpcCoordinatorOptions options) => options.TaskResendHold = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Resend_OfATaskDeliveredOnTheOpenStream_IsHeldUntilTheHoldPasses()
    {
        var (_, recorder) = await WorkerAsync();
        RoundTask task = TestData.Task(1, _global);
        await Coordinator.SendTaskAsync("h-1", task);
        Assert.Equal(1, (await recorder.NextAsync<RoundTask>()).Round);
        await DeliveredAsync(recorder, 1);

        // One second later (fake clock), well inside the 2 s cap: the re-send is held, nothing new reaches the worker.
        Time.Advance(TimeSpan.FromSeconds(1));
        await Coordinator.SendTaskAsync("h-1", task);
        Assert.Equal(1, Coordinator.TaskResendsHeld);
        await DeliveredAsync(recorder, 2);

        // Past the hold the re-send goes out: a device that dropped the task gets it again.
        Time.Advance(TimeSpan.FromSeconds(1.5));
        await Coordinator.SendTaskAsync("h-1", task);
        Assert.Equal(1, Coordinator.TaskResendsHeld);
        Assert.Equal(1, Assert.IsType<RoundTask>(await recorder.NextAsync<object>()).Round);
    }

    [Fact]
    public async Task Resend_AfterAcknowledgementsWereTimed_IsHeldOnlyFourTimesTheAcknowledgementTime()
    {
        var (worker, recorder) = await WorkerAsync();
        RoundTask task = TestData.Task(1, _global);
        await Coordinator.SendTaskAsync("h-1", task);
        await recorder.NextAsync<RoundTask>();
        await DeliveredAsync(recorder, 1);
        Assert.Equal(TimeSpan.FromSeconds(2), Coordinator.CurrentResendHold);

        // The device acknowledges 100 ms (fake clock) after the task was written: the hold becomes 400 ms.
        Time.Advance(TimeSpan.FromMilliseconds(100));
        await worker.PublishStatusAsync(TestData.Status("h-1", DeviceIntent.Training) with { ActiveRound = 1, ActiveNonce = task.Nonce });
        await Handler.NextAsync<DeviceStatus>(s => s.ActiveRound == 1);
        Assert.Equal(TimeSpan.FromMilliseconds(400), Coordinator.CurrentResendHold);

        Time.Advance(TimeSpan.FromMilliseconds(200));
        await Coordinator.SendTaskAsync("h-1", task);
        Assert.Equal(1, Coordinator.TaskResendsHeld);

        Time.Advance(TimeSpan.FromMilliseconds(200));
        await Coordinator.SendTaskAsync("h-1", task);
        Assert.Equal(1, Coordinator.TaskResendsHeld);
        Assert.Equal(1, Assert.IsType<RoundTask>(await recorder.NextAsync<object>()).Round);
    }

    [Fact]
    public async Task Resend_AfterTheStreamEnded_GoesOutAtOnceAndReachesTheReconnectedWorker()
    {
        var (first, recorder) = await WorkerAsync();
        RoundTask task = TestData.Task(1, _global);
        await Coordinator.SendTaskAsync("h-1", task);
        await recorder.NextAsync<RoundTask>();
        await DeliveredAsync(recorder, 1);
        Owned.Remove(first);
        await first.DisposeAsync();

        // No time passes on the coordinator's clock: once it notices the stream ended, the next re-send is queued.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        long held;
        do
        {
            await Task.Delay(50, patience.Token);
            held = Coordinator.TaskResendsHeld;
            await Coordinator.SendTaskAsync("h-1", task);
        }
        while (Coordinator.TaskResendsHeld > held);

        var (_, again) = await WorkerAsync();
        Assert.Equal(1, (await again.NextAsync<RoundTask>()).Round);
    }

    [Fact]
    public void ResendHold_AdaptsBetweenItsFloorAndItsCap_AndZeroTurnsItOff()
    {
        var hold = new GrpcCoordinatorTransport.ResendHold(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), hold.Current);
        hold.Observe(TimeSpan.FromMilliseconds(10));
        Assert.Equal(TimeSpan.FromMilliseconds(100), hold.Current);

        // Smoothed with weight 1/8: 10 + (810 - 10) / 8 = 110 ms, times four.
        hold.Observe(TimeSpan.FromMilliseconds(810));
        Assert.Equal(TimeSpan.FromMilliseconds(440), hold.Current);
        for (int i = 0; i < 100; i++)
        {
            hold.Observe(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(TimeSpan.FromSeconds(2), hold.Current);

        var off = new GrpcCoordinatorTransport.ResendHold(TimeSpan.Zero);
        off.Observe(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.Zero, off.Current);
    }

    [Fact]
    public void Options_NegativeTaskResendHold_IsRefused()
    {
        var options = new GrpcCoordinatorOptions { AllowPlainText = true, TaskResendHold = TimeSpan.FromMilliseconds(-1) };
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
    }

    /// <summary>
    /// Sends a receipt behind what the inbox holds and waits for it to be the worker's next message: everything queued
    /// before it was written whole (and nothing else arrived in between).
    /// </summary>
    private async Task DeliveredAsync(RecordingWorker recorder, long marker)
    {
        await Coordinator.SendReceiptAsync("h-1", new UpdateReceipt { Round = marker, Accepted = true });
        Assert.Equal(marker, Assert.IsType<UpdateReceipt>(await recorder.NextAsync<object>()).Round);
    }
}
