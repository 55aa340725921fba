using FedEdge.Messaging;
using FedEdge.Transport.Codecs;

namespace FedEdge.Transport.Wire;

/// <summary>
/// A round's task is the same for every selected device, so its envelope is serialized, chunked and hashed once and
/// the frames go to every device. A device that takes task references (<see cref="ModelReference"/>) and was sent the
/// model the task starts from gets the small reference frame instead. A device that already got the task (a re-send)
/// gets a fresh, complete envelope with a new message id: the worker drops a repeated id as a duplicate, a re-send must
/// reach the worker so that it acknowledges again, and a worker that could not resolve a reference (it missed the model)
/// needs the parameters. Thread-safe; holds only the latest task.
/// </summary>
internal sealed class TaskFrameCache(IParameterCodec codec, int chunkSize)
{
    private readonly Lock _gate = new();
    private RoundTask? _task;
    private IReadOnlyList<byte[]>? _frames;
    private IReadOnlyList<byte[]>? _referenceFrames;
    private string? _referenceHash;
    private string? _taskHash;
    private HashSet<string> _sentTo = new(StringComparer.Ordinal);

    /// <summary>The frames of <paramref name="task"/> for <paramref name="deviceId"/>: the shared ones the first time, fresh ones after.</summary>
    public IReadOnlyList<byte[]> FramesFor(string deviceId, RoundTask task) => FramesFor(deviceId, task, publishedModelHash: null).Frames;

    /// <summary>
    /// The frames of <paramref name="task"/> for <paramref name="deviceId"/>. The first time: the shared reference frames
    /// when <paramref name="publishedModelHash"/> (the model the device was sent, null when it takes no references) is
    /// the hash of the task's parameters, else the shared complete frames. After that: fresh complete frames.
    /// </summary>
    public (IReadOnlyList<byte[]> Frames, bool IsReference) FramesFor(string deviceId, RoundTask task, string? publishedModelHash)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_task, task))
            {
                _task = task;
                _frames = null;
                _referenceFrames = null;
                _referenceHash = null;
                _taskHash = null;
                _sentTo = new HashSet<string>(StringComparer.Ordinal);
            }

            if (_sentTo.Add(deviceId))
            {
                if (publishedModelHash is not null)
                {
                    _taskHash ??= task.GlobalParameters.ComputeHash();
                    if (string.Equals(_taskHash, publishedModelHash, StringComparison.Ordinal))
                    {
                        if (_referenceFrames is null || !string.Equals(_referenceHash, publishedModelHash, StringComparison.Ordinal))
                        {
                            _referenceFrames = Serialize(new RoundTaskReference(task, publishedModelHash));
                            _referenceHash = publishedModelHash;
                        }

                        return (_referenceFrames, true);
                    }
                }

                return (_frames ??= Serialize(task), false);
            }
        }

        return (Serialize(task), false);
    }

    private IReadOnlyList<byte[]> Serialize(object body) =>
        WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), Body = body }, codec), chunkSize);
}
