using FedEdge.Messaging;

namespace FedEdge.Transport.Codecs;

/// <summary>
/// A worker transport's update encoder (<see cref="IUpdateEncoder"/>): it encodes with the codec the round task
/// announces, or with the transport's configured codec when the task names none (an older coordinator), and hands
/// back the update with its encoded bytes and the values they decode to, ready to be signed. Top-k keeps one codec
/// instance per worker, so its error feedback (the residual of what earlier rounds did not send) carries from round to
/// round; the residual is dropped when the task is not the round after the last one encoded (the global model moved on
/// without this worker) or when the announced fraction changes.
/// </summary>
internal sealed class WorkerUpdateEncoder(IParameterCodec configured)
{
    private readonly Lock _gate = new();
    private TopKCodec? _topK = configured as TopKCodec;
    private long _lastRound = long.MinValue;

    public ModelUpdate Encode(ModelUpdate update, RoundTask task)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(task);
        lock (_gate)
        {
            IParameterCodec codec = CodecFor(task);
            if (codec.Kind == ParameterCodecKind.TopK && update.Kind != UpdateKind.Delta)
            {
                throw new ParameterCodecException("Top-k sparsification applies to delta updates only; send UpdateKind.Delta or choose another codec.");
            }

            byte[] bytes = codec.Encode(update.Values);
            ParameterSet decoded = codec.Kind == ParameterCodecKind.Float32 ? update.Values : ParameterCodecs.Decode(codec.Kind, update.Values.Layout, bytes);
            return update with { Values = decoded, Encoded = new EncodedValues(ParameterCodecs.NameOf(codec.Kind), bytes) };
        }
    }

    private IParameterCodec CodecFor(RoundTask task)
    {
        bool consecutive = task.Round == _lastRound + 1;
        _lastRound = task.Round;
        if (task.UpdateCodec is null)
        {
            if (configured is TopKCodec own && !consecutive)
            {
                own.ResetResidual();
            }

            return configured;
        }

        if (!UpdateCodecSpec.TryParse(task.UpdateCodec, out string name, out double fraction, out string error))
        {
            throw new ArgumentException($"The round task's update codec cannot be used: {error}", nameof(task));
        }

        if (name != UpdateCodecSpec.TopK)
        {
            return ParameterCodecs.Create(ParameterCodecs.KindOf(name));
        }

        if (_topK is null || _topK.Fraction != fraction)
        {
            _topK = new TopKCodec(fraction, errorFeedback: true);
        }
        else if (!consecutive)
        {
            _topK.ResetResidual();
        }

        return _topK;
    }
}
