using FedEdge.Transport.Wire;

namespace FedEdge.Transport;

/// <summary>
/// The inbound half every transport shares: frames to envelopes (reassembly with integrity checks),
/// envelopes to <see cref="WireMessage"/>s, and at-least-once de-duplication by message id.
/// </summary>
internal sealed class InboundDecoder
{
    private const int DedupCapacity = 16384;
    private readonly FrameReassembler _reassembler;
    private readonly Lock _gate = new();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public InboundDecoder(TimeProvider time, ReassemblyOptions options)
    {
        _reassembler = new FrameReassembler(time, options);
    }

    /// <summary>
    /// Decodes one frame, which the caller hands over (it must never write the frame's memory again: chunk data is kept
    /// as slices of it until the transfer completes). Returns null while a chunked message is incomplete or for a repeat of a message
    /// already delivered; throws <see cref="WireFormatException"/> for bad bytes.
    /// </summary>
    public (WireMessage Message, long EnvelopeBytes)? Accept(string source, ReadOnlyMemory<byte> frame, string dedupScope, out ReadOnlyMemory<byte> envelope)
    {
        if (!_reassembler.TryAccept(source, frame, frameIsOwned: true, out envelope))
        {
            return null;
        }

        WireMessage message = WireSerializer.Deserialize(envelope.Span);
        return IsFirst(dedupScope + "\n" + message.MessageId) ? (message, envelope.Length) : null;
    }

    /// <summary>Decodes one frame already parsed by the transport's protobuf layer (gRPC); otherwise as the byte overload.</summary>
    public (WireMessage Message, long EnvelopeBytes)? Accept(string source, Wire.Proto.Frame frame, string dedupScope)
    {
        if (!_reassembler.TryAccept(source, frame, out ReadOnlyMemory<byte> envelope))
        {
            return null;
        }

        WireMessage message = WireSerializer.Deserialize(envelope.Span);
        return IsFirst(dedupScope + "\n" + message.MessageId) ? (message, envelope.Length) : null;
    }

    /// <summary>Bytes of incomplete transfers held for <paramref name="source"/>.</summary>
    public long PendingBytes(string source) => _reassembler.PendingBytes(source);

    /// <summary>Incomplete transfers past the timeout.</summary>
    public IReadOnlyList<(string Source, ChunkIntegrityException Error)> CollectExpired() => _reassembler.CollectExpired();

    private bool IsFirst(string key)
    {
        lock (_gate)
        {
            if (!_seen.Add(key))
            {
                return false;
            }

            _order.Enqueue(key);
            if (_order.Count > DedupCapacity)
            {
                _seen.Remove(_order.Dequeue());
            }

            return true;
        }
    }
}
