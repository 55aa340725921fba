using FedEdge.Messaging;
using FedEdge.Transport.Codecs;

namespace FedEdge.Transport.Wire;

/// <summary>
/// A round's task is the same for every selected device, so its envelope is serialized, chunked and hashed once and
/// the frames go to every device. A device that already got those frames (a re-send) gets a fresh envelope with a new
/// message id: the worker drops a repeated id as a duplicate, and a re-send must reach the worker so that it
/// acknowledges again. Thread-safe; holds only the latest task.
/// </summary>
internal sealed class TaskFrameCache(IParameterCodec codec, int chunkSize)
{
    private readonly Lock _gate = new();
    private RoundTask? _task;
    private IReadOnlyList<byte[]> _frames = [];
    private HashSet<string> _sentTo = new(StringComparer.Ordinal);

    /// <summary>The frames of <paramref name="task"/> for <paramref name="deviceId"/>: the shared ones the first time, fresh ones after.</summary>
    public IReadOnlyList<byte[]> FramesFor(string deviceId, RoundTask task)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_task, task))
            {
                _task = task;
                _frames = Serialize(task);
                _sentTo = new HashSet<string>(StringComparer.Ordinal);
            }

            if (_sentTo.Add(deviceId))
            {
                return _frames;
            }
        }

        return Serialize(task);
    }

    private IReadOnlyList<byte[]> Serialize(RoundTask task) =>
        WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), Body = task }, codec), chunkSize);
}
