using System.Buffers.Binary;
using System.Numerics;

namespace FedEdge.Transport.Codecs;

/// <summary>
/// Sparse float16 (MEDNN's pruned models on the wire): a bitmap of the non-zero positions, ⌈n / 8⌉ bytes (bit i of byte
/// i / 8, least significant first), then the float16 value of each non-zero position in order. A pruned model or a
/// delta that is zero on pruned weights costs n / 8 + 2 · kept bytes instead of 4 · n. Lossless for the zeros; the kept
/// values carry float16's relative error (at most 2^-11 within ±65504).
/// </summary>
internal sealed class SparseFloat16Codec : IParameterCodec
{
    private const float MaxHalf = 65504f;

    public ParameterCodecKind Kind => ParameterCodecKind.SparseFloat16;

    public byte[] Encode(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ReadOnlySpan<float> values = parameters.Values;
        int bitmapBytes = (values.Length + 7) / 8;
        int kept = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v) || Math.Abs(v) > MaxHalf)
            {
                throw new ParameterCodecException($"Value {v} at index {i} cannot be sent as float16 (finite, within ±{MaxHalf}).");
            }

            if (v != 0)
            {
                kept++;
            }
        }

        var bytes = new byte[bitmapBytes + (2 * kept)];
        int offset = bitmapBytes;
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] != 0)
            {
                bytes[i >> 3] |= (byte)(1 << (i & 7));
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(offset), (Half)values[i]);
                offset += 2;
            }
        }

        return bytes;
    }

    public ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(layout);
        int n = layout.TotalLength;
        int bitmapBytes = (n + 7) / 8;
        if (data.Length < bitmapBytes)
        {
            throw new WireFormatException($"sparse float16 data holds {data.Length} bytes, less than the {bitmapBytes}-byte bitmap of {n} values.");
        }

        ReadOnlySpan<byte> bitmap = data[..bitmapBytes];
        if ((n & 7) != 0 && (bitmap[^1] >> (n & 7)) != 0)
        {
            throw new WireFormatException($"sparse float16 bitmap marks positions beyond the layout's {n} values.");
        }

        long kept = 0;
        foreach (byte b in bitmap)
        {
            kept += BitOperations.PopCount(b);
        }

        if (data.Length != bitmapBytes + (2 * kept))
        {
            throw new WireFormatException($"sparse float16 data holds {data.Length} bytes but its bitmap marks {kept} values ({bitmapBytes + (2 * kept)} bytes).");
        }

        var values = new float[n];
        int offset = bitmapBytes;
        for (int i = 0; i < n; i++)
        {
            if ((bitmap[i >> 3] & (1 << (i & 7))) != 0)
            {
                float v = (float)BinaryPrimitives.ReadHalfLittleEndian(data[offset..]);
                if (!float.IsFinite(v))
                {
                    throw new WireFormatException($"sparse float16 value at index {i} is not finite.");
                }

                values[i] = v;
                offset += 2;
            }
        }

        return new ParameterSet(layout, values);
    }
}
