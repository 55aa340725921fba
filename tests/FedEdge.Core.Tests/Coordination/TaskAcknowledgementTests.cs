using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>Round tasks are re-sent until the device acknowledges that very task (round and nonce), on a fake clock.</summary>
public sealed class TaskAcknowledgementTests
{
    private const int Features = 2;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RunRoundAsync_UnacknowledgedTask_IsResentWithTheSameNonceUntilTheDeviceNamesIt()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-02T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var network = new InProcessNetwork(time);
        var options = new CoordinatorOptions
        {
            MaxRounds = 1,
            MinParticipants = 1,
            WindowSize = 1,
            RoundTimeout = TimeSpan.FromMinutes(10),
            HeartbeatInterval = TimeSpan.FromHours(1),
            ResendDelay = TimeSpan.FromSeconds(1),
            MaxResendDelay = TimeSpan.FromSeconds(1),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1 },
        };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission(), timeProvider: time);
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))));
        var device = new ManualDevice();
        await using IWorkerTransport transport = network.CreateWorkerTransport("m");
        await transport.ConnectAsync(device);
        Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = "m" })).Accepted);
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training });
        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Any(d => d.Intent == DeviceIntent.Training));

        Task<RoundResult> round = coordinator.RunRoundAsync().AsTask();
        RoundTask first = await device.NextTaskAsync(Wait);

        // A status naming round 1 with another nonce (e.g. a retried round's earlier attempt) acknowledges nothing.
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training, ActiveRound = first.Round, ActiveNonce = "stale" });
        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Single().ActiveNonce == "stale");
        RoundTask again = await AdvanceUntilTaskAsync(time, device);
        Assert.Equal(first.Round, again.Round);
        Assert.Equal(first.Nonce, again.Nonce);

        // Naming the task acknowledges it: no more re-sends however long the round waits for the update.
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "m", Intent = DeviceIntent.Training, ActiveRound = first.Round, ActiveNonce = first.Nonce });
        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Single().ActiveNonce == first.Nonce);
        while (device.Tasks.TryDequeue(out _))
        {
            // Re-sends that left before the acknowledgement arrived.
        }

        for (int i = 0; i < 20; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            await Task.Delay(5);
        }

        await transport.SendUpdateAsync(new ModelUpdate
        {
            SenderId = "m",
            Round = first.Round,
            Nonce = first.Nonce,
            SampleCount = 5,
            Kind = UpdateKind.Parameters,
            Values = new ParameterSet(first.GlobalParameters.Layout, [1f, 2f]),
        });
        RoundResult result = await round.WaitAsync(Wait);
        Assert.True(result.Completed);
        Assert.True(result.TaskResends >= 1);
        Assert.Empty(device.Tasks); // nothing was sent after the acknowledgement
    }

    private static async Task<RoundTask> AdvanceUntilTaskAsync(FakeTimeProvider time, ManualDevice device)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (true)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            for (int i = 0; i < 20; i++)
            {
                if (device.Tasks.TryDequeue(out RoundTask? task))
                {
                    return task;
                }

                await Task.Delay(5, cts.Token);
            }
        }
    }
}
