using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using MQTTnet;

namespace FedEdge.Transport.Tests;

public sealed class EmbeddedMqttTests : IAsyncLifetime
{
    private const string Federation = "fedtest";
    private readonly RecordingCoordinator _coordinatorHandler = new();
    private MqttCoordinatorTransport _coordinator = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async Task InitializeAsync()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        foreach (string id in new[] { "dev-a", "dev-b", "dev-c", "bad-1", "old-1" })
        {
            broker.DevicePasswords[id] = "pw-" + id;
        }

        _coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, ChunkSize = 4096 }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await _coordinator.StartAsync(_coordinatorHandler);
    }

    public async Task DisposeAsync()
    {
        foreach (IAsyncDisposable owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await _coordinator.DisposeAsync();
    }

    private async Task<(MqttWorkerTransport Transport, RecordingWorker Handler)> WorkerAsync(string id, Action<MqttWorkerOptions>? configure = null)
    {
        var options = new MqttWorkerOptions { Federation = Federation, DeviceId = id, Password = "pw-" + id, BrokerUri = _coordinator.BrokerUri, ChunkSize = 4096 };
        configure?.Invoke(options);
        var transport = new MqttWorkerTransport(options);
        _owned.Add(transport);
        var handler = new RecordingWorker();
        await transport.ConnectAsync(handler);
        return (transport, handler);
    }

    [Fact]
    public async Task WorkerDispose_AfterBrokerStopped_CompletesWithoutThrowing()
    {
        // The coordinator process (and its embedded broker) may exit before a worker shuts down.
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["late"] = "pw-late";
        var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(new RecordingCoordinator());
        var worker = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = "late", Password = "pw-late", BrokerUri = coordinator.BrokerUri });
        await worker.ConnectAsync(new RecordingWorker());
        JoinResponse joined = await worker.JoinAsync(new JoinRequest { DeviceId = "late" });
        Assert.True(joined.Accepted);

        await coordinator.DisposeAsync();
        Exception? error = await Record.ExceptionAsync(async () => await worker.DisposeAsync());
        Assert.Null(error);
    }

    [Fact]
    public async Task Exchange_JoinStatusTaskUpdateReceipt_FlowsWithAuthenticatedIdentity()
    {
        var (worker, handler) = await WorkerAsync("dev-a");
        JoinResponse joined = await worker.JoinAsync(new JoinRequest { DeviceId = "dev-a", Model = "ae" });
        Assert.True(joined.Accepted);
        var (join, joinContext) = await _coordinatorHandler.NextAsync<JoinRequest>();
        Assert.Equal("dev-a", joinContext.AuthenticatedId);
        Assert.Equal("ae", join.Model);

        await worker.PublishStatusAsync(TestData.Status("dev-a", DeviceIntent.Training));
        var (status, statusContext) = await _coordinatorHandler.NextAsync<DeviceStatus>(s => s.Intent == DeviceIntent.Training);
        Assert.Equal(61.5, status.Telemetry.TemperatureCelsius);
        Assert.Equal("dev-a", statusContext.AuthenticatedId);

        ParameterSet global = TestData.RandomSet(11, 5000);
        await _coordinator.SendTaskAsync("dev-a", TestData.Task(1, global));
        RoundTask task = await handler.NextAsync<RoundTask>();
        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());

        await worker.SendUpdateAsync(TestData.Update("dev-a", 1, global));
        var (update, updateContext) = await _coordinatorHandler.NextAsync<ModelUpdate>();
        Assert.Equal(global.ComputeHash(), update.Values.ComputeHash());
        Assert.Equal("dev-a", updateContext.AuthenticatedId);
        Assert.True(updateContext.WireBytes > 5000 * 4);

        await _coordinator.SendReceiptAsync("dev-a", new UpdateReceipt { Round = 1, Accepted = true });
        Assert.True((await handler.NextAsync<UpdateReceipt>()).Accepted);
        Assert.Single(_coordinatorHandler.Updates);
        Assert.True(worker.Statistics.MessagesSent >= 3);
        Assert.True(_coordinator.Statistics.BytesReceived > 20_000);
    }

    [Fact]
    public async Task JoinAsync_RefusedDevice_GetsReasons()
    {
        var (worker, _) = await WorkerAsync("bad-1");
        JoinResponse response = await worker.JoinAsync(new JoinRequest { DeviceId = "bad-1" });
        Assert.False(response.Accepted);
        Assert.Equal(["device is quarantined"], response.Reasons);
    }

    [Fact]
    public async Task JoinAsync_OldProtocolVersion_RefusedWithUpgradeReason()
    {
        var (worker, _) = await WorkerAsync("old-1", o => o.ProtocolVersion = 0);
        JoinResponse response = await worker.JoinAsync(new JoinRequest { DeviceId = "old-1" });
        Assert.False(response.Accepted);
        Assert.Contains("upgrade the worker", Assert.Single(response.Reasons), StringComparison.Ordinal);
        var (error, _) = await _coordinatorHandler.NextAsync<ProtocolVersionException>();
        Assert.Equal(0, error.ReceivedVersion);
    }

    [Fact]
    public async Task PublishGlobalModel_LateWorker_ReceivesRetainedChunkedModel()
    {
        ParameterSet parameters = TestData.RandomSet(12, 20_000);
        await _coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 3, Hash = parameters.ComputeHash(), Parameters = parameters });
        var (_, handler) = await WorkerAsync("dev-b");
        GlobalModel model = await handler.NextAsync<GlobalModel>();
        Assert.Equal(3, model.Version);
        Assert.Equal(parameters.ComputeHash(), model.Parameters.ComputeHash());

        ParameterSet smaller = TestData.RandomSet(13, 100);
        await _coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 4, Hash = smaller.ComputeHash(), Parameters = smaller });
        var (_, late) = await WorkerAsync("dev-c");
        GlobalModel latest = await late.NextAsync<GlobalModel>();
        Assert.Equal(4, latest.Version);
    }

    [Fact]
    public async Task LastWill_WorkerConnectionLost_CoordinatorSeesNotReady()
    {
        var (worker, _) = await WorkerAsync("dev-c");
        await worker.PublishStatusAsync(TestData.Status("dev-c", DeviceIntent.Training));
        await _coordinatorHandler.NextAsync<DeviceStatus>(s => s.Intent == DeviceIntent.Training);
        await worker.AbortConnectionAsync();
        var (offline, context) = await _coordinatorHandler.NextAsync<DeviceStatus>(s => s.DeviceId == "dev-c" && s.Intent == DeviceIntent.NotReady);
        Assert.Equal("dev-c", context.AuthenticatedId);
        Assert.NotEqual(default, offline.ReceivedAt);
    }

    [Fact]
    public async Task Broker_WrongPassword_ConnectFailsWithTransportException()
    {
        var transport = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = "dev-a", Password = "wrong", BrokerUri = _coordinator.BrokerUri });
        _owned.Add(transport);
        var error = await Assert.ThrowsAsync<TransportException>(async () => await transport.ConnectAsync(new RecordingWorker()));
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_DeviceImpersonation_IsBlockedByAcl()
    {
        await using RawMqttClient intruder = await RawMqttClient.ConnectAsync(_coordinator.BrokerUri!, "dev-a", "pw-dev-a", MqttTopicScheme.DeviceClientId(Federation, "dev-a"));
        ModelUpdate forged = TestData.Update("dev-b", 1, TestData.RandomSet(1, 10));
        byte[] frame = WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = "f1", SenderId = "dev-b", Body = forged }))[0];
        MqttClientPublishResult result = await intruder.PublishAsync(MqttTopicScheme.Update(Federation, "dev-b"), frame);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, result.ReasonCode);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, await intruder.SubscribeAsync(MqttTopicScheme.Inbox(Federation, "dev-b")));
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, await intruder.SubscribeAsync("fededge/#"));
        Assert.NotEqual(MqttClientSubscribeResultCode.NotAuthorized, await intruder.SubscribeAsync(MqttTopicScheme.Inbox(Federation, "dev-a")));

        // On its own topic, an envelope claiming another sender is reported, not delivered.
        await intruder.PublishAsync(MqttTopicScheme.Update(Federation, "dev-a"), frame);
        var (error, _) = await _coordinatorHandler.NextAsync<WireFormatException>();
        Assert.Contains("authenticated device 'dev-a'", error.Message, StringComparison.Ordinal);
        Assert.Empty(_coordinatorHandler.Updates);
    }

    [Fact]
    public async Task Coordinator_MalformedBytesOnEveryTopic_ReportsTypedErrorsAndKeepsRunning()
    {
        await using RawMqttClient device = await RawMqttClient.ConnectAsync(_coordinator.BrokerUri!, "dev-b", "pw-dev-b", MqttTopicScheme.DeviceClientId(Federation, "dev-b"));
        string[] topics = [MqttTopicScheme.Join(Federation, "dev-b"), MqttTopicScheme.Status(Federation, "dev-b"), MqttTopicScheme.Update(Federation, "dev-b")];
        byte[][] garbage = [[0xff, 0x00, 0x13], [], [0x0a, 0x05, 1, 2, 3, 4, 5], WireFraming.Split(new byte[10_000], 1024)[0]];
        foreach (string topic in topics)
        {
            foreach (byte[] bytes in garbage.Take(3))
            {
                await device.PublishAsync(topic, bytes);
                var (error, context) = await _coordinatorHandler.NextAsync<WireFormatException>();
                Assert.Equal(topic, context.AuthenticatedId);
            }
        }

        Assert.True(_coordinator.Statistics.Malformed >= 9);
        var (worker, _) = await WorkerAsync("dev-b");
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "dev-b" })).Accepted);
    }

    [Fact]
    public async Task SendUpdate_TopKDeltas_ArriveSparseWithErrorFeedback()
    {
        var (worker, _) = await WorkerAsync("dev-a", o => { o.UpdateCodec = ParameterCodecKind.TopK; o.TopKFraction = 0.1; });
        ParameterSet delta = TestData.RandomSet(21, 1000);
        await worker.SendUpdateAsync(TestData.Update("dev-a", 1, delta, UpdateKind.Delta));
        var (update, context) = await _coordinatorHandler.NextAsync<ModelUpdate>();
        Assert.Equal(100, update.Values.Values.ToArray().Count(v => v != 0));
        Assert.True(context.WireBytes < 1000 * 4 / 3);
    }
}
