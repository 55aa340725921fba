namespace FedEdge.Flower;

/// <summary>What a FedEdge node in a Flower federation has done so far (resolve it from DI); thread-safe.</summary>
public sealed class FlowerNodeStatus
{
    private long _nodeId;
    private int _replies;
    private int _trainReplies;
    private int _errorReplies;

    /// <summary>The node id the SuperLink gave at activation, or 0 before.</summary>
    public ulong NodeId => (ulong)Interlocked.Read(ref _nodeId);

    /// <summary>Replies pushed to the SuperLink (train, evaluate and error replies).</summary>
    public int Replies => Volatile.Read(ref _replies);

    /// <summary>Replies to train messages that carried a trained model.</summary>
    public int TrainReplies => Volatile.Read(ref _trainReplies);

    /// <summary>Error replies (declined by the governor, failed training, refused instruction).</summary>
    public int ErrorReplies => Volatile.Read(ref _errorReplies);

    /// <summary>The reason of the last error reply, or null.</summary>
    public string? LastError { get; private set; }

    internal void Activated(ulong nodeId) => Interlocked.Exchange(ref _nodeId, (long)nodeId);

    internal void Replied(string messageType, string? error)
    {
        if (error is not null)
        {
            LastError = error;
            Interlocked.Increment(ref _errorReplies);
        }
        else if (messageType == "train")
        {
            Interlocked.Increment(ref _trainReplies);
        }

        Interlocked.Increment(ref _replies);
    }
}
