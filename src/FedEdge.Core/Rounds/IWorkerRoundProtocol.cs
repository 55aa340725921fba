using FedEdge.Messaging;

namespace FedEdge.Rounds;

/// <summary>
/// The worker side of a <see cref="IRoundProtocol"/>: the last stage of the update pipeline, which decides how
/// a trained (and transformed) update leaves the device. Core's default sends it as a plaintext update, re-sent
/// until the coordinator's receipt arrives; FedEdge.Privacy's secure aggregation sends masked inputs instead.
/// </summary>
public interface IWorkerRoundProtocol
{
    /// <summary>A short stable name for logs.</summary>
    string Name { get; }

    /// <summary>True when the protocol needs the transport's protocol channel.</summary>
    bool RequiresProtocolChannel { get; }

    /// <summary>True when the device must submit a delta (trained − global) instead of its parameters.</summary>
    bool SendsDelta { get; }

    /// <summary>Starts this device's part in a round; called when the round task arrives (once per round).</summary>
    IWorkerRoundSession Begin(WorkerRoundContext context);
}

/// <summary>What a worker-side round protocol knows about its round.</summary>
public sealed class WorkerRoundContext
{
    /// <summary>The device id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The round task.</summary>
    public required RoundTask Task { get; init; }

    /// <summary>Sends an opaque protocol payload to the coordinator.</summary>
    public required Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> SendProtocolAsync { get; init; }

    /// <summary>Sends a plaintext update to the coordinator (the engine re-sends it until a receipt arrives).</summary>
    public required Func<ModelUpdate, CancellationToken, ValueTask> SendUpdateAsync { get; init; }

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>One device's part in one round.</summary>
public interface IWorkerRoundSession : IDisposable
{
    /// <summary>Called once when the task arrives, before training (secure aggregation advertises its keys here).</summary>
    ValueTask StartAsync(CancellationToken cancellationToken = default);

    /// <summary>An opaque protocol payload from the coordinator for this round.</summary>
    ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default);

    /// <summary>
    /// Submits the transformed update (parameters or delta, with its sample count and metrics) and returns once it
    /// has left the device, or throws when the round ended first.
    /// </summary>
    ValueTask SubmitAsync(ModelUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Leaves the round (training failed or was declined); the coordinator treats the device as a dropout.</summary>
    void Abandon(string reason);
}
