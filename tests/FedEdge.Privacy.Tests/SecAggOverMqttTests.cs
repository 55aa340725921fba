using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using FedEdge.Privacy.SecureAggregation;
using FedEdge.Testing;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace FedEdge.Privacy.Tests;

/// <summary>
/// A full secure-aggregation round over a real MQTT broker (MQTTnet's embedded server on a free
/// loopback port): the coordinator and every device are separate MQTT clients, every message is a
/// SecAggWireCodec payload, and devices drop at each phase.
/// </summary>
public sealed class SecAggOverMqttTests
{
    private const string Root = "fededge/test-secagg";
    private const long Round = 4;
    private const string Nonce = "mqtt-nonce-4";
    private const int Length = 3000;

    [Fact]
    public async Task RunRound_OverEmbeddedMqttBroker_WithDropoutsAtEachPhase_SumWithinBound()
    {
        int port = LoopbackPorts.Free();
        MqttServer broker = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointPort(port)
            .Build());
        await broker.StartAsync();
        try
        {
            await RunRoundAsync(port, password: null);
        }
        finally
        {
            await broker.StopAsync();
            broker.Dispose();
        }
    }

    [Fact]
    public async Task RunRound_OverMosquittoWithPerDeviceAcl_WithDropoutsAtEachPhase_SumWithinBound()
    {
        // Real Mosquitto: every device authenticates and may only publish to the coordinator's topic
        // and read its own inbox, so no device can see another's shares or masked input on the wire.
        var config = new MosquittoConfig();
        var acl = new System.Text.StringBuilder();
        config.Users["coordinator"] = "coordinator-secret";
        acl.Append("user coordinator\ntopic readwrite ").Append(Root).Append("/#\n");
        foreach (string id in DeviceIds)
        {
            config.Users[id] = $"{id}-secret";
            acl.Append("user ").Append(id).Append("\ntopic write ").Append(Root).Append("/server\ntopic read ").Append(Root).Append("/device/").Append(id).Append('\n');
        }

        config.Acl = acl.ToString();
        await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(config);
        if (broker is null)
        {
            return; // not installed on this developer machine; MosquittoBroker throws in CI
        }

        await RunRoundAsync(broker.Port, id => $"{id}-secret");
    }

    private static readonly string[] DeviceIds = Enumerable.Range(0, 20).Select(i => $"dev{i:D2}").ToArray();

    private static async Task RunRoundAsync(int port, Func<string, string>? password)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 22, 0, 0, 0, TimeSpan.Zero));
        var options = new SecureAggregationOptions { Threshold = 4, MinimumClients = 5, NeighbourCount = 8 };
        string[] ids = DeviceIds;

        // Two devices never advertise, two stop after advertising, two after sharing keys (their
        // masks are recovered), two after sending masked input (silent at unmasking).
        var dropAt = new Dictionary<string, SecAggPhase>(StringComparer.Ordinal)
        {
            ["dev03"] = SecAggPhase.AdvertiseKeys, ["dev11"] = SecAggPhase.AdvertiseKeys,
            ["dev05"] = SecAggPhase.ShareKeys, ["dev17"] = SecAggPhase.ShareKeys,
            ["dev01"] = SecAggPhase.MaskedInput, ["dev14"] = SecAggPhase.MaskedInput,
            ["dev08"] = SecAggPhase.Unmasking, ["dev19"] = SecAggPhase.Unmasking,
        };
        var random = new Random(8);
        var inputs = ids.ToDictionary(id => id, _ => Enumerable.Range(0, Length).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray(), StringComparer.Ordinal);

        // A fixed graph seed makes the neighbourhoods, and so the share counts at unmasking, reproducible.
        var server = new SecureAggregationServer(options, Round, Nonce, Length, ids, time) { FixedGraphSeed = System.Security.Cryptography.SHA256.HashData("mqtt-graph"u8) };
        var accepted = new SemaphoreSlim(0);
        var refusals = new ConcurrentQueue<string>();
        MqttPeer coordinator = await MqttPeer.ConnectAsync(port, "coordinator", password?.Invoke("coordinator"), $"{Root}/server", bytes =>
        {
            SecAggReceiveResult result = SecAggWireCodec.Decode(bytes) switch
            {
                SecAggAdvertiseKeys m => server.Receive(m),
                SecAggShareKeys m => server.Receive(m),
                SecAggMaskedInput m => server.Receive(m),
                SecAggUnmaskResponse m => server.Receive(m),
                SecAggMessage other => new SecAggReceiveResult(SecAggReceiveStatus.Invalid, $"unexpected {other.GetType().Name}"),
            };
            if (result.Accepted)
            {
                accepted.Release();
            }
            else
            {
                refusals.Enqueue($"{result.Status}: {result.Reason}");
            }

            return Task.CompletedTask;
        });

        var devices = new List<MqttPeer>();
        var clients = new List<SecureAggregationClient>();
        var deviceErrors = new ConcurrentQueue<Exception>();
        try
        {
            foreach (string id in ids)
            {
                var client = new SecureAggregationClient(id, Round, Nonce, maxDegreeOfParallelism: 1);
                clients.Add(client);
                SecAggPhase? drop = dropAt.TryGetValue(id, out SecAggPhase p) ? p : null;
                MqttPeer? self = null;
                self = await MqttPeer.ConnectAsync(port, id, password?.Invoke(id), $"{Root}/device/{id}", async bytes =>
                {
                    try
                    {
                        SecAggMessage? reply = SecAggWireCodec.Decode(bytes) switch
                        {
                            SecAggRoster m when drop != SecAggPhase.ShareKeys => client.ShareKeys(m),
                            SecAggForwardedShares m when drop != SecAggPhase.MaskedInput => client.MaskInput(m, inputs[id]),
                            SecAggUnmaskRequest m when drop != SecAggPhase.Unmasking => client.Unmask(m),
                            SecAggAbort m => Forget(client, m),
                            _ => null,
                        };
                        if (reply is not null)
                        {
                            await self!.PublishAsync($"{Root}/server", SecAggWireCodec.Encode(reply));
                        }
                    }
                    catch (Exception ex) when (ex is SecureAggregationException or InvalidOperationException or SecAggMessageFormatException)
                    {
                        deviceErrors.Enqueue(ex);
                    }
                });
                devices.Add(self);
            }

            async Task ClosePhaseAsync(int live, TimeSpan timeout)
            {
                for (int i = 0; i < live; i++)
                {
                    Assert.True(await accepted.WaitAsync(TimeSpan.FromSeconds(30)), $"only {i} of {live} messages arrived; refusals: {string.Join("; ", refusals)}; device errors: {string.Join("; ", deviceErrors)}");
                }

                Assert.False(server.IsPhaseReady); // the dropped devices are still outstanding ...
                time.Advance(timeout);             // ... until the phase deadline passes
                await server.WaitForPhaseAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            async Task BroadcastAsync(IEnumerable<string> to, SecAggMessage message)
            {
                byte[] payload = SecAggWireCodec.Encode(message);
                foreach (string id in to)
                {
                    await coordinator.PublishAsync($"{Root}/device/{id}", payload);
                }
            }

            for (int i = 0; i < ids.Length; i++)
            {
                if (dropAt.GetValueOrDefault(ids[i], (SecAggPhase)(-1)) != SecAggPhase.AdvertiseKeys)
                {
                    await devices[i].PublishAsync($"{Root}/server", SecAggWireCodec.Encode(clients[i].AdvertiseKeys()));
                }
            }

            await ClosePhaseAsync(18, options.AdvertiseKeysTimeout);
            SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
            await BroadcastAsync(roster.Participants.Select(p => p.ClientId), roster);

            await ClosePhaseAsync(16, options.ShareKeysTimeout);
            foreach (SecAggForwardedShares forwarded in server.CompleteShareKeys().GetValueOrThrow())
            {
                await BroadcastAsync([forwarded.RecipientId], forwarded);
            }

            await ClosePhaseAsync(14, options.MaskedInputTimeout);
            SecAggUnmaskRequest request = server.CompleteMaskedInput().GetValueOrThrow();
            Assert.Equal(["dev01", "dev14"], request.Dropped);
            await BroadcastAsync(request.Survivors, request);

            await ClosePhaseAsync(12, options.UnmaskingTimeout);
            SecAggResult result = server.CompleteUnmasking().GetValueOrThrow();

            Assert.Empty(deviceErrors);
            Assert.Equal(14, result.Contributors.Count);
            Assert.Equal(["dev01", "dev14"], result.RecoveredDropouts);
            for (int i = 0; i < Length; i++)
            {
                double plain = result.Contributors.Sum(id => (double)inputs[id][i]);
                Assert.True(Math.Abs(result.Sum[i] - plain) <= result.QuantizationErrorBound + 1e-5, $"coordinate {i}: {result.Sum[i]} vs {plain}");
            }
        }
        finally
        {
            foreach (MqttPeer device in devices)
            {
                await device.DisposeAsync();
            }

            foreach (SecureAggregationClient client in clients)
            {
                client.Dispose();
            }

            await coordinator.DisposeAsync();
        }
    }

    private static SecAggMessage? Forget(SecureAggregationClient client, SecAggAbort abort)
    {
        client.OnAbort(abort);
        return null;
    }

    /// <summary>One MQTT client with an inbound queue processed off MQTTnet's receive loop.</summary>
    private sealed class MqttPeer : IAsyncDisposable
    {
        private readonly IMqttClient _client;
        private readonly Channel<byte[]> _inbound = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _pump;

        private MqttPeer(IMqttClient client, Func<byte[], Task> handler)
        {
            _client = client;
            _client.ApplicationMessageReceivedAsync += args =>
            {
                _inbound.Writer.TryWrite(args.ApplicationMessage.Payload.ToArray());
                return Task.CompletedTask;
            };
            _pump = Task.Run(async () =>
            {
                await foreach (byte[] payload in _inbound.Reader.ReadAllAsync())
                {
                    await handler(payload);
                }
            });
        }

        public static async Task<MqttPeer> ConnectAsync(int port, string clientId, string? password, string inboxTopic, Func<byte[], Task> handler)
        {
            IMqttClient client = new MqttClientFactory().CreateMqttClient();
            var peer = new MqttPeer(client, handler);
            MqttClientOptionsBuilder options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(clientId).WithCleanSession();
            if (password is not null)
            {
                options = options.WithCredentials(clientId, password);
            }

            MqttClientConnectResult connected = await client.ConnectAsync(options.Build());
            Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(inboxTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build());
            return peer;
        }

        public Task PublishAsync(string topic, byte[] payload) =>
            _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        public async ValueTask DisposeAsync()
        {
            _inbound.Writer.TryComplete();
            await _pump;
            if (_client.IsConnected)
            {
                await _client.DisconnectAsync();
            }

            _client.Dispose();
        }
    }
}
