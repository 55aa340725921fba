using System.Collections.Concurrent;
using System.Diagnostics;
using FedEdge.Transport.Mqtt;
using MQTTnet;
using MQTTnet.Protocol;

namespace FedEdge.Benchmarks;

/// <summary>
/// The floor under an MQTT round: the same bytes a FedEdge round moves, moved by plain MQTTnet QoS 1 publishes through
/// the same kind of broker with the same topics (so the embedded broker's authentication and ACL run as in a round),
/// without anything of FedEdge on top. Each repetition: one coordinator client publishes <c>downBytes</c> to every
/// worker's inbox (split into frames of the chunk size, <c>concurrency</c> workers at a time, as the coordinator's task
/// dispatch does), every worker answers with
/// <c>upBytes</c> on its update topic as soon as its download is complete, and the repetition ends when the
/// coordinator has every upload.
/// </summary>
internal static class RawMqttBaseline
{
    public static async Task<IReadOnlyList<double>> RunAsync(string transport, Uri? externalBroker, int workers, long downBytes, long upBytes, int chunkSize, int repetitions, int concurrency)
    {
        string federation = "raw" + Guid.NewGuid().ToString("N")[..8];
        string[] devices = Enumerable.Range(0, workers).Select(i => $"w{i}").ToArray();
        EmbeddedMqttBroker? embedded = null;
        Uri broker;
        string coordinatorUser;
        string coordinatorPassword;
        string coordinatorClientId;
        if (transport == "mqtt")
        {
            var options = new EmbeddedMqttBrokerOptions { Port = 0 };
            foreach (string device in devices)
            {
                options.DevicePasswords[device] = "pw-" + device;
            }

            embedded = await EmbeddedMqttBroker.StartAsync(federation, options).ConfigureAwait(false);
            broker = embedded.Uri;
            coordinatorUser = EmbeddedMqttBroker.CoordinatorUsername;
            coordinatorPassword = embedded.CoordinatorPassword;
            coordinatorClientId = embedded.CoordinatorClientId;
        }
        else
        {
            broker = externalBroker ?? throw new ArgumentException("An external broker is needed.", nameof(externalBroker));
            coordinatorUser = "coordinator";
            coordinatorPassword = string.Empty;
            coordinatorClientId = MqttTopicScheme.CoordinatorClientId(federation);
        }

        var factory = new MqttClientFactory();
        IMqttClient coordinator = factory.CreateMqttClient();
        var clients = new List<IMqttClient>();
        byte[] chunk = new byte[chunkSize];
        Random.Shared.NextBytes(chunk);
        var upReceived = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        TaskCompletionSource? allUp = null;
        int complete = 0;
        try
        {
            coordinator.ApplicationMessageReceivedAsync += args =>
            {
                long total = upReceived.AddOrUpdate(args.ApplicationMessage.Topic, args.ApplicationMessage.Payload.Length, (_, v) => v + args.ApplicationMessage.Payload.Length);
                if (total == upBytes && Interlocked.Increment(ref complete) == workers)
                {
                    allUp?.TrySetResult();
                }

                return Task.CompletedTask;
            };
            await ConnectAsync(coordinator, broker, coordinatorClientId, coordinatorUser, coordinatorPassword, MqttTopicScheme.CoordinatorFilters(federation)).ConfigureAwait(false);
            foreach (string device in devices)
            {
                IMqttClient client = factory.CreateMqttClient();
                clients.Add(client);
                long received = 0;
                string updateTopic = MqttTopicScheme.Update(federation, device);
                client.ApplicationMessageReceivedAsync += args =>
                {
                    if (Interlocked.Add(ref received, args.ApplicationMessage.Payload.Length) == downBytes)
                    {
                        Interlocked.Exchange(ref received, 0);

                        // Off MQTTnet's receive loop: a QoS 1 publish awaited here would wait for a PUBACK the loop cannot read.
                        _ = Task.Run(() => PublishAsync(client, updateTopic, chunk, upBytes));
                    }

                    return Task.CompletedTask;
                };
                await ConnectAsync(client, broker, MqttTopicScheme.DeviceClientId(federation, device), device, transport == "mqtt" ? "pw-" + device : string.Empty, [MqttTopicScheme.Inbox(federation, device)]).ConfigureAwait(false);
            }

            var seconds = new List<double>();
            for (int r = 0; r < repetitions; r++)
            {
                upReceived.Clear();
                complete = 0;
                allUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                long start = Stopwatch.GetTimestamp();
                await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (d, _) => await PublishAsync(coordinator, MqttTopicScheme.Inbox(federation, d), chunk, downBytes).ConfigureAwait(false)).ConfigureAwait(false);
                await allUp.Task.WaitAsync(TimeSpan.FromMinutes(5)).ConfigureAwait(false);
                seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }

            return seconds;
        }
        finally
        {
            foreach (IMqttClient client in clients.Append(coordinator))
            {
                if (client.IsConnected)
                {
                    await client.DisconnectAsync().ConfigureAwait(false);
                }

                client.Dispose();
            }

            if (embedded is not null)
            {
                await embedded.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task ConnectAsync(IMqttClient client, Uri broker, string clientId, string user, string password, IEnumerable<string> filters)
    {
        MqttClientOptions options = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId(clientId)
            .WithCredentials(user, password)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build();
        ((MqttClientTcpOptions)options.ChannelOptions).NoDelay = true;
        await client.ConnectAsync(options).ConfigureAwait(false);
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (string filter in filters)
        {
            subscribe = subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
        }

        await client.SubscribeAsync(subscribe.Build()).ConfigureAwait(false);
    }

    /// <summary>Publishes <paramref name="bytes"/> on <paramref name="topic"/> as QoS 1 messages of at most the chunk's size, one after another.</summary>
    private static async Task PublishAsync(IMqttClient client, string topic, byte[] chunk, long bytes)
    {
        for (long sent = 0; sent < bytes; sent += chunk.Length)
        {
            int length = (int)Math.Min(chunk.Length, bytes - sent);
            MqttApplicationMessage message = new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(new ArraySegment<byte>(chunk, 0, length))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await client.PublishAsync(message).ConfigureAwait(false);
        }
    }
}
