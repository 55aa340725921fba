using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Transport.Faults;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

public class FaultInjectionTests
{
    private static readonly ParameterSet Small = TestData.RandomSet(1, 4);

    private static ModelUpdate Update(int round) => TestData.Update("w", round, TestData.RandomSet(round, 8));

    private static GlobalModel Model(long version) => new() { Version = version, Hash = "h", Parameters = Small };

    private static JoinRequest Join(string device = "w1") => new() { DeviceId = device };

    /// <summary>Which of updates 1..<paramref name="count"/> a worker decorator on <paramref name="link"/> lets through.</summary>
    private static async Task<bool[]> WorkerSendPatternAsync(FaultOptions options, string? link, int count = 200)
    {
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, link: link);
        for (int i = 1; i <= count; i++)
        {
            await faulty.SendUpdateAsync(Update(i));
        }

        HashSet<long> sent = inner.Sent.Select(u => u.Round).ToHashSet();
        return Enumerable.Range(1, count).Select(i => sent.Contains(i)).ToArray();
    }

    private static bool[] Pattern(IEnumerable<long> delivered, int count)
    {
        HashSet<long> set = delivered.ToHashSet();
        return Enumerable.Range(1, count).Select(i => set.Contains(i)).ToArray();
    }

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
            Assert.Equal(options.Counters.Dropped, options.Counters.DroppedOf(FaultMessageKind.Update));
            return inner.Sent.Select(u => u.Round).ToArray();
        }

        long[] first = await RunAsync();
        Assert.InRange(first.Length, 430, 570);
        Assert.Equal(first, await RunAsync());
    }

    [Fact]
    public async Task WithFaults_TwoWorkerLinksFromOneOptions_DrawDifferentSequences()
    {
        var options = new FaultOptions { DropRate = 0.5, Seed = 7 };
        bool[] w1 = await WorkerSendPatternAsync(options, "w1");
        bool[] w2 = await WorkerSendPatternAsync(options, "w2");

        // Identical patterns over 200 fair coins would be a 2^-200 accident: the links are not correlated.
        Assert.NotEqual(w1, w2);
        int agree = w1.Zip(w2).Count(p => p.First == p.Second);
        Assert.InRange(agree, 60, 140);
    }

    [Fact]
    public async Task WithFaults_SameSeedAndLink_ReproducesSequence()
    {
        bool[] first = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5, Seed = 11 }, "pi-1");
        bool[] again = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5, Seed = 11 }, "pi-1");
        bool[] otherSeed = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5, Seed = 12 }, "pi-1");
        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
    }

    [Fact]
    public async Task WithFaults_WorkerWithoutLink_UsesTheDefaultWorkerLink()
    {
        bool[] unnamed = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5 }, null);
        bool[] named = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5 }, FaultInjection.DefaultWorkerLink);
        Assert.Equal(named, unnamed);
    }

    [Fact]
    public async Task WithFaults_TwoDirectionsOfOneWorkerLink_DrawDifferentSequences()
    {
        const int count = 200;
        var options = new FaultOptions { DropRate = 0.5, Seed = 5 };
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, link: "w1");
        var handler = new CountingWorkerHandler();
        await faulty.ConnectAsync(handler);
        for (int i = 1; i <= count; i++)
        {
            await faulty.SendUpdateAsync(Update(i));
            await inner.Handler!.OnTaskAsync(TestData.Task(i, Small), CancellationToken.None);
        }

        bool[] up = Pattern(inner.Sent.Select(u => u.Round), count);
        bool[] down = Pattern(handler.Tasks, count);
        Assert.NotEqual(up, down);
        Assert.InRange(up.Zip(down).Count(p => p.First == p.Second), 60, 140);
    }

    [Fact]
    public async Task WithFaults_CoordinatorLinkToOneDevice_SameSequenceWhateverTrafficInterleaves()
    {
        const int count = 200;

        async Task<(bool[] W1, bool[] Models)> RunAsync(bool interleave)
        {
            var inner = new DrivenCoordinatorTransport();
            ICoordinatorTransport faulty = inner.WithFaults(new FaultOptions { DropRate = 0.5, Seed = 3 });
            for (int i = 1; i <= count; i++)
            {
                await faulty.SendTaskAsync("w1", TestData.Task(i, Small));
                await faulty.PublishGlobalModelAsync(Model(i));
                if (interleave)
                {
                    await faulty.SendTaskAsync("w2", TestData.Task(i, Small));
                    await faulty.SendTaskAsync("w2", TestData.Task(i, Small));
                }
            }

            return (Pattern(inner.Tasks.Where(t => t.Device == "w1").Select(t => t.Round), count), Pattern(inner.Models, count));
        }

        (bool[] alone, bool[] modelsAlone) = await RunAsync(interleave: false);
        (bool[] interleaved, bool[] modelsInterleaved) = await RunAsync(interleave: true);
        Assert.Equal(alone, interleaved);
        Assert.Equal(modelsAlone, modelsInterleaved);
        Assert.NotEqual(alone, modelsAlone);
        Assert.InRange(alone.Count(d => d), 60, 140);
    }

    [Fact]
    public async Task WithFaults_CoordinatorDeliveries_KeyedBySenderAndIndependentOfSends()
    {
        const int count = 200;
        var options = new FaultOptions { DropRate = 0.5, Seed = 9 };
        var inner = new DrivenCoordinatorTransport();
        ICoordinatorTransport faulty = inner.WithFaults(options);
        var handler = new RecordingCoordinator();
        await faulty.StartAsync(handler);
        for (int i = 1; i <= count; i++)
        {
            await faulty.SendTaskAsync("w", TestData.Task(i, Small));
            await inner.Handler!.OnUpdateAsync(Update(i), new InboundContext { AuthenticatedId = "w" }, CancellationToken.None);
        }

        bool[] sends = Pattern(inner.Tasks.Select(t => t.Round), count);
        bool[] deliveries = Pattern(handler.Updates.Select(u => u.Round), count);
        Assert.NotEqual(sends, deliveries);

        // The worker's end of link "w" draws from yet another generator than the coordinator's two.
        bool[] workerSends = await WorkerSendPatternAsync(new FaultOptions { DropRate = 0.5, Seed = 9 }, "w", count);
        Assert.NotEqual(workerSends, deliveries);
        Assert.NotEqual(workerSends, sends);
    }

    [Fact]
    public async Task WithFaults_TwoNamedCoordinatorsFromOneOptions_DrawDifferentSequences()
    {
        const int count = 200;
        var options = new FaultOptions { DropRate = 0.5, Seed = 4 };
        var edgeA = new DrivenCoordinatorTransport();
        var edgeB = new DrivenCoordinatorTransport();
        ICoordinatorTransport a = edgeA.WithFaults(options, link: "edge-a");
        ICoordinatorTransport b = edgeB.WithFaults(options, link: "edge-b");
        for (int i = 1; i <= count; i++)
        {
            await a.SendTaskAsync("w1", TestData.Task(i, Small));
            await b.SendTaskAsync("w1", TestData.Task(i, Small));
        }

        Assert.NotEqual(Pattern(edgeA.Tasks.Select(t => t.Round), count), Pattern(edgeB.Tasks.Select(t => t.Round), count));
    }

    [Fact]
    public async Task WithFaults_ProtocolSendsAtHalfLoss_DropsBetween45And55Percent()
    {
        const int count = 10_000;
        var options = new FaultOptions { DropRate = 0.5, Seed = 21 };
        var worker = new RecordingWorkerTransport();
        var coordinator = new DrivenCoordinatorTransport();
        IWorkerTransport faultyWorker = worker.WithFaults(options, link: "w1");
        ICoordinatorTransport faultyCoordinator = coordinator.WithFaults(options);
        for (int i = 0; i < count; i++)
        {
            byte[] payload = BitConverter.GetBytes(i);
            await faultyWorker.SendProtocolAsync(payload);
            await faultyCoordinator.SendProtocolAsync("w1", payload);
        }

        Assert.InRange(worker.SentProtocol.Count, 4_500, 5_500);
        Assert.InRange(coordinator.SentProtocol.Count, 4_500, 5_500);
        Assert.Equal((2 * count) - worker.SentProtocol.Count - coordinator.SentProtocol.Count, options.Counters.DroppedOf(FaultMessageKind.Protocol));
        Assert.Equal(0, options.Counters.DroppedOf(FaultMessageKind.Update));
        Assert.All(coordinator.SentProtocol, s => Assert.Equal("w1", s.Device));
    }

    [Fact]
    public async Task WithFaults_ProtocolDeliveriesDuplicated_TenPercentArriveTwice()
    {
        const int count = 10_000;
        var options = new FaultOptions { DuplicateRate = 0.1, Seed = 22 };
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, link: "w1");
        var handler = new CountingWorkerHandler();
        await faulty.ConnectAsync(handler);
        for (int i = 0; i < count; i++)
        {
            await inner.Handler!.OnProtocolAsync(BitConverter.GetBytes(i), CancellationToken.None);
        }

        int[] copies = handler.Protocol.GroupBy(p => BitConverter.ToInt32(p)).Select(g => g.Count()).ToArray();
        Assert.Equal(count, copies.Length);
        Assert.All(copies, c => Assert.InRange(c, 1, 2));
        Assert.InRange(copies.Count(c => c == 2), 800, 1_200);
        Assert.Equal(copies.Count(c => c == 2), options.Counters.Duplicated);
    }

    [Fact]
    public async Task WithFaults_ProtocolDeliveriesCorrupted_TwentyPercentHaveOneFlippedBit()
    {
        const int count = 10_000;
        var options = new FaultOptions { CorruptRate = 0.2, Seed = 23 };
        var inner = new DrivenCoordinatorTransport();
        ICoordinatorTransport faulty = inner.WithFaults(options);
        var handler = new ProtocolRecordingCoordinator();
        await faulty.StartAsync(handler);
        byte[][] originals = Enumerable.Range(0, count).Select(i => BitConverter.GetBytes((long)i * 7919)).ToArray();
        for (int i = 0; i < count; i++)
        {
            await inner.Handler!.OnProtocolAsync("w" + (i % 10), originals[i], default, CancellationToken.None);
        }

        (string Device, byte[] Payload)[] delivered = [.. handler.Protocol];
        Assert.Equal(count, delivered.Length);
        int corrupted = 0;
        for (int i = 0; i < count; i++)
        {
            Assert.Equal("w" + (i % 10), delivered[i].Device);
            int flippedBits = originals[i].Zip(delivered[i].Payload).Sum(p => System.Numerics.BitOperations.PopCount((uint)(p.First ^ p.Second)));
            Assert.InRange(flippedBits, 0, 1);
            corrupted += flippedBits;
        }

        Assert.InRange(corrupted, 1_700, 2_300);
        Assert.Equal(corrupted, options.Counters.Corrupted);

        // The caller's buffers were never touched: the decorator flips a copy.
        Assert.Equal(Enumerable.Range(0, count).Select(i => BitConverter.GetBytes((long)i * 7919)), originals);
    }

    [Fact]
    public async Task WithFaults_EmptyProtocolPayloadAtFullCorruption_PassesUnchanged()
    {
        var options = new FaultOptions { CorruptRate = 1 };
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, link: "w1");
        await faulty.SendProtocolAsync(ReadOnlyMemory<byte>.Empty);
        Assert.Empty(Assert.Single(inner.SentProtocol));
        Assert.Equal(0, options.Counters.Corrupted);
        Assert.Equal(1, options.Counters.Passed);
    }

    [Fact]
    public async Task WithFaults_DelayedProtocolPayload_DeliversTheBytesAsSent()
    {
        var time = new FakeTimeProvider();
        var inner = new RecordingWorkerTransport();
        var options = new FaultOptions { DelayRate = 1, MaxDelay = TimeSpan.FromSeconds(2) };
        IWorkerTransport faulty = inner.WithFaults(options, time, link: "w1");
        byte[] buffer = [1, 2, 3, 4];
        await faulty.SendProtocolAsync(buffer);
        buffer.AsSpan().Clear();
        Assert.Empty(inner.SentProtocol);
        time.Advance(TimeSpan.FromSeconds(2));
        await faulty.DisposeAsync();
        Assert.Equal([1, 2, 3, 4], Assert.Single(inner.SentProtocol));
        Assert.Equal(1, options.Counters.Delayed);
    }

    [Fact]
    public async Task WithFaults_InProcessProtocolPayloadFromCorruptingWorker_ArrivesWithOneFlippedBit()
    {
        var network = new InProcessNetwork();
        await using ICoordinatorTransport coordinator = network.CreateCoordinatorTransport();
        var handler = new ProtocolRecordingCoordinator();
        await coordinator.StartAsync(handler);
        await using IWorkerTransport worker = network.CreateWorkerTransport("w1").WithFaults(new FaultOptions { CorruptRate = 1 }, link: "w1");
        await worker.ConnectAsync(new CountingWorkerHandler());
        byte[] payload = [0x10, 0x20, 0x30, 0x40, 0x50];
        Assert.True(worker.SupportsProtocolMessages);
        await worker.SendProtocolAsync(payload);

        (string device, byte[] received) = await handler.NextProtocolAsync();
        Assert.Equal("w1", device);
        Assert.Equal(payload.Length, received.Length);
        Assert.Equal(1, payload.Zip(received).Sum(p => System.Numerics.BitOperations.PopCount((uint)(p.First ^ p.Second))));
    }

    [Fact]
    public async Task WithFaults_JoinRequestDropped_JoinAsyncTimesOutAfterJoinLossTimeoutOnFakeClock()
    {
        var time = new FakeTimeProvider();
        var options = new FaultOptions { DropRate = 1, JoinLossTimeout = TimeSpan.FromSeconds(5) };
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, time, link: "w1");

        Task<JoinResponse> join = faulty.JoinAsync(Join()).AsTask();
        time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.False(join.IsCompleted);
        time.Advance(TimeSpan.FromTicks(1));

        TimeoutException error = await Assert.ThrowsAsync<TimeoutException>(() => join);
        Assert.Contains("join request", error.Message, StringComparison.Ordinal);
        Assert.Contains("lost (fault injection", error.Message, StringComparison.Ordinal);
        Assert.Contains("'w1'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, inner.Joins);
        Assert.Equal(1, options.Counters.DroppedOf(FaultMessageKind.Join));
    }

    [Fact]
    public async Task WithFaults_JoinResponseDropped_CoordinatorSawJoinButJoinAsyncTimesOut()
    {
        var time = new FakeTimeProvider();
        var options = new FaultOptions();
        var inner = new RecordingWorkerTransport();

        // The request passes (no faults yet); the response meets a drop rate of 1.
        inner.OnJoin = () => options.DropRate = 1;
        IWorkerTransport faulty = inner.WithFaults(options, time, link: "w1");

        Task<JoinResponse> join = faulty.JoinAsync(Join()).AsTask();
        Assert.Equal(1, inner.Joins);
        Assert.False(join.IsCompleted);
        time.Advance(FaultOptions.DefaultJoinLossTimeout);

        TimeoutException error = await Assert.ThrowsAsync<TimeoutException>(() => join);
        Assert.Contains("join response", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, options.Counters.DroppedOf(FaultMessageKind.Join));
    }

    [Fact]
    public async Task WithFaults_JoinCancelledWhileLost_ThrowsOperationCanceled()
    {
        var time = new FakeTimeProvider();
        IWorkerTransport faulty = new RecordingWorkerTransport().WithFaults(new FaultOptions { DropRate = 1 }, time, link: "w1");
        using var cts = new CancellationTokenSource();
        Task<JoinResponse> join = faulty.JoinAsync(Join(), cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => join);
    }

    [Fact]
    public async Task WithFaults_JoinDuplicated_CoordinatorSeesItTwiceAndWorkerGetsTheAnswer()
    {
        var options = new FaultOptions { DuplicateRate = 1 };
        var inner = new RecordingWorkerTransport();
        IWorkerTransport faulty = inner.WithFaults(options, link: "w1");
        JoinResponse response = await faulty.JoinAsync(Join());
        Assert.True(response.Accepted);
        Assert.Equal(2, inner.Joins);
        Assert.Equal(2, options.Counters.Duplicated);
    }

    [Fact]
    public async Task WithFaults_JoinRequestDelayed_AnswersOnlyAfterTheClockMoves()
    {
        var time = new FakeTimeProvider();
        var options = new FaultOptions { ReorderRate = 1, MaxDelay = TimeSpan.FromSeconds(3) };
        var inner = new RecordingWorkerTransport();
        inner.OnJoin = () => options.ReorderRate = 0;
        IWorkerTransport faulty = inner.WithFaults(options, time, link: "w1");

        Task<JoinResponse> join = faulty.JoinAsync(Join()).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(join.IsCompleted);
        Assert.Equal(0, inner.Joins);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await join).Accepted);
        Assert.Equal(1, inner.Joins);
    }

    [Fact]
    public async Task WithFaults_CoordinatorJoinAtFullLoss_PassesThrough()
    {
        var inner = new DrivenCoordinatorTransport();
        var options = new FaultOptions { DropRate = 1 };
        ICoordinatorTransport faulty = inner.WithFaults(options);
        await faulty.StartAsync(new RecordingCoordinator());
        JoinResponse response = await inner.Handler!.OnJoinAsync(Join(), default, CancellationToken.None);
        Assert.True(response.Accepted);
        Assert.Equal(0, options.Counters.Dropped);
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
    public async Task WithFaults_DelayOnTopOfHalfLoss_DelaysEverySurvivor()
    {
        var time = new FakeTimeProvider();
        var inner = new RecordingWorkerTransport();
        var options = FaultOptions.Parse("drop=0.5,delay=5s,seed=2");
        IWorkerTransport faulty = inner.WithFaults(options, time, link: "w1");
        for (int i = 1; i <= 100; i++)
        {
            await faulty.SendUpdateAsync(Update(i));
        }

        Assert.Empty(inner.Sent);
        time.Advance(TimeSpan.FromSeconds(5));
        await faulty.DisposeAsync();
        Assert.Equal(100 - options.Counters.Dropped, inner.Sent.Count);
        Assert.Equal(inner.Sent.Count, options.Counters.Delayed);
        Assert.InRange(inner.Sent.Count, 30, 70);
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

    [Fact]
    public void FaultOptions_ExclusiveRatesSumAboveOne_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RecordingWorkerTransport().WithFaults(new FaultOptions { DropRate = 0.6, CorruptRate = 0.5 }));
    }

    [Fact]
    public void FaultOptions_NegativeJoinLossTimeout_Throws()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new FaultOptions { JoinLossTimeout = TimeSpan.FromSeconds(-1) }.Validate());
        Assert.Equal(nameof(FaultOptions.JoinLossTimeout), error.ParamName);
    }
}
