using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Mqtt;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>Issue 19: the embedded broker binds each client id to the authenticated identity and refuses session takeovers.</summary>
public sealed class EmbeddedBrokerClientIdTests : IAsyncLifetime
{
    private const string Federation = "bind";
    private readonly RecordingCoordinator _coordinatorHandler = new();
    private readonly List<IAsyncDisposable> _owned = [];
    private MqttCoordinatorTransport _coordinator = null!;

    public async Task InitializeAsync()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        foreach (string id in new[] { "dev-a", "dev-b", "coordinator", "coordinator-updates" })
        {
            broker.DevicePasswords[id] = "pw-" + id;
        }

        _coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation }, brokerHost: new EmbeddedMqttBrokerHost(broker));
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

    [Fact]
    public async Task Connect_DeviceWithCoordinatorClientId_IsRefusedAndCoordinatorKeepsReceiving()
    {
        var (deviceB, _) = await WorkerAsync("dev-b");

        MqttClientConnectResultCode refused = await ConnectRawAsync("dev-a", MqttTopicScheme.CoordinatorClientId(Federation));

        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, refused);
        await deviceB.PublishStatusAsync(TestData.Status("dev-b", DeviceIntent.Training));
        var (_, context) = await _coordinatorHandler.NextAsync<DeviceStatus>(s => s.DeviceId == "dev-b" && s.Intent == DeviceIntent.Training);
        Assert.Equal("dev-b", context.AuthenticatedId);
    }

    [Fact]
    public async Task Connect_DeviceNamedLikeCoordinatorSession_IsRefused()
    {
        // A device whose own client id would equal the coordinator's reserved id can never take that session.
        Assert.Equal(MqttTopicScheme.CoordinatorClientId(Federation), MqttTopicScheme.DeviceClientId(Federation, "coordinator"));
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("coordinator", MqttTopicScheme.CoordinatorClientId(Federation)));

        var (deviceA, _) = await WorkerAsync("dev-a");
        await deviceA.PublishStatusAsync(TestData.Status("dev-a", DeviceIntent.Training));
        await _coordinatorHandler.NextAsync<DeviceStatus>(s => s.DeviceId == "dev-a" && s.Intent == DeviceIntent.Training);
    }

    [Fact]
    public async Task Connect_DeviceWithCoordinatorUpdatesClientId_IsRefusedAndUpdatesStillArrive()
    {
        // The coordinator's update connection holds a second reserved id; a device named to collide with it, or any
        // device presenting it, cannot take that session (and with it every device's queued update).
        string updates = MqttTopicScheme.CoordinatorUpdatesClientId(MqttTopicScheme.CoordinatorClientId(Federation));
        Assert.Equal(updates, MqttTopicScheme.DeviceClientId(Federation, "coordinator-updates"));
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("coordinator-updates", updates));
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("dev-a", updates));

        var (deviceA, _) = await WorkerAsync("dev-a");
        await deviceA.SendUpdateAsync(TestData.Update("dev-a", 3, TestData.RandomSet(3, 1000)));
        var (update, context) = await _coordinatorHandler.NextAsync<ModelUpdate>(u => u.SenderId == "dev-a");
        Assert.Equal(3, update.Round);
        Assert.Equal("dev-a", context.AuthenticatedId);
    }

    [Fact]
    public async Task Connect_DeviceWithAnotherDevicesClientId_IsRefusedAndOwnerKeepsSessionAndQueuedMessages()
    {
        var (deviceB, handlerB) = await WorkerAsync("dev-b");
        string sessionB = MqttTopicScheme.DeviceClientId(Federation, "dev-b");

        // While B is online: refused, and B's connection is not taken over.
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("dev-a", sessionB));
        Assert.True(deviceB.IsConnected);
        await _coordinator.SendReceiptAsync("dev-b", new UpdateReceipt { Round = 1, Accepted = true });
        Assert.Equal(1, (await handlerB.NextAsync<UpdateReceipt>()).Round);

        // While B is offline: a message is queued in B's persistent session; the intruder cannot collect it.
        await deviceB.DisposeAsync();
        await _coordinator.SendReceiptAsync("dev-b", new UpdateReceipt { Round = 2, Accepted = true });
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("dev-a", sessionB));

        var (_, returned) = await WorkerAsync("dev-b");
        Assert.Equal(2, (await returned.NextAsync<UpdateReceipt>()).Round);
    }

    [Fact]
    public async Task Connect_DeviceWithArbitraryClientId_IsRefused()
    {
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await ConnectRawAsync("dev-a", "something-else"));
        Assert.Equal(MqttClientConnectResultCode.Success, await ConnectRawAsync("dev-a", MqttTopicScheme.DeviceClientId(Federation, "dev-a")));
    }

    private async Task<(MqttWorkerTransport Transport, RecordingWorker Handler)> WorkerAsync(string id)
    {
        var transport = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = id, Password = "pw-" + id, BrokerUri = _coordinator.BrokerUri });
        _owned.Add(transport);
        var handler = new RecordingWorker();
        await transport.ConnectAsync(handler);
        return (transport, handler);
    }

    /// <summary>Connects with valid credentials of <paramref name="user"/> and the given client id; returns the broker's answer.</summary>
    private async Task<MqttClientConnectResultCode> ConnectRawAsync(string user, string clientId)
    {
        using IMqttClient client = new MqttClientFactory().CreateMqttClient();
        MqttClientOptions options = new MqttClientOptionsBuilder()
            .WithTcpServer(_coordinator.BrokerUri!.Host, _coordinator.BrokerUri.Port)
            .WithClientId(clientId)
            .WithCredentials(user, "pw-" + user)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .Build();
        MqttClientConnectResult result = await client.ConnectAsync(options);
        if (result.ResultCode == MqttClientConnectResultCode.Success)
        {
            await client.DisconnectAsync();
        }

        return result.ResultCode;
    }
}
