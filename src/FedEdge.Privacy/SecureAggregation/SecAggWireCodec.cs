using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace FedEdge.Privacy;

/// <summary>
/// A compact binary encoding of the <see cref="SecAggMessage"/> records, so that any transport that
/// carries bytes (MQTT payloads, gRPC bytes fields, in-process queues) can carry secure aggregation.
/// </summary>
/// <remarks>
/// Layout: the ASCII magic <c>SA</c>, a version byte (1), a type byte, then the fields in declaration
/// order, little-endian, strings and arrays prefixed by an int32 length. A masked input of n values
/// costs 4n bytes plus its header, the same as a plain float32 update.
/// </remarks>
public static class SecAggWireCodec
{
    private const byte Version = 1;
    private const int MaxStringBytes = 1024;

    private enum MessageType : byte
    {
        AdvertiseKeys = 1,
        Roster = 2,
        ShareKeys = 3,
        ForwardedShares = 4,
        MaskedInput = 5,
        UnmaskRequest = 6,
        UnmaskResponse = 7,
        Abort = 8,
    }

    /// <summary>Encodes a message.</summary>
    /// <exception cref="ArgumentException">The message type is not one of the secure-aggregation records.</exception>
    public static byte[] Encode(SecAggMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var writer = new ArrayBufferWriter<byte>(message is SecAggMaskedInput masked ? (masked.MaskedValues.Length * 4) + 256 : 1024);
        writer.Write("SA"u8);
        WriteByte(writer, Version);
        switch (message)
        {
            case SecAggAdvertiseKeys m:
                WriteHeader(writer, MessageType.AdvertiseKeys, m);
                WriteString(writer, m.SenderId);
                WriteBytes(writer, m.EncryptionPublicKey);
                WriteBytes(writer, m.MaskingPublicKey);
                break;
            case SecAggRoster m:
                WriteHeader(writer, MessageType.Roster, m);
                WriteInt32(writer, m.Participants.Count);
                foreach (SecAggParticipant p in m.Participants)
                {
                    WriteString(writer, p.ClientId);
                    WriteInt32(writer, p.Index);
                    WriteBytes(writer, p.EncryptionPublicKey);
                    WriteBytes(writer, p.MaskingPublicKey);
                }

                WriteInt32(writer, m.Threshold);
                WriteInt32(writer, m.MinimumClients);
                WriteInt32(writer, m.NeighbourCount);
                WriteInt32(writer, m.VectorLength);
                WriteInt32(writer, BitConverter.SingleToInt32Bits(m.ClipRange));
                WriteInt64(writer, BitConverter.DoubleToInt64Bits(m.Scale));
                WriteBytes(writer, m.GraphSeed);
                break;
            case SecAggShareKeys m:
                WriteHeader(writer, MessageType.ShareKeys, m);
                WriteString(writer, m.SenderId);
                WriteShares(writer, m.Shares);
                break;
            case SecAggForwardedShares m:
                WriteHeader(writer, MessageType.ForwardedShares, m);
                WriteString(writer, m.RecipientId);
                WriteShares(writer, m.Shares);
                break;
            case SecAggMaskedInput m:
                WriteHeader(writer, MessageType.MaskedInput, m);
                WriteString(writer, m.SenderId);
                WriteInt32(writer, m.MaskedValues.Length);
                if (BitConverter.IsLittleEndian)
                {
                    writer.Write(MemoryMarshal.AsBytes(m.MaskedValues.AsSpan()));
                }
                else
                {
                    foreach (uint v in m.MaskedValues)
                    {
                        WriteInt32(writer, unchecked((int)v));
                    }
                }

                break;
            case SecAggUnmaskRequest m:
                WriteHeader(writer, MessageType.UnmaskRequest, m);
                WriteStrings(writer, m.Survivors);
                WriteStrings(writer, m.Dropped);
                break;
            case SecAggUnmaskResponse m:
                WriteHeader(writer, MessageType.UnmaskResponse, m);
                WriteString(writer, m.SenderId);
                WriteInt32(writer, m.Shares.Count);
                foreach (SecAggRevealedShare s in m.Shares)
                {
                    WriteString(writer, s.OwnerId);
                    WriteByte(writer, (byte)s.Kind);
                    WriteInt64(writer, s.X);
                    WriteInt32(writer, s.Values.Length);
                    foreach (ulong v in s.Values)
                    {
                        WriteInt64(writer, unchecked((long)v));
                    }
                }

                break;
            case SecAggAbort m:
                WriteHeader(writer, MessageType.Abort, m);
                WriteByte(writer, (byte)m.Phase);
                WriteByte(writer, (byte)m.Reason);
                WriteString(writer, m.Detail);
                break;
            default:
                throw new ArgumentException($"{message.GetType().Name} is not a secure-aggregation message this codec knows.", nameof(message));
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes a message encoded by <see cref="Encode"/>.</summary>
    /// <exception cref="SecAggMessageFormatException">The bytes are truncated, oversized, of an unknown type or version, or carry invalid values.</exception>
    public static SecAggMessage Decode(ReadOnlySpan<byte> bytes)
    {
        var reader = new Reader(bytes);
        if (reader.ReadByte() != (byte)'S' || reader.ReadByte() != (byte)'A')
        {
            throw new SecAggMessageFormatException("The payload does not start with the secure-aggregation magic 'SA'.");
        }

        byte version = reader.ReadByte();
        if (version != Version)
        {
            throw new SecAggMessageFormatException($"Secure-aggregation wire version {version} is not supported (expected {Version}).");
        }

        var type = (MessageType)reader.ReadByte();
        long round = reader.ReadInt64();
        string nonce = reader.ReadString();
        SecAggMessage message = type switch
        {
            MessageType.AdvertiseKeys => new SecAggAdvertiseKeys
            {
                Round = round,
                Nonce = nonce,
                SenderId = reader.ReadString(),
                EncryptionPublicKey = reader.ReadBytes(),
                MaskingPublicKey = reader.ReadBytes(),
            },
            MessageType.Roster => ReadRoster(ref reader, round, nonce),
            MessageType.ShareKeys => new SecAggShareKeys { Round = round, Nonce = nonce, SenderId = reader.ReadString(), Shares = ReadShares(ref reader) },
            MessageType.ForwardedShares => new SecAggForwardedShares { Round = round, Nonce = nonce, RecipientId = reader.ReadString(), Shares = ReadShares(ref reader) },
            MessageType.MaskedInput => new SecAggMaskedInput { Round = round, Nonce = nonce, SenderId = reader.ReadString(), MaskedValues = reader.ReadUInt32Array() },
            MessageType.UnmaskRequest => new SecAggUnmaskRequest { Round = round, Nonce = nonce, Survivors = ReadStrings(ref reader), Dropped = ReadStrings(ref reader) },
            MessageType.UnmaskResponse => ReadUnmaskResponse(ref reader, round, nonce),
            MessageType.Abort => new SecAggAbort
            {
                Round = round,
                Nonce = nonce,
                Phase = ReadEnum<SecAggPhase>(reader.ReadByte()),
                Reason = ReadEnum<SecAggAbortReason>(reader.ReadByte()),
                Detail = reader.ReadString(4096),
            },
            _ => throw new SecAggMessageFormatException($"Unknown secure-aggregation message type {(byte)type}."),
        };

        if (!reader.AtEnd)
        {
            throw new SecAggMessageFormatException($"{reader.Remaining} trailing bytes after a {type} message.");
        }

        return message;
    }

    private static SecAggRoster ReadRoster(ref Reader reader, long round, string nonce)
    {
        int count = reader.ReadCount(8);
        var participants = new SecAggParticipant[count];
        for (int i = 0; i < count; i++)
        {
            participants[i] = new SecAggParticipant
            {
                ClientId = reader.ReadString(),
                Index = reader.ReadInt32(),
                EncryptionPublicKey = reader.ReadBytes(),
                MaskingPublicKey = reader.ReadBytes(),
            };
        }

        return new SecAggRoster
        {
            Round = round,
            Nonce = nonce,
            Participants = participants,
            Threshold = reader.ReadInt32(),
            MinimumClients = reader.ReadInt32(),
            NeighbourCount = reader.ReadInt32(),
            VectorLength = reader.ReadInt32(),
            ClipRange = BitConverter.Int32BitsToSingle(reader.ReadInt32()),
            Scale = BitConverter.Int64BitsToDouble(reader.ReadInt64()),
            GraphSeed = reader.ReadBytes(),
        };
    }

    private static SecAggUnmaskResponse ReadUnmaskResponse(ref Reader reader, long round, string nonce)
    {
        string sender = reader.ReadString();
        int count = reader.ReadCount(16);
        var shares = new SecAggRevealedShare[count];
        for (int i = 0; i < count; i++)
        {
            string owner = reader.ReadString();
            SecAggSecretKind kind = ReadEnum<SecAggSecretKind>(reader.ReadByte());
            long x = reader.ReadInt64();
            int n = reader.ReadCount(8);
            ulong[] values = new ulong[n];
            for (int k = 0; k < n; k++)
            {
                values[k] = unchecked((ulong)reader.ReadInt64());
            }

            shares[i] = new SecAggRevealedShare { OwnerId = owner, Kind = kind, X = x, Values = values };
        }

        return new SecAggUnmaskResponse { Round = round, Nonce = nonce, SenderId = sender, Shares = shares };
    }

    private static T ReadEnum<T>(byte value)
        where T : struct, Enum
    {
        T result = (T)Enum.ToObject(typeof(T), value);
        return Enum.IsDefined(result)
            ? result
            : throw new SecAggMessageFormatException($"{value} is not a valid {typeof(T).Name}.");
    }

    private static SecAggEncryptedShare[] ReadShares(ref Reader reader)
    {
        int count = reader.ReadCount(12);
        var shares = new SecAggEncryptedShare[count];
        for (int i = 0; i < count; i++)
        {
            shares[i] = new SecAggEncryptedShare { SenderId = reader.ReadString(), RecipientId = reader.ReadString(), Ciphertext = reader.ReadBytes() };
        }

        return shares;
    }

    private static string[] ReadStrings(ref Reader reader)
    {
        int count = reader.ReadCount(4);
        string[] values = new string[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = reader.ReadString();
        }

        return values;
    }

    private static void WriteHeader(ArrayBufferWriter<byte> writer, MessageType type, SecAggMessage message)
    {
        WriteByte(writer, (byte)type);
        WriteInt64(writer, message.Round);
        WriteString(writer, message.Nonce);
    }

    private static void WriteShares(ArrayBufferWriter<byte> writer, IReadOnlyList<SecAggEncryptedShare> shares)
    {
        WriteInt32(writer, shares.Count);
        foreach (SecAggEncryptedShare s in shares)
        {
            WriteString(writer, s.SenderId);
            WriteString(writer, s.RecipientId);
            WriteBytes(writer, s.Ciphertext);
        }
    }

    private static void WriteStrings(ArrayBufferWriter<byte> writer, IReadOnlyList<string> values)
    {
        WriteInt32(writer, values.Count);
        foreach (string v in values)
        {
            WriteString(writer, v);
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteInt32(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static void WriteInt64(ArrayBufferWriter<byte> writer, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(writer.GetSpan(8), value);
        writer.Advance(8);
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        WriteBytes(writer, Encoding.UTF8.GetBytes(value));
    }

    private static void WriteBytes(ArrayBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteInt32(writer, value.Length);
        writer.Write(value);
    }

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _bytes;
        private int _position;

        public Reader(ReadOnlySpan<byte> bytes)
        {
            _bytes = bytes;
            _position = 0;
        }

        public readonly bool AtEnd => _position == _bytes.Length;

        public readonly int Remaining => _bytes.Length - _position;

        public byte ReadByte() => Take(1)[0];

        public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        /// <summary>Reads a count and checks that that many items of at least <paramref name="minItemBytes"/> could fit in what remains.</summary>
        public int ReadCount(int minItemBytes)
        {
            int count = ReadInt32();
            if (count < 0 || (long)count * minItemBytes > Remaining)
            {
                throw new SecAggMessageFormatException($"A count of {count} does not fit in the {Remaining} bytes that remain.");
            }

            return count;
        }

        public byte[] ReadBytes() => Take(ReadCount(1)).ToArray();

        public string ReadString(int maxBytes = MaxStringBytes)
        {
            int length = ReadCount(1);
            if (length > maxBytes)
            {
                throw new SecAggMessageFormatException($"A string of {length} bytes exceeds the limit of {maxBytes}.");
            }

            try
            {
                return new UTF8Encoding(false, true).GetString(Take(length));
            }
            catch (DecoderFallbackException ex)
            {
                throw new SecAggMessageFormatException("A string is not valid UTF-8.", ex);
            }
        }

        public uint[] ReadUInt32Array()
        {
            int count = ReadCount(4);
            ReadOnlySpan<byte> raw = Take(count * 4);
            uint[] values = new uint[count];
            if (BitConverter.IsLittleEndian)
            {
                raw.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    values[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw.Slice(i * 4, 4));
                }
            }

            return values;
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || count > Remaining)
            {
                throw new SecAggMessageFormatException($"The payload is truncated: {count} bytes needed at offset {_position}, {Remaining} remain.");
            }

            ReadOnlySpan<byte> slice = _bytes.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}

/// <summary>Thrown when bytes are not a valid secure-aggregation message.</summary>
public sealed class SecAggMessageFormatException : FormatException
{
    /// <summary>Creates an exception with no details.</summary>
    public SecAggMessageFormatException()
        : base("The bytes are not a valid secure-aggregation message.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public SecAggMessageFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    public SecAggMessageFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
