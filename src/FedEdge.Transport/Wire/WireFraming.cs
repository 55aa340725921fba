using System.Security.Cryptography;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Splits serialized envelopes into transport-sized frames and back. A frame is a protobuf
/// <c>Frame</c>: the whole envelope when it fits in one chunk, otherwise one <c>Chunk</c> carrying
/// its transfer id, index, count, total length, the chunk's SHA-256 and the whole envelope's SHA-256. A message its
/// sender signed end to end (a signed update, a signed global model) may travel without both digests: the receiver's
/// signature check covers it instead (see <see cref="FrameReassembler"/>).
/// </summary>
public static class WireFraming
{
    /// <summary>The default chunk size: 256 KiB of payload per frame (EMQX and Mosquitto accept it; use at most 120 KiB behind AWS IoT Core, which caps messages at 128 KB).</summary>
    public const int DefaultChunkSize = 256 * 1024;

    private const byte EnvelopeTag = (1 << 3) | 2;
    private const byte ChunkTag = (2 << 3) | 2;
    private const byte ChunkDataTag = (7 << 3) | 2;
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Splits <paramref name="envelopeBytes"/> into frames of at most <paramref name="chunkSize"/> payload bytes each.</summary>
    public static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> envelopeBytes, int chunkSize = DefaultChunkSize) =>
        Split(envelopeBytes, chunkSize, digests: true);

    /// <summary>
    /// Splits <paramref name="message"/>'s envelope: without the chunks' SHA-256 digests when <paramref name="omitWhenSigned"/>
    /// is set and the message is signed end to end (<see cref="SignedContent.IsSigned"/>), with them otherwise.
    /// </summary>
    internal static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> envelopeBytes, int chunkSize, WireMessage message, bool omitWhenSigned) =>
        Split(envelopeBytes, chunkSize, digests: !(omitWhenSigned && SignedContent.IsSigned(message)));

    /// <summary>
    /// Splits <paramref name="envelopeBytes"/>; with <paramref name="digests"/> false the chunks carry neither the chunk's
    /// nor the whole message's SHA-256 (only for a message whose receiver verifies a signature over it).
    /// </summary>
    internal static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> envelopeBytes, int chunkSize, bool digests)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 64);
        if (envelopeBytes.Length <= chunkSize)
        {
            return [Wrap(EnvelopeTag, envelopeBytes)];
        }

        string transferId = WireMessage.NewId();
        ByteString total = digests ? ByteString.CopyFrom(SHA256.HashData(envelopeBytes)) : ByteString.Empty;
        int count = (envelopeBytes.Length + chunkSize - 1) / chunkSize;
        var frames = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> data = envelopeBytes.Slice(i * chunkSize, Math.Min(chunkSize, envelopeBytes.Length - (i * chunkSize)));

            // The header fields are serialized as a Chunk without data, and the data field (7, the last one) is
            // appended by hand: the same bytes as serializing the whole Chunk, with the data copied once instead of
            // three times (into a ByteString, into the Chunk's bytes, into the frame).
            var header = new Chunk
            {
                TransferId = transferId,
                Index = (uint)i,
                Count = (uint)count,
                TotalLength = (ulong)envelopeBytes.Length,
                ChunkSha256 = digests ? ByteString.CopyFrom(SHA256.HashData(data)) : ByteString.Empty,
                TotalSha256 = total,
            };
            int headerSize = header.CalculateSize();
            int chunkLength = headerSize + 1 + CodedOutputStream.ComputeLengthSize(data.Length) + data.Length;
            var frame = new byte[1 + CodedOutputStream.ComputeLengthSize(chunkLength) + chunkLength];
            frame[0] = ChunkTag;
            int at = WriteVarint(frame, 1, (uint)chunkLength);
            header.WriteTo(frame.AsSpan(at, headerSize));
            at += headerSize;
            frame[at++] = ChunkDataTag;
            at = WriteVarint(frame, at, (uint)data.Length);
            data.CopyTo(frame.AsSpan(at));
            frames[i] = frame;
        }

        return frames;
    }

    /// <summary>Reads a frame: either the envelope bytes (whole message) or a parsed chunk.</summary>
    /// <exception cref="WireFormatException">The bytes are not a frame.</exception>
    internal static (ReadOnlyMemory<byte> Envelope, ChunkView? Chunk) Read(ReadOnlyMemory<byte> frame)
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

        return (default, ParseChunk(payload));
    }

    /// <summary>
    /// Parses a serialized <c>Chunk</c> without copying its byte fields: they are slices of <paramref name="payload"/>.
    /// Follows protobuf's rules: fields in any order, the last occurrence wins, unknown fields (and known fields with
    /// another wire type) are skipped; groups, truncation and invalid UTF-8 in the transfer id are refused.
    /// </summary>
    /// <exception cref="WireFormatException">The bytes are not a valid chunk.</exception>
    internal static ChunkView ParseChunk(ReadOnlyMemory<byte> payload)
    {
        ReadOnlySpan<byte> span = payload.Span;
        int at = 0;
        ReadOnlyMemory<byte> transferId = default, chunkSha = default, totalSha = default, data = default;
        uint index = 0, count = 0;
        ulong totalLength = 0;
        while (at < span.Length)
        {
            ulong tag = ReadVarint(span, ref at);
            ulong field = tag >> 3;
            if (field == 0 || field > 536_870_911)
            {
                throw new WireFormatException("The chunk frame is not a valid chunk: it has an invalid field tag.");
            }

            switch ((int)(tag & 7))
            {
                case 0:
                    ulong value = ReadVarint(span, ref at);
                    switch (field)
                    {
                        case 2: index = (uint)value; break;
                        case 3: count = (uint)value; break;
                        case 4: totalLength = value; break;
                    }

                    break;
                case 1:
                    Skip(span, ref at, 8);
                    break;
                case 5:
                    Skip(span, ref at, 4);
                    break;
                case 2:
                    ulong length = ReadVarint(span, ref at);
                    if (length > (ulong)(span.Length - at))
                    {
                        throw new WireFormatException("The chunk frame is not a valid chunk: a field runs past its end.");
                    }

                    ReadOnlyMemory<byte> bytes = payload.Slice(at, (int)length);
                    at += (int)length;
                    switch (field)
                    {
                        case 1: transferId = bytes; break;
                        case 5: chunkSha = bytes; break;
                        case 6: totalSha = bytes; break;
                        case 7: data = bytes; break;
                    }

                    break;
                default:
                    throw new WireFormatException($"The chunk frame is not a valid chunk: wire type {tag & 7} is not allowed here.");
            }
        }

        string id;
        try
        {
            id = StrictUtf8.GetString(transferId.Span);
        }
        catch (System.Text.DecoderFallbackException ex)
        {
            throw new WireFormatException("The chunk frame is not a valid chunk: its transfer id is not valid UTF-8.", ex);
        }

        return new ChunkView(id, index, count, totalLength, chunkSha, totalSha, data);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (at >= span.Length)
            {
                throw new WireFormatException("The chunk frame is not a valid chunk: it is truncated.");
            }

            byte b = span[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new WireFormatException("The chunk frame is not a valid chunk: a varint is longer than 10 bytes.");
    }

    private static void Skip(ReadOnlySpan<byte> span, ref int at, int bytes)
    {
        if (span.Length - at < bytes)
        {
            throw new WireFormatException("The chunk frame is not a valid chunk: it is truncated.");
        }

        at += bytes;
    }

    private static int WriteVarint(byte[] buffer, int at, uint value)
    {
        while (value >= 0x80)
        {
            buffer[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        buffer[at++] = (byte)value;
        return at;
    }

    private static byte[] Wrap(byte tag, ReadOnlySpan<byte> payload)
    {
        int lengthBytes = CodedOutputStream.ComputeLengthSize(payload.Length);
        var frame = new byte[1 + lengthBytes + payload.Length];
        frame[0] = tag;
        int at = WriteVarint(frame, 1, (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(at));
        return frame;
    }
}

/// <summary>
/// A chunk frame's fields, its byte fields as slices of the frame they were read from (no copies), or of a parsed
/// <see cref="Chunk"/>'s immutable byte strings.
/// </summary>
internal sealed record ChunkView(string TransferId, uint Index, uint Count, ulong TotalLength, ReadOnlyMemory<byte> ChunkSha256, ReadOnlyMemory<byte> TotalSha256, ReadOnlyMemory<byte> Data)
{
    /// <summary>True when the chunk carries neither digest (its sender signed the message end to end).</summary>
    public bool IsDigestless => ChunkSha256.IsEmpty && TotalSha256.IsEmpty;

    /// <summary>A view of a chunk parsed by protobuf (its byte strings are immutable and own their bytes).</summary>
    public static ChunkView Of(Chunk chunk) =>
        new(chunk.TransferId, chunk.Index, chunk.Count, chunk.TotalLength, chunk.ChunkSha256.Memory, chunk.TotalSha256.Memory, chunk.Data.Memory);
}
