using FedEdge.Messaging;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

/// <summary>Issue 20: a worker holds back update re-sends while its last copy is queued at the broker, scaled to the receipt time it saw.</summary>
public sealed class MqttResendPacerTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void ShouldHold_BeforeAnyReceipt_NeverHolds()
    {
        var pacer = new MqttResendPacer(_time, factor: 2, maxHold: TimeSpan.FromSeconds(3));
        ModelUpdate update = TestData.Update("d", 1, TestData.RandomSet(1, 10));
        pacer.OnLeft(update, connection: 1);

        Assert.False(pacer.ShouldHold(update, connection: 1));
        Assert.Equal(0, pacer.HeldBack);
    }

    [Fact]
    public void ShouldHold_WithinTwiceTheObservedLatency_HoldsThenLetsTheReSendGo()
    {
        var pacer = new MqttResendPacer(_time, factor: 2, maxHold: TimeSpan.FromSeconds(3));
        ModelUpdate first = TestData.Update("d", 1, TestData.RandomSet(1, 10));
        pacer.OnLeft(first, connection: 1);
        _time.Advance(TimeSpan.FromMilliseconds(400));
        pacer.OnReceipt(1);
        Assert.Equal(TimeSpan.FromMilliseconds(400), pacer.ReceiptLatency);

        ModelUpdate second = TestData.Update("d", 2, TestData.RandomSet(2, 10));
        Assert.False(pacer.ShouldHold(second, connection: 1)); // its first copy always goes
        pacer.OnLeft(second, connection: 1);
        _time.Advance(TimeSpan.FromMilliseconds(150));
        Assert.True(pacer.ShouldHold(second, connection: 1));
        _time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.True(pacer.ShouldHold(second, connection: 1));
        _time.Advance(TimeSpan.FromMilliseconds(50)); // 800 ms = 2 × 400 ms since the copy left
        Assert.False(pacer.ShouldHold(second, connection: 1));
        Assert.Equal(2, pacer.HeldBack);

        // The re-send that went out restarts the hold.
        pacer.OnLeft(second, connection: 1);
        Assert.True(pacer.ShouldHold(second, connection: 1));
    }

    [Fact]
    public void ShouldHold_AfterReconnectOrForAnotherUpdate_DoesNotHold()
    {
        var pacer = new MqttResendPacer(_time, factor: 2, maxHold: TimeSpan.FromSeconds(3));
        ModelUpdate update = TestData.Update("d", 1, TestData.RandomSet(1, 10));
        pacer.OnLeft(update, connection: 1);
        _time.Advance(TimeSpan.FromSeconds(1));
        pacer.OnReceipt(1);
        pacer.OnLeft(update, connection: 1);

        Assert.True(pacer.ShouldHold(update, connection: 1));
        Assert.False(pacer.ShouldHold(update, connection: 2)); // the broker session may not hold the copy any more
        Assert.False(pacer.ShouldHold(TestData.Update("d", 1, TestData.RandomSet(1, 10)), connection: 1)); // another update object
    }

    [Fact]
    public void ShouldHold_SlowReceipts_CappedAtMaxHold_AndFactorZeroTurnsItOff()
    {
        var capped = new MqttResendPacer(_time, factor: 2, maxHold: TimeSpan.FromSeconds(3));
        var off = new MqttResendPacer(_time, factor: 0, maxHold: TimeSpan.FromSeconds(3));
        ModelUpdate update = TestData.Update("d", 5, TestData.RandomSet(5, 10));
        foreach (MqttResendPacer pacer in new[] { capped, off })
        {
            pacer.OnLeft(update, connection: 1);
        }

        _time.Advance(TimeSpan.FromSeconds(10));
        capped.OnReceipt(5);
        off.OnReceipt(5);
        capped.OnReceipt(5); // a later receipt for a copy does not change the latency
        capped.OnLeft(update, connection: 1);
        off.OnLeft(update, connection: 1);
        _time.Advance(TimeSpan.FromMilliseconds(2900));

        Assert.True(capped.ShouldHold(update, connection: 1));
        Assert.False(off.ShouldHold(update, connection: 1));
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.False(capped.ShouldHold(update, connection: 1));
        Assert.Equal(TimeSpan.FromSeconds(10), capped.ReceiptLatency);
    }
}
