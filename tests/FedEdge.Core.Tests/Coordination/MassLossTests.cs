using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Messaging.InProcess;
using FedEdge.Rounds;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>
/// Issue 20: at 1,000 Mosquitto workers the heartbeats queued behind the round's uploads and the coordinator declared
/// almost every device lost in round 1. What the coordinator does after such a mass loss, on fake clocks: every lost
/// participant leaves round 1 at once (the round fails on its quorum without waiting for its deadline), the late updates
/// are refused with a receipt, and each device that is heard again (any message) is a training candidate again, so the
/// next round's window fills and its tasks go out as soon as the last one asked: no clock needs to move for round 2.
/// The coordinator and the workers have separate clocks: the coordinator's moves past the liveness window while the
/// workers' stands still, which is how a device looks whose heartbeats are stuck in a queue.
/// </summary>
public sealed class MassLossTests
{
    private const int Features = 4;
    private const int Devices = 5;
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-12-03T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task EveryParticipantLostInRound1_Round1FailsAtOnce_AndTheDevicesHeardAgainTrainInTheNextRound()
    {
        var coordinatorClock = new FakeTimeProvider(Start);
        var workerClock = new FakeTimeProvider(Start);
        var network = new InProcessNetwork(coordinatorClock);
        var options = new CoordinatorOptions
        {
            MaxRounds = 3,
            MinParticipants = Devices, // as in `bench round`: every device is needed
            WindowSize = Devices,
            WindowDuration = TimeSpan.FromSeconds(10),
            RoundTimeout = TimeSpan.FromSeconds(60),
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            MissedHeartbeats = 3,
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission([]), timeProvider: coordinatorClock);
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))));
        var gate = new SemaphoreSlim(0);
        var trainer = new MeanTrainer(Features, gate);
        var workers = Enumerable.Range(0, Devices).Select(i => new Worker(
            Options.Create(new WorkerOptions { DeviceId = $"d{i}", HeartbeatInterval = options.HeartbeatInterval }),
            network.CreateWorkerTransport($"d{i}"),
            trainer,
            new InMemoryDataSource(TestData.Constant(10, Features, i + 1)),
            timeProvider: workerClock)).ToList();
        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            await CoordinatorTests.WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == Devices);

            // Round 1: every device got its task and trains (held by the gate); then nothing is heard from any of them.
            Task<RoundResult> round1 = coordinator.RunRoundAsync().AsTask();
            await CoordinatorTests.WaitUntil(() => workers.All(w => w.State == WorkerState.Running));
            for (int step = 0; step < 8 && !round1.IsCompleted; step++)
            {
                coordinatorClock.Advance(options.HeartbeatInterval / 2);
                await Task.Delay(20);
            }

            // Lost participants leave the round: it fails on its quorum long before its deadline.
            RoundResult first = await round1.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(first.Completed);
            Assert.Contains("quorum not met: 0 of the 5", first.FailureReason, StringComparison.Ordinal);
            Assert.Equal(Devices, first.Failed.Count);
            Assert.All(first.Failed, f => Assert.StartsWith("lost: nothing heard", f.Reason, StringComparison.Ordinal));
            Assert.True(coordinatorClock.GetUtcNow() - Start < options.RoundTimeout);

            // The devices' queued work arrives: their round-1 updates (refused as late, with a receipt) and their
            // training requests. Each is a sign of life, so every device is a candidate again.
            gate.Release(Devices);
            await CoordinatorTests.WaitUntil(() => workers.All(w => w.Receipts.Count == 1));
            Assert.All(workers, w => Assert.False(w.Receipts[0].Accepted));
            Assert.All(workers, w => Assert.Contains("round 1 is closed", w.Receipts[0].Reason, StringComparison.Ordinal));
            await CoordinatorTests.WaitUntil(() => workers.All(w => w.State == WorkerState.ReadyForLearning));

            // The next round (a failed round is run again under its number, with a new nonce): the window fills with the
            // five returned devices and the tasks go out with no clock moving.
            DateTimeOffset before = coordinatorClock.GetUtcNow();
            Task<RoundResult> again = coordinator.RunRoundAsync().AsTask();
            await CoordinatorTests.WaitUntil(() => trainer.Calls == 2 * Devices);
            gate.Release(Devices);
            RoundResult second = await again.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(second.Completed, second.FailureReason);
            Assert.Equal(1, second.Round);
            Assert.Equal(Devices, second.Participants);
            Assert.Equal(before, coordinatorClock.GetUtcNow());
            Assert.Equal(1, coordinator.CompletedRounds);
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OneDeviceNeverHeardAgain_AQuorumOfAllGivesUpAfterTheJoinTimeout_SayingHowManyAsked()
    {
        var coordinatorClock = new FakeTimeProvider(Start);
        var returningClock = new FakeTimeProvider(Start);
        var silentClock = new FakeTimeProvider(Start);
        var network = new InProcessNetwork(coordinatorClock);
        var options = new CoordinatorOptions
        {
            MaxRounds = 3,
            MinParticipants = Devices,
            WindowSize = Devices,
            WindowDuration = TimeSpan.FromMinutes(10), // longer than the join timeout: only the timeout ends the wait
            JoinTimeout = TimeSpan.FromMinutes(2),
            RoundTimeout = TimeSpan.FromMinutes(10),
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            MissedHeartbeats = 100,
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission([]), timeProvider: coordinatorClock);
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))));
        var gate = new SemaphoreSlim(0);
        var trainer = new MeanTrainer(Features, gate);
        var held = new MeanTrainer(Features, new SemaphoreSlim(0));
        var workers = Enumerable.Range(0, Devices).Select(i => new Worker(
            Options.Create(new WorkerOptions { DeviceId = $"d{i}", HeartbeatInterval = options.HeartbeatInterval }),
            network.CreateWorkerTransport($"d{i}"),
            i < Devices - 1 ? trainer : held,
            new InMemoryDataSource(TestData.Constant(10, Features, i + 1)),
            timeProvider: i < Devices - 1 ? returningClock : silentClock)).ToList();
        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            await CoordinatorTests.WaitUntil(() => coordinator.Devices.Count(d => d.Intent == DeviceIntent.Training) == Devices);
            Task<RoundResult> round1 = coordinator.RunRoundAsync().AsTask();
            await CoordinatorTests.WaitUntil(() => workers.All(w => w.State == WorkerState.Running));
            for (int step = 0; step < 2 * options.MissedHeartbeats && !round1.IsCompleted; step++)
            {
                coordinatorClock.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(5);
            }

            Assert.False((await round1.WaitAsync(TimeSpan.FromSeconds(30))).Completed);

            // Four devices are heard again (their late updates, then their heartbeats); the fifth never is.
            gate.Release(Devices - 1);
            await CoordinatorTests.WaitUntil(() => workers.Take(Devices - 1).All(w => w.State == WorkerState.ReadyForLearning));
            Task<RoundResult> again = coordinator.RunRoundAsync().AsTask();
            for (int step = 0; step < 3 * options.JoinTimeout.TotalSeconds && !again.IsCompleted; step++)
            {
                returningClock.Advance(TimeSpan.FromSeconds(1));
                coordinatorClock.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(20);
            }

            RoundResult result = await again.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(result.Completed);
            Assert.Equal(
                "too few devices asked to train within 00:02:00: 4 of the 5 required were asking (5 admitted, 1 of them lost)",
                result.FailureReason);
            Assert.Empty(result.Selected);
            Assert.All(workers.Take(Devices - 1), w => Assert.Equal(WorkerState.ReadyForLearning, w.State));
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }
}
