using System.Collections.Concurrent;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Faults;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

public class FaultInjectionTests
{
    /// <summary>A worker transport that records what reaches it, and lets the test deliver inbound messages.</summary>
    private sealed class RecordingWorkerTransport : IWorkerTransport
    {
        public ConcurrentQueue<ModelUpdate> Sent { get; } = new();

        public IWorkerHandler? Handler { get; private set; }

        public TransportStatistics Statistics { get; } = new();

        public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
        {
            Handler = handler;
            return ValueTask.CompletedTask;
        }

        public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new JoinResponse { Accepted = true });

        public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
        {
            Sent.Enqueue(update);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A coordinator transport whose handler the test drives.</summary>
    private sealed class DrivenCoordinatorTransport : ICoordinatorTransport
    {
        public ICoordinatorHandler? Handler { get; private set; }

        public TransportStatistics Statistics { get; } = new();

        public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
        {
            Handler = handler;
            return ValueTask.CompletedTask;
        }

        public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static ModelUpdate Update(int round) => TestData.Update("w", round, TestData.RandomSet(round, 8));

    [Fact]
    public async Task WithFaults_HalfLoss_DropsAboutHalfReproducibly()
    {
        async Task<long[]> RunAsync()
        {
            var inner = new RecordingWorkerTransport();
            var options = new FaultOptions { DropRate = 0.5, Seed = 7 };
            IWorkerTransport faulty = inner.WithFaults(options);
            for (int i = 1; i <= 1000; i++)
            {
                await faulty.SendUpdateAsync(Update(i));
            }

            Assert.Equal(1000 - options.Counters.Dropped, inner.Sent.Count);
            return inner.Sent.Select(u => u.Round).ToArray();
        }

        long[] first = await RunAsync();
        Assert.InRange(first.Length, 430, 570);
        Assert.Equal(first, await RunAsync());
    }

    [Fact]
    public async Task WithFaults_Duplicate_DeliversTwice()
    {
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(new FaultOptions { DuplicateRate = 1 });
        await faulty.SendUpdateAsync(Update(1));
        Assert.Equal([1L, 1L], inner.Sent.Select(u => u.Round));
    }

    [Fact]
    public async Task WithFaults_Reorder_LaterMessagesOvertakeHeldOnes()
    {
        var time = new FakeTimeProvider();
        var inner = new RecordingWorkerTransport();
        var options = new FaultOptions { ReorderRate = 1, MaxDelay = TimeSpan.FromSeconds(1) };
        IWorkerTransport faulty = inner.WithFaults(options, time);
        await faulty.SendUpdateAsync(Update(1));
        options.ReorderRate = 0;
        await faulty.SendUpdateAsync(Update(2));
        Assert.Equal([2L], inner.Sent.Select(u => u.Round));
        time.Advance(TimeSpan.FromSeconds(1));
        await faulty.DisposeAsync();
        Assert.Equal([2L, 1L], inner.Sent.Select(u => u.Round));
        Assert.Equal(1, options.Counters.Reordered);
    }

    [Fact]
    public async Task WithFaults_Delay_HoldsUntilTimeAdvances()
    {
        var time = new FakeTimeProvider();
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(new FaultOptions { DelayRate = 1, MaxDelay = TimeSpan.FromSeconds(5) }, time);
        await faulty.SendUpdateAsync(Update(1));
        Assert.Empty(inner.Sent);
        time.Advance(TimeSpan.FromSeconds(5));
        await faulty.DisposeAsync();
        Assert.Single(inner.Sent);
    }

    [Fact]
    public async Task WithFaults_CorruptInbound_EveryMessageIsReportedOrAltered()
    {
        var inner = new DrivenCoordinatorTransport();
        var options = new FaultOptions { CorruptRate = 1, Seed = 3 };
        ICoordinatorTransport faulty = inner.WithFaults(options);
        var handler = new RecordingCoordinator();
        await faulty.StartAsync(handler);
        ModelUpdate original = Update(5);
        for (int i = 0; i < 200; i++)
        {
            await inner.Handler!.OnUpdateAsync(original, new InboundContext { AuthenticatedId = "w" }, CancellationToken.None);
        }

        Assert.Equal(200, options.Counters.Corrupted);
        Assert.Equal(200, handler.Updates.Count + handler.Malformed.Count);
        Assert.NotEmpty(handler.Malformed);
        Assert.All(handler.Malformed, m => Assert.IsAssignableFrom<WireFormatException>(m.Error));
        Assert.Contains(handler.Updates, u => u.Values.ComputeHash() != original.Values.ComputeHash() || u.Nonce != original.Nonce || u.SampleCount != original.SampleCount || u.Round != original.Round || u.SenderId != original.SenderId || u.Metrics.Count != original.Metrics.Count || u.Metrics.Values.First() != original.Metrics.Values.First());
    }

    [Fact]
    public void FaultOptions_RateAboveOne_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RecordingWorkerTransport().WithFaults(new FaultOptions { DropRate = 1.5 }));
    }
}
