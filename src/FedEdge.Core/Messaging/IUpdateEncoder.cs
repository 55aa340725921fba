namespace FedEdge.Messaging;

/// <summary>
/// A worker transport that encodes updates itself implements this so that the worker's update pipeline can encode
/// before it signs: the signature then covers the bytes the device sends (<see cref="ModelUpdate.Encoded"/>).
/// </summary>
public interface IUpdateEncoder
{
    /// <summary>
    /// Encodes <paramref name="update"/>'s values with the codec <paramref name="task"/> announces (or the transport's
    /// own when the task names none) and returns the update carrying <see cref="ModelUpdate.Encoded"/> and the values
    /// those bytes decode to. Stateful codecs (top-k's error feedback) keep their state per worker between rounds.
    /// </summary>
    /// <exception cref="ArgumentException">The task names a codec this transport does not know.</exception>
    ModelUpdate Encode(ModelUpdate update, RoundTask task);
}
