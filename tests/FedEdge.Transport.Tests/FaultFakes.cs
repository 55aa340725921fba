using System.Collections.Concurrent;
using System.Threading.Channels;
using FedEdge.Devices;
using FedEdge.Messaging;

namespace FedEdge.Transport.Tests;

/// <summary>A worker transport that records what reaches it, answers joins, and lets the test deliver inbound messages.</summary>
internal sealed class RecordingWorkerTransport : IWorkerTransport
{
    public ConcurrentQueue<ModelUpdate> Sent { get; } = new();

    public ConcurrentQueue<byte[]> SentProtocol { get; } = new();

    public IWorkerHandler? Handler { get; private set; }

    /// <summary>Join requests that reached this transport.</summary>
    public int Joins => _joins;

    /// <summary>Runs inside <see cref="JoinAsync"/> (e.g. to change the fault rates between a join's request and its response).</summary>
    public Action? OnJoin { get; set; }

    public TransportStatistics Statistics { get; } = new();

    public bool SupportsProtocolMessages => true;

    private int _joins;

    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
    {
        Handler = handler;
        return ValueTask.CompletedTask;
    }

    public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _joins);
        OnJoin?.Invoke();
        return ValueTask.FromResult(new JoinResponse { Accepted = true });
    }

    public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
    {
        Sent.Enqueue(update);
        return ValueTask.CompletedTask;
    }

    public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        SentProtocol.Enqueue(payload.ToArray());
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>A coordinator transport that records its sends and whose handler the test drives.</summary>
internal sealed class DrivenCoordinatorTransport : ICoordinatorTransport
{
    public ICoordinatorHandler? Handler { get; private set; }

    /// <summary>(device, round) of every task sent.</summary>
    public ConcurrentQueue<(string Device, long Round)> Tasks { get; } = new();

    public ConcurrentQueue<long> Models { get; } = new();

    public ConcurrentQueue<(string Device, byte[] Payload)> SentProtocol { get; } = new();

    public TransportStatistics Statistics { get; } = new();

    public bool SupportsProtocolMessages => true;

    public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
    {
        Handler = handler;
        return ValueTask.CompletedTask;
    }

    public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default)
    {
        Tasks.Enqueue((deviceId, task.Round));
        return ValueTask.CompletedTask;
    }

    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default)
    {
        Models.Enqueue(model.Version);
        return ValueTask.CompletedTask;
    }

    public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        SentProtocol.Enqueue((deviceId, payload.ToArray()));
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>A coordinator handler that records protocol payloads and round-task numbers aside; admits every join.</summary>
internal sealed class ProtocolRecordingCoordinator : ICoordinatorHandler
{
    private readonly Channel<(string Device, byte[] Payload)> _protocol = Channel.CreateUnbounded<(string, byte[])>();

    public ConcurrentQueue<(string Device, byte[] Payload)> Protocol { get; } = new();

    public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new JoinResponse { Accepted = true });

    public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken)
    {
        Protocol.Enqueue((deviceId, payload.ToArray()));
        _protocol.Writer.TryWrite((deviceId, payload.ToArray()));
        return ValueTask.CompletedTask;
    }

    /// <summary>Waits (bounded) for the next protocol payload the transport delivers.</summary>
    public async Task<(string Device, byte[] Payload)> NextProtocolAsync(int seconds = 20)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        return await _protocol.Reader.ReadAsync(cts.Token);
    }
}

/// <summary>A worker handler that records the rounds of the tasks and the protocol payloads it is given.</summary>
internal sealed class CountingWorkerHandler : IWorkerHandler
{
    public ConcurrentQueue<long> Tasks { get; } = new();

    public ConcurrentQueue<byte[]> Protocol { get; } = new();

    public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        Tasks.Enqueue(task.Round);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        Protocol.Enqueue(payload.ToArray());
        return ValueTask.CompletedTask;
    }
}
