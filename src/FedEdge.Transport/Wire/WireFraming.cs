using System.Security.Cryptography;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Splits serialized envelopes into transport-sized frames and back. A frame is a protobuf
/// <c>Frame</c>: the whole envelope when it fits in one chunk, otherwise one <c>Chunk</c> carrying
/// its transfer id, index, count, total length, the chunk's SHA-256 and the whole envelope's SHA-256.
/// </summary>
public static class WireFraming
{
    /// <summary>The default chunk size: 256 KiB of payload per frame (EMQX and Mosquitto accept it; use at most 120 KiB behind AWS IoT Core, which caps messages at 128 KB).</summary>
    public const int DefaultChunkSize = 256 * 1024;

    private const byte EnvelopeTag = (1 << 3) | 2;
    private const byte ChunkTag = (2 << 3) | 2;

    /// <summary>Splits <paramref name="envelopeBytes"/> into frames of at most <paramref name="chunkSize"/> payload bytes each.</summary>
    public static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> envelopeBytes, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 64);
        if (envelopeBytes.Length <= chunkSize)
        {
            return [Wrap(EnvelopeTag, envelopeBytes)];
        }

        string transferId = WireMessage.NewId();
        ByteString total = ByteString.CopyFrom(SHA256.HashData(envelopeBytes));
        int count = (envelopeBytes.Length + chunkSize - 1) / chunkSize;
        var frames = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> data = envelopeBytes.Slice(i * chunkSize, Math.Min(chunkSize, envelopeBytes.Length - (i * chunkSize)));
            var chunk = new Chunk
            {
                TransferId = transferId,
                Index = (uint)i,
                Count = (uint)count,
                TotalLength = (ulong)envelopeBytes.Length,
                ChunkSha256 = ByteString.CopyFrom(SHA256.HashData(data)),
                TotalSha256 = total,
                Data = ByteString.CopyFrom(data),
            };
            frames[i] = Wrap(ChunkTag, chunk.ToByteArray());
        }

        return frames;
    }

    /// <summary>Reads a frame: either the envelope bytes (whole message) or a parsed chunk.</summary>
    /// <exception cref="WireFormatException">The bytes are not a frame.</exception>
    internal static (ReadOnlyMemory<byte> Envelope, Chunk? Chunk) Read(ReadOnlyMemory<byte> frame)
    {
        ReadOnlySpan<byte> span = frame.Span;
        if (span.Length < 2)
        {
            throw new WireFormatException($"A frame of {span.Length} bytes is too short.");
        }

        byte tag = span[0];
        if (tag != EnvelopeTag && tag != ChunkTag)
        {
            throw new WireFormatException($"The frame starts with 0x{tag:x2}, which is neither an envelope nor a chunk; not a FedEdge frame.");
        }

        ulong length = 0;
        int shift = 0;
        int at = 1;
        while (true)
        {
            if (at >= span.Length || shift > 35)
            {
                throw new WireFormatException("The frame's length prefix is truncated or too long.");
            }

            byte b = span[at++];
            length |= (ulong)(b & 0x7f) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        if (length != (ulong)(span.Length - at))
        {
            throw new WireFormatException($"The frame declares {length} payload bytes but carries {span.Length - at}.");
        }

        ReadOnlyMemory<byte> payload = frame[at..];
        if (tag == EnvelopeTag)
        {
            return (payload, null);
        }

        try
        {
            return (default, Chunk.Parser.ParseFrom(payload.Span));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new WireFormatException($"The chunk frame is not a valid chunk: {ex.Message}", ex);
        }
    }

    private static byte[] Wrap(byte tag, ReadOnlySpan<byte> payload)
    {
        int lengthBytes = CodedOutputStream.ComputeLengthSize(payload.Length);
        var frame = new byte[1 + lengthBytes + payload.Length];
        frame[0] = tag;
        uint value = (uint)payload.Length;
        int at = 1;
        while (value >= 0x80)
        {
            frame[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        frame[at++] = (byte)value;
        payload.CopyTo(frame.AsSpan(at));
        return frame;
    }
}
