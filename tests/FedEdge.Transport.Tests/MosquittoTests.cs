using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Testing;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Runs FedEdge over a real Mosquitto process with a generated password file and the ACL of
/// <see cref="MqttTopicScheme.MosquittoAcl"/>. Returns early only on a machine without Mosquitto outside CI.
/// </summary>
public sealed class MosquittoTests
{
    private const string Federation = "mosq";
    private static readonly string[] Devices = ["pi-1", "pi-2", "pi-3"];

    private static MosquittoConfig Config(bool persistence = false)
    {
        var config = new MosquittoConfig { Acl = MqttTopicScheme.MosquittoAcl(Federation, "coordinator"), Persistence = persistence };
        config.Users["coordinator"] = "coord-secret";
        foreach (string device in Devices)
        {
            config.Users[device] = "pw-" + device;
        }

        return config;
    }

    private static MqttCoordinatorTransport Coordinator(Uri broker) => new(new MqttCoordinatorOptions
    {
        Federation = Federation,
        BrokerUri = broker,
        Username = "coordinator",
        Password = "coord-secret",
        ChunkSize = 16 * 1024,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    });

    private static MqttWorkerTransport Worker(Uri broker, string device) => new(new MqttWorkerOptions
    {
        Federation = Federation,
        DeviceId = device,
        Password = "pw-" + device,
        BrokerUri = broker,
        ChunkSize = 16 * 1024,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    });

