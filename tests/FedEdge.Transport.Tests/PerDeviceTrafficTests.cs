using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The coordinator transports count bytes per authenticated device: over the embedded MQTT broker (by the device id of
/// the topic the broker authorised) and over gRPC (by the call's authenticated identity). Two devices send updates of
/// very different sizes and are sent tasks of very different sizes; their rows differ accordingly and add up to the
/// transport's totals.
/// </summary>
public sealed class PerDeviceTrafficTests
{
    private const string Small = "small";
    private const string Large = "large";
    private const int SmallValues = 64;
    private const int LargeValues = 20_000;

    [Fact]
    public async Task EmbeddedMqtt_TwoDevicesOfDifferentSizes_CountedApartAndAddingUpToTheTotals()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords[Small] = "pw-small";
        broker.DevicePasswords[Large] = "pw-large";
        await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "bytes" }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        var handler = new RecordingCoordinator();
        await coordinator.StartAsync(handler);
        await using var small = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "bytes", DeviceId = Small, Password = "pw-small", BrokerUri = coordinator.BrokerUri });
        await using var large = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "bytes", DeviceId = Large, Password = "pw-large", BrokerUri = coordinator.BrokerUri });

        await ExchangeAsync(coordinator, handler, small, large);
    }

    [Fact]
    public async Task Grpc_TwoDevicesOfDifferentSizes_CountedApartAndAddingUpToTheTotals()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true };
        options.DeviceTokens[Small] = "tok-small";
        options.DeviceTokens[Large] = "tok-large";
        await using var coordinator = new GrpcCoordinatorTransport(options);
        var handler = new RecordingCoordinator();
        await coordinator.StartAsync(handler);
        await using var small = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = coordinator.Address, DeviceId = Small, Token = "tok-small" });
        await using var large = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = coordinator.Address, DeviceId = Large, Token = "tok-large" });

        await ExchangeAsync(coordinator, handler, small, large);
    }

    private static async Task ExchangeAsync(ICoordinatorTransport coordinator, RecordingCoordinator handler, IWorkerTransport small, IWorkerTransport large)
    {
        var smallWorker = new RecordingWorker();
        var largeWorker = new RecordingWorker();
        await small.ConnectAsync(smallWorker);
        await large.ConnectAsync(largeWorker);

        await small.SendUpdateAsync(TestData.Update(Small, 1, TestData.RandomSet(1, SmallValues)));
        await large.SendUpdateAsync(TestData.Update(Large, 1, TestData.RandomSet(2, LargeValues)));
        await handler.NextAsync<ModelUpdate>(u => u.SenderId == Small);
        await handler.NextAsync<ModelUpdate>(u => u.SenderId == Large);

        // The large device is sent the large task, the small one the small task.
        await coordinator.SendTaskAsync(Small, TestData.Task(2, TestData.RandomSet(3, SmallValues)));
        await coordinator.SendTaskAsync(Large, TestData.Task(3, TestData.RandomSet(4, LargeValues)));
        await smallWorker.NextAsync<RoundTask>(t => t.Round == 2);
        await largeWorker.NextAsync<RoundTask>(t => t.Round == 3);

        // A transport counts a send once the broker or stream took it, which can be just after the worker saw it.
        TransportStatistics statistics = coordinator.Statistics;
        IReadOnlyDictionary<string, DeviceTraffic> rows = await SettledAsync(statistics);

        Assert.Equal([Large, Small], rows.Keys.Order(StringComparer.Ordinal));
        DeviceTraffic s = rows[Small];
        DeviceTraffic l = rows[Large];

        // float32 values: the large device's update and task are (LargeValues - SmallValues) * 4 bytes bigger, give or take framing.
        long difference = (LargeValues - SmallValues) * sizeof(float);
        Assert.InRange(l.BytesReceived - s.BytesReceived, difference * 9 / 10, difference * 11 / 10);
        Assert.InRange(l.BytesSent - s.BytesSent, difference * 9 / 10, difference * 11 / 10);
        Assert.True(s.BytesReceived > SmallValues * sizeof(float), s.ToString());
        Assert.True(s.BytesSent > SmallValues * sizeof(float), s.ToString());

        // Nothing else went over these connections: the rows add up to the transport's totals.
        Assert.Equal(statistics.BytesReceived, s.BytesReceived + l.BytesReceived);
        Assert.Equal(statistics.BytesSent, s.BytesSent + l.BytesSent);
        Assert.Equal(statistics.MessagesReceived, s.MessagesReceived + l.MessagesReceived);
    }

    private static async Task<IReadOnlyDictionary<string, DeviceTraffic>> SettledAsync(TransportStatistics statistics)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            IReadOnlyDictionary<string, DeviceTraffic> rows = statistics.PerDevice;
            bool sentSettled = rows.Count == 2 && rows.Values.All(r => r.MessagesSent > 0) && rows.Values.Sum(r => r.BytesSent) == statistics.BytesSent;
            if ((sentSettled && rows.Values.Sum(r => r.BytesReceived) == statistics.BytesReceived) || deadline.IsCancellationRequested)
            {
                return rows;
            }

            await Task.Delay(20);
        }
    }
}
