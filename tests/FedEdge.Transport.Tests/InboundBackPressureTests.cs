using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 20: the MQTT inbound queue is bounded. A device that publishes far faster than the coordinator's handler
/// keeps up cannot grow the coordinator's queue past <see cref="MqttTransportOptionsBase.InboundQueueCapacity"/>: a
/// message is acknowledged only when the handler takes it, and the broker keeps at most Receive Maximum unacknowledged
/// messages out. Other devices are served once the handler moves.
/// </summary>
public sealed class InboundBackPressureTests
{
    [Fact]
    public async Task EmbeddedMqtt_DeviceFloodsWhileHandlerIsStuck_InboundQueueStaysAtCapacityAndOthersServedAfter()
    {
        const string Federation = "backpressure";
        const int Capacity = 8;
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["flooder"] = "pw-flooder";
        broker.DevicePasswords["honest"] = "pw-honest";
        var options = new MqttCoordinatorOptions { Federation = Federation, InboundQueueCapacity = Capacity };
        var handler = new StuckHandler();
        await using var coordinator = new MqttCoordinatorTransport(options, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(handler);

        using IMqttClient flooder = await RawMqttDevice.ConnectAsync(coordinator, Federation, "flooder", "pw-flooder");

        // 1,500 valid status messages, each about 1 KiB with its padding reason, while the handler is stuck on the first.
        string topic = MqttTopicScheme.Status(Federation, "flooder");
        int peak = 0;
        for (int i = 0; i < 1500; i++)
        {
            DeviceStatus status = TestData.Status("flooder", DeviceIntent.Training) with { Reason = new string('x', 1000) };
            byte[] frame = WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), SenderId = "flooder", Body = status })).Single();
            await flooder.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(frame)
                .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
            peak = Math.Max(peak, coordinator.InboundQueued);
        }

        // Let the broker push whatever it still may, then look again.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (coordinator.InboundQueued < Capacity)
        {
            await Task.Delay(20, cts.Token);
        }

        await Task.Delay(500, cts.Token);
        peak = Math.Max(peak, coordinator.InboundQueued);
        // Full, and never beyond: one message in the stuck handler, the capacity in the queue.
        Assert.Equal(Capacity, peak);
        Assert.Equal(1, handler.Entered);

        // The handler moves again: the backlog drains and another device is served.
        handler.Release();
        await using var honest = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = "honest", Password = "pw-honest", BrokerUri = coordinator.BrokerUri });
        await honest.ConnectAsync(new RecordingWorker(), cts.Token);
        await honest.PublishStatusAsync(TestData.Status("honest", DeviceIntent.Training), cts.Token);
        await handler.Honest.Task.WaitAsync(cts.Token);
        Assert.True(handler.Entered > Capacity, $"only {handler.Entered} flooder statuses were handled after the release");
        await flooder.DisconnectAsync();
    }

    /// <summary>Blocks on the flooder's statuses until released; records the honest device's status.</summary>
    private sealed class StuckHandler : ICoordinatorHandler
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _entered;

        public TaskCompletionSource Honest { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Entered => Volatile.Read(ref _entered);

        public void Release() => _release.TrySetResult();

        public async ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken)
        {
            if (status.DeviceId == "honest")
            {
                Honest.TrySetResult();
                return;
            }

            Interlocked.Increment(ref _entered);
            await _release.Task.WaitAsync(cancellationToken);
        }

        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new JoinResponse { Accepted = true });

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