    [Fact]
    public async Task Federation_ThroughMosquitto_RunsARoundWithChunkedModels()
    {
        await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(Config());
        if (broker is null)
        {
            return;
        }

        var handler = new RecordingCoordinator();
        await using MqttCoordinatorTransport coordinator = Coordinator(broker.Uri);
        await coordinator.StartAsync(handler);
        ParameterSet global = TestData.RandomSet(31, 50_000);
        await coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 0, Hash = global.ComputeHash(), Parameters = global });

        var workers = new List<(string Device, MqttWorkerTransport Transport, RecordingWorker Handler)>();
        try
        {
            foreach (string device in Devices)
            {
                var transport = Worker(broker.Uri, device);
                var recorder = new RecordingWorker();
                workers.Add((device, transport, recorder));
                await transport.ConnectAsync(recorder);
                Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = device })).Accepted);
                Assert.Equal(global.ComputeHash(), (await recorder.NextAsync<GlobalModel>()).Parameters.ComputeHash());
                await transport.PublishStatusAsync(TestData.Status(device, DeviceIntent.Training));
            }

            foreach (string device in Devices)
            {
                await coordinator.SendTaskAsync(device, TestData.Task(1, global));
            }

            foreach (var (device, transport, recorder) in workers)
            {
                RoundTask task = await recorder.NextAsync<RoundTask>();
                Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());
                await transport.SendUpdateAsync(TestData.Update(device, 1, task.GlobalParameters));
            }

            var senders = new HashSet<string>();
            for (int i = 0; i < Devices.Length; i++)
            {
                var (update, context) = await handler.NextAsync<ModelUpdate>();
                Assert.Equal(update.SenderId, context.AuthenticatedId);
                Assert.Equal(global.ComputeHash(), update.Values.ComputeHash());
                senders.Add(update.SenderId);
            }

            Assert.Equal(Devices.Length, senders.Count);
        }
        finally
        {
            foreach (var (_, transport, _) in workers)
            {
                await transport.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Acl_DevicePublishingAsAnother_IsRefusedByMosquitto()
    {
        await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(Config());
        if (broker is null)
        {
            return;
        }

        var handler = new RecordingCoordinator();
        await using MqttCoordinatorTransport coordinator = Coordinator(broker.Uri);
        await coordinator.StartAsync(handler);
        await using RawMqttClient intruder = await RawMqttClient.ConnectAsync(broker.Uri, "pi-1", "pw-pi-1");
        byte[] forged = WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = "forged", SenderId = "pi-2", Body = TestData.Update("pi-2", 1, TestData.RandomSet(1, 10)) }))[0];
        await intruder.PublishAsync(MqttTopicScheme.Update(Federation, "pi-2"), forged);
        await intruder.SubscribeAsync(MqttTopicScheme.Inbox(Federation, "pi-2"));

        // A legitimate message sent afterwards arrives; the forged one never does.
        await using MqttWorkerTransport honest = Worker(broker.Uri, "pi-3");
        await honest.ConnectAsync(new RecordingWorker());
        await honest.SendUpdateAsync(TestData.Update("pi-3", 1, TestData.RandomSet(2, 10)));
        var (update, _) = await handler.NextAsync<ModelUpdate>();
        Assert.Equal("pi-3", update.SenderId);
        Assert.Single(handler.Updates);

        // Mosquitto grants the subscription to another device's inbox but never delivers its messages.
        await using MqttWorkerTransport victim = Worker(broker.Uri, "pi-2");
        var victimHandler = new RecordingWorker();
        await victim.ConnectAsync(victimHandler);
        await coordinator.SendReceiptAsync("pi-2", new UpdateReceipt { Round = 1, Accepted = false, Reason = "private" });
        Assert.Equal("private", (await victimHandler.NextAsync<UpdateReceipt>()).Reason);
        await Task.Delay(300);
        Assert.Empty(intruder.Received);
        Assert.Contains("denied", broker.Log, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task KillAndRestart_MidRound_WorkersReconnectAndNoUpdateCountsTwice()
    {
        await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(Config(persistence: true));
        if (broker is null)
        {
            return;
        }

        var handler = new RecordingCoordinator();
        await using MqttCoordinatorTransport coordinator = Coordinator(broker.Uri);
        await coordinator.StartAsync(handler);
        var workers = new List<(string Device, MqttWorkerTransport Transport, RecordingWorker Handler)>();
        try
        {
            foreach (string device in Devices)
            {
                var transport = Worker(broker.Uri, device);
                var recorder = new RecordingWorker();
                workers.Add((device, transport, recorder));
                await transport.ConnectAsync(recorder);
                Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = device })).Accepted);
            }

            ParameterSet global = TestData.RandomSet(41, 30_000);
            foreach (string device in Devices)
            {
                await coordinator.SendTaskAsync(device, TestData.Task(7, global));
            }

            foreach (var (_, _, recorder) in workers)
            {
                await recorder.NextAsync<RoundTask>();
            }

            // Let Mosquitto autosave the sessions (autosave_interval 1 s), then kill it mid-round.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            await broker.KillAsync();

            // Workers send their updates while the broker is down; the sends wait for the reconnect.
            var sends = workers.Select(w => w.Transport.SendUpdateAsync(TestData.Update(w.Device, 7, global)).AsTask()).ToList();
            await Task.Delay(TimeSpan.FromMilliseconds(700));
            Assert.All(sends, s => Assert.False(s.IsCompleted));
            await broker.RestartAsync();
            await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(30));

            var received = new List<string>();
            for (int i = 0; i < Devices.Length; i++)
            {
                var (update, _) = await handler.NextAsync<ModelUpdate>(seconds: 30);
                received.Add(update.SenderId);
            }

            // A second round after the restart: tasks reach the reconnected workers.
            foreach (string device in Devices)
            {
                await coordinator.SendTaskAsync(device, TestData.Task(8, global));
            }

            foreach (var (_, _, recorder) in workers)
            {
                Assert.Equal(8, (await recorder.NextAsync<RoundTask>(t => t.Round == 8, seconds: 30)).Round);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.Equal(Devices.Order(), received.Order());
            Assert.Equal(Devices.Length, handler.Updates.Count);
            Assert.All(workers, w => Assert.True(w.Transport.IsConnected));
        }
        finally
        {
            foreach (var (_, transport, _) in workers)
            {
                await transport.DisposeAsync();
            }
        }
    }
}
