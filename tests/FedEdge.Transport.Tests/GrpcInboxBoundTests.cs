using FedEdge.Messaging;
using FedEdge.Transport.Grpc;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The gRPC coordinator's per-device inbox is bounded (issue 20: at 1,000 workers the coordinator kept about one model
/// per departed device). A device that connects, receives and disappears holds at most the latest models and task
/// while it is away, and nothing once it has been away past <see cref="GrpcCoordinatorOptions.AbsentInboxRetention"/>;
/// on its return it still gets the latest model and its task. The coordinator's clock is fake; worker and Kestrel are real.
/// </summary>
public sealed class GrpcInboxBoundTests : GrpcFakeClockCoordinatorTests
{
    protected override string DeviceId => "b-1";

    private protected override void Configure(GrpcCoordinatorOptions options) => options.AbsentInboxRetention = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task DepartedDevice_HoldsAtMostTheLatestModelsAndTask_AndNothingPastTheRetention()
    {
        var (worker, recorder) = await WorkerAsync();
        await PublishAsync(1);
        await Coordinator.SendTaskAsync("b-1", TestData.Task(1, Model(1)));
        Assert.Equal(1, (await recorder.NextAsync<RoundTask>()).Round);
        await Coordinator.SendReceiptAsync("b-1", new UpdateReceipt { Round = 1, Accepted = true });
        Assert.Equal(1, (await recorder.NextAsync<UpdateReceipt>()).Round);
        await WaitAsync(() => Coordinator.QueuedBytesOf("b-1") == 0);

        Owned.Remove(worker);
        await worker.DisposeAsync();
        await GoneAsync();

        // Rounds go on without the device: each publishes a model and sends it a task (as an engine re-selecting it would).
        var queued = new List<long>();
        for (int round = 2; round <= 8; round++)
        {
            await PublishAsync(round);
            await Coordinator.SendTaskAsync("b-1", TestData.Task(round, Model(round)));
            queued.Add(Coordinator.QueuedBytesOf("b-1"));
        }

        // One round's model and task is > 0; unbounded, the inbox would grow by that every round (7 rounds: 7 models).
        long oneRound = queued[0];
        Assert.True(oneRound > ModelBytes, $"one round queued {oneRound} bytes");
        Assert.All(queued, q => Assert.InRange(q, 1, 2 * oneRound));
        Assert.True(Coordinator.DroppedQueuedMessages > 0);

        // Past the retention the device's inbox is emptied, and stays empty while it is away.
        Time.Advance(TimeSpan.FromSeconds(61));
        await PublishAsync(9);
        Assert.Equal(0, Coordinator.QueuedBytesOf("b-1"));
        await Coordinator.SendTaskAsync("b-1", TestData.Task(9, Model(9)));
        Assert.Equal(0, Coordinator.QueuedBytesOf("b-1"));
        Assert.Equal(0, Coordinator.QueuedBytes);

        // On its return: the latest model first, and the re-sent task reaches it.
        var (_, again) = await WorkerAsync();
        Assert.Equal(9, (await again.NextAsync<GlobalModel>()).Version);
        await WaitAsync(() => Coordinator.IsSubscribed("b-1"));
        await Coordinator.SendTaskAsync("b-1", TestData.Task(9, Model(9)));
        Assert.Equal(9, (await again.NextAsync<RoundTask>()).Round);
    }

    [Fact]
    public void Options_NegativeAbsentInboxRetention_IsRefused()
    {
        var options = new GrpcCoordinatorOptions { AllowPlainText = true, AbsentInboxRetention = TimeSpan.FromSeconds(-1) };
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
    }

    private const int ModelLength = 20_000;

    private const int ModelBytes = ModelLength * sizeof(float);

    private static ParameterSet Model(int round) => TestData.RandomSet(round, ModelLength);

    private ValueTask PublishAsync(int round)
    {
        ParameterSet parameters = Model(round);
        return Coordinator.PublishGlobalModelAsync(new GlobalModel { Version = round, Hash = parameters.ComputeHash(), Parameters = parameters });
    }

    private async Task GoneAsync() => await WaitAsync(() => !Coordinator.IsSubscribed("b-1"));

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            await Task.Delay(20, patience.Token);
        }
    }
}
