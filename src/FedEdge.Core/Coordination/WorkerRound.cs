using FedEdge.Messaging;
using FedEdge.Rounds;

namespace FedEdge.Coordination;

/// <summary>One round this device took part in: its task, protocol session, training, and the update awaiting its receipt.</summary>
internal sealed class WorkerRound(RoundTask task, CancellationTokenSource cancellation)
{
    public RoundTask Task { get; } = task;

    public CancellationTokenSource Cancellation { get; } = cancellation;

    public IWorkerRoundSession? Session { get; set; }

    public Task? Training { get; set; }

    public ModelUpdate? PendingUpdate { get; set; }

    public TaskCompletionSource<UpdateReceipt> Receipt { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Retired { get; private set; }

    /// <summary>A newer round took over (or the worker stopped): stop re-sending and end the protocol session.</summary>
    public void Retire()
    {
        Retired = true;
        Session?.Dispose();
    }
}
