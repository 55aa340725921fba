using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using FedEdge.Devices;
using FedEdge.Messaging;
using MQTTnet;
using MQTTnet.Protocol;

namespace FedEdge.Transport.Tests;

/// <summary>A protocol payload a handler received (the device id is empty on the worker side).</summary>
internal sealed record ProtocolReceived(string DeviceId, byte[] Payload);

/// <summary>Records what a coordinator transport delivers; admits devices whose id does not start with "bad".</summary>
internal sealed class RecordingCoordinator : ICoordinatorHandler
{
    private readonly Channel<(object Item, InboundContext Context)> _events = Channel.CreateUnbounded<(object, InboundContext)>();

    public ConcurrentQueue<ModelUpdate> Updates { get; } = new();

    public ConcurrentQueue<(string Source, Exception Error)> Malformed { get; } = new();

    public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((request, context));
        bool ok = !request.DeviceId.StartsWith("bad", StringComparison.Ordinal);
        return ValueTask.FromResult(new JoinResponse { Accepted = ok, Reasons = ok ? [] : ["device is quarantined"] });
    }

    public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((status, context));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
    {
        Updates.Enqueue(update);
        _events.Writer.TryWrite((update, context));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((new ProtocolReceived(deviceId, payload.ToArray()), context));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        Malformed.Enqueue((source, error));
        _events.Writer.TryWrite((error, new InboundContext { AuthenticatedId = source }));
        return ValueTask.CompletedTask;
    }

    /// <summary>Waits for the next event of type <typeparamref name="T"/> (skipping others).</summary>
    public async Task<(T Item, InboundContext Context)> NextAsync<T>(Func<T, bool>? filter = null, int seconds = 20)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (true)
        {
            (object item, InboundContext context) = await _events.Reader.ReadAsync(cts.Token);
            if (item is T typed && (filter is null || filter(typed)))
            {
                return (typed, context);
            }
        }
    }
}

/// <summary>Records what a worker transport delivers.</summary>
internal sealed class RecordingWorker : IWorkerHandler
{
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();

    public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(task);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(model);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(receipt);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(new ProtocolReceived(string.Empty, payload.ToArray()));
        return ValueTask.CompletedTask;
    }

    public async Task<T> NextAsync<T>(Func<T, bool>? filter = null, int seconds = 20)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (true)
        {
            object item = await _events.Reader.ReadAsync(cts.Token);
            if (item is T typed && (filter is null || filter(typed)))
            {
                return typed;
            }
        }
    }

    public bool TryTake<T>(out T? item)
    {
        while (_events.Reader.TryRead(out object? next))
        {
            if (next is T typed)
            {
                item = typed;
                return true;
            }
        }

        item = default;
        return false;
    }
}

/// <summary>A bare MQTT client for probing a broker's authentication and ACL.</summary>
internal sealed class RawMqttClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public ConcurrentQueue<(string Topic, byte[] Payload)> Received { get; } = new();

    public static async Task<RawMqttClient> ConnectAsync(Uri broker, string user, string password, string? clientId = null)
    {
        var raw = new RawMqttClient();
        raw._client.ApplicationMessageReceivedAsync += e =>
        {
            raw.Received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
        await raw._client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId(clientId ?? "raw-" + Guid.NewGuid().ToString("N"))
            .WithCredentials(user, password)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .Build());
        return raw;
    }

    public async Task<MqttClientPublishResult> PublishAsync(string topic, byte[] payload) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public async Task<MqttClientSubscribeResultCode> SubscribeAsync(string filter)
    {
        MqttClientSubscribeResult result = await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return result.Items.Single().ResultCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
