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
    private long _digestlessMessages;

    public InboundDecoder(TimeProvider time, ReassemblyOptions options)
    {
        _reassembler = new FrameReassembler(time, options);
    }

    /// <summary>
    /// What the engine behind this decoder verifies by signature (set when the transport learns its handler): a chunked
    /// message of that kind, signed, may arrive without the framing's digests; anything else without them is refused.
    /// </summary>
    public VerifiedContent Verified { get; set; }

    /// <summary>Messages accepted that travelled as chunks without digests.</summary>
    public long DigestlessMessages => Interlocked.Read(ref _digestlessMessages);

    /// <summary>
    /// Decodes one frame, which the caller hands over (it must never write the frame's memory again: chunk data is kept
    /// as slices of it until the transfer completes). Returns null while a chunked message is incomplete or for a repeat of a message
    /// already delivered; throws <see cref="WireFormatException"/> for bad bytes.
    /// </summary>
    public (WireMessage Message, long EnvelopeBytes)? Accept(string source, ReadOnlyMemory<byte> frame, string dedupScope, out ReadOnlyMemory<byte> envelope)
    {
        if (!_reassembler.TryAccept(source, frame, frameIsOwned: true, Verified != VerifiedContent.None, out envelope, out bool digestless))
        {
            return null;
        }

        return Decode(envelope, digestless, dedupScope);
    }

    /// <summary>Decodes one frame already parsed by the transport's protobuf layer (gRPC); otherwise as the byte overload.</summary>
    public (WireMessage Message, long EnvelopeBytes)? Accept(string source, Wire.Proto.Frame frame, string dedupScope)
    {
        if (!_reassembler.TryAccept(source, frame, Verified != VerifiedContent.None, out ReadOnlyMemory<byte> envelope, out bool digestless))
        {
            return null;
        }

        return Decode(envelope, digestless, dedupScope);
    }

    private (WireMessage Message, long EnvelopeBytes)? Decode(ReadOnlyMemory<byte> envelope, bool digestless, string dedupScope)
    {
        WireMessage message = WireSerializer.Deserialize(envelope.Span);
        if (digestless)
        {
            // Before de-duplication: a refused copy must not mark its message id as delivered.
            SignedContent.RequireCovered(message, Verified, message.MessageId);
            Interlocked.Increment(ref _digestlessMessages);
        }

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
