using FedEdge.Messaging;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace FedEdge.Transport.Codecs;

/// <summary>The built-in parameter codecs.</summary>
public static class ParameterCodecs
{
    /// <summary>Exact float32.</summary>
    public static IParameterCodec Float32 { get; } = new Float32Codec();

    /// <summary>Half precision.</summary>
    public static IParameterCodec Float16 { get; } = new Float16Codec();

    /// <summary>8-bit affine quantisation per tensor.</summary>
    public static IParameterCodec Int8 { get; } = new Int8Codec();

    /// <summary>Sparse float16: a bitmap of the non-zero positions, then their float16 values (for pruned models and their deltas).</summary>
    public static IParameterCodec SparseFloat16 { get; } = new SparseFloat16Codec();

    /// <summary>
    /// Top-k sparsification keeping <paramref name="fraction"/> of the values (at least one). With
    /// <paramref name="errorFeedback"/>, the codec instance remembers what it did not send and adds it
    /// to the next encoded set of the same layout (client-side error feedback); use one instance per
    /// worker and only for deltas.
    /// </summary>
    public static IParameterCodec TopK(double fraction, bool errorFeedback = true) => new TopKCodec(fraction, errorFeedback);

    /// <summary>A codec by kind; <paramref name="topKFraction"/> applies to <see cref="ParameterCodecKind.TopK"/> only.</summary>
    public static IParameterCodec Create(ParameterCodecKind kind, double topKFraction = 0.01, bool errorFeedback = true) => kind switch
    {
        ParameterCodecKind.Float32 => Float32,
        ParameterCodecKind.Float16 => Float16,
        ParameterCodecKind.Int8 => Int8,
        ParameterCodecKind.TopK => TopK(topKFraction, errorFeedback),
        ParameterCodecKind.SparseFloat16 => SparseFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown parameter codec."),
    };

    /// <summary>Decodes bytes produced by a codec of <paramref name="kind"/> (decoding is stateless for every codec).</summary>
    /// <exception cref="WireFormatException">Unknown codec, or bytes that do not fit the layout.</exception>
    public static ParameterSet Decode(ParameterCodecKind kind, ParameterLayout layout, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(layout);

        // Sparse codecs expand: a few hundred KB may claim a layout of a billion values. No codec may decode to more
        // values than a dense float32 message of the largest reassembled size could carry (1 GiB by default).
        if (layout.TotalLength > MaxDecodedValues)
        {
            throw new WireFormatException($"The parameters claim {layout.TotalLength} values; at most {MaxDecodedValues} are decoded.");
        }

        return DecodeWithin(kind, layout, data);
    }

    /// <summary>The most values any codec decodes to: 2^28 (1 GiB of float32, the default largest reassembled message).</summary>
    public const long MaxDecodedValues = 1L << 28;

    private static ParameterSet DecodeWithin(ParameterCodecKind kind, ParameterLayout layout, ReadOnlySpan<byte> data) => kind switch
    {
        ParameterCodecKind.Float32 => Float32.Decode(layout, data),
        ParameterCodecKind.Float16 => Float16.Decode(layout, data),
        ParameterCodecKind.Int8 => Int8.Decode(layout, data),
        ParameterCodecKind.TopK => TopKCodec.DecodeSparse(layout, data),
        ParameterCodecKind.SparseFloat16 => SparseFloat16.Decode(layout, data),
        _ => throw new WireFormatException($"Unknown parameter codec {(int)kind}; this build knows float32, float16, int8, top-k and sparse float16."),
    };

    /// <summary>The wire name of <paramref name="kind"/> (<see cref="UpdateCodecSpec"/>'s vocabulary; <c>sparse-f16</c> for sparse float16).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Unknown kind.</exception>
    public static string NameOf(ParameterCodecKind kind) => kind switch
    {
        ParameterCodecKind.Float32 => UpdateCodecSpec.Float32,
        ParameterCodecKind.Float16 => UpdateCodecSpec.Float16,
        ParameterCodecKind.Int8 => UpdateCodecSpec.Int8,
        ParameterCodecKind.TopK => UpdateCodecSpec.TopK,
        ParameterCodecKind.SparseFloat16 => SparseFloat16Name,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown parameter codec."),
    };

    /// <summary>The kind whose wire name is <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static ParameterCodecKind KindOf(string name) => name switch
    {
        UpdateCodecSpec.Float32 => ParameterCodecKind.Float32,
        UpdateCodecSpec.Float16 => ParameterCodecKind.Float16,
        UpdateCodecSpec.Int8 => ParameterCodecKind.Int8,
        UpdateCodecSpec.TopK => ParameterCodecKind.TopK,
        SparseFloat16Name => ParameterCodecKind.SparseFloat16,
        _ => throw new ArgumentException($"'{name}' is not a parameter codec name.", nameof(name)),
    };

    private const string SparseFloat16Name = "sparse-f16";

    /// <summary>
    /// Throws when a decoded value is NaN or infinite: a codec's bytes from a device may be hostile. (Float32 passes
    /// NaN through: the coordinator's update validator refuses it with its own reason.)
    /// </summary>
    internal static void RequireFinite(ReadOnlySpan<float> values, string codec)
    {
        int bad = IndexOfNonFinite(values);
        if (bad >= 0)
        {
            throw new WireFormatException($"{codec} value at index {bad} decodes to {values[bad]}; values must be finite.");
        }
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// For the dense codecs, whose length the layout fixes, refuses data of another length without decoding anything
    /// (an update is decoded only after its signature is checked, but a wrong length is refused on arrival).
    /// </summary>
    internal static void RequireDenseLength(ParameterCodecKind kind, ParameterLayout layout, ReadOnlySpan<byte> data)
    {
        switch (kind)
        {
            case ParameterCodecKind.Float32: RequireLength(data, (long)layout.TotalLength * sizeof(float), "float32", layout); break;
            case ParameterCodecKind.Float16: RequireLength(data, (long)layout.TotalLength * 2, "float16", layout); break;
            case ParameterCodecKind.Int8: RequireLength(data, ((long)layout.Tensors.Count * Int8Codec.HeaderBytes) + layout.TotalLength, "int8", layout); break;
            default: break;
        }
    }

    internal static void RequireLength(ReadOnlySpan<byte> data, long expected, string codec, ParameterLayout layout)
    {
        if (data.Length != expected)
        {
            throw new WireFormatException($"{codec} data holds {data.Length} bytes but layout ({layout.TotalLength} values) needs {expected}.");
        }
    }

    private sealed class Float32Codec : IParameterCodec
    {
        public ParameterCodecKind Kind => ParameterCodecKind.Float32;

        public byte[] Encode(ParameterSet parameters)
        {
            ArgumentNullException.ThrowIfNull(parameters);
            ReadOnlySpan<float> values = parameters.Values;
            var bytes = new byte[values.Length * sizeof(float)];
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values).CopyTo(bytes);
            }
            else
            {
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
                }
            }

            return bytes;
        }

        public ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data)
        {
            ArgumentNullException.ThrowIfNull(layout);
            RequireLength(data, (long)layout.TotalLength * sizeof(float), "float32", layout);
            var values = new float[layout.TotalLength];
            if (BitConverter.IsLittleEndian)
            {
                data.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(data[(i * 4)..]);
                }
            }

            return new ParameterSet(layout, values);
        }
    }

    private sealed class Float16Codec : IParameterCodec
    {
        private const float MaxHalf = 65504f;

        public ParameterCodecKind Kind => ParameterCodecKind.Float16;

        public byte[] Encode(ParameterSet parameters)
        {
            ArgumentNullException.ThrowIfNull(parameters);
            ReadOnlySpan<float> values = parameters.Values;
            var bytes = new byte[values.Length * 2];
            for (int i = 0; i < values.Length; i++)
            {
                float v = values[i];
                if (float.IsFinite(v) && Math.Abs(v) > MaxHalf)
                {
                    throw new ParameterCodecException($"Value {v} at index {i} exceeds float16's range (±{MaxHalf}); use float32 or int8 for this model.");
                }

                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)v);
            }

            return bytes;
        }

        public ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data)
        {
            ArgumentNullException.ThrowIfNull(layout);
            RequireLength(data, (long)layout.TotalLength * 2, "float16", layout);
            var values = new float[layout.TotalLength];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(data[(i * 2)..]);
            }

            RequireFinite(values, "float16");
            return new ParameterSet(layout, values);
        }
    }

    private sealed class Int8Codec : IParameterCodec
    {
        internal const int HeaderBytes = 8;

        public ParameterCodecKind Kind => ParameterCodecKind.Int8;

        public byte[] Encode(ParameterSet parameters)
        {
            ArgumentNullException.ThrowIfNull(parameters);
            ParameterLayout layout = parameters.Layout;
            var bytes = new byte[(layout.Tensors.Count * HeaderBytes) + layout.TotalLength];
            int at = 0;
            for (int t = 0; t < layout.Tensors.Count; t++)
            {
                ReadOnlySpan<float> tensor = parameters.GetTensor(t);
                float min = float.PositiveInfinity;
                float max = float.NegativeInfinity;
                for (int i = 0; i < tensor.Length; i++)
                {
                    float v = tensor[i];
                    if (!float.IsFinite(v))
                    {
                        throw new ParameterCodecException($"Tensor '{layout.Tensors[t].Name}' holds a non-finite value at index {i}; int8 quantisation needs finite values.");
                    }

                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                }

                float scale = (float)(((double)max - min) / 255.0);
                if (!float.IsFinite(scale))
                {
                    throw new ParameterCodecException($"Tensor '{layout.Tensors[t].Name}' spans [{min}, {max}], too wide for int8 quantisation.");
                }

                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(at), min);
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(at + 4), scale);
                at += HeaderBytes;
                for (int i = 0; i < tensor.Length; i++)
                {
                    double q = scale == 0f ? 0 : Math.Round(((double)tensor[i] - min) / scale, MidpointRounding.AwayFromZero);
                    bytes[at++] = (byte)Math.Clamp(q, 0, 255);
                }
            }

            return bytes;
        }

        public ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data)
        {
            ArgumentNullException.ThrowIfNull(layout);
            RequireLength(data, ((long)layout.Tensors.Count * HeaderBytes) + layout.TotalLength, "int8", layout);
            var set = new ParameterSet(layout);
            int at = 0;
            for (int t = 0; t < layout.Tensors.Count; t++)
            {
                float min = BinaryPrimitives.ReadSingleLittleEndian(data[at..]);
                float scale = BinaryPrimitives.ReadSingleLittleEndian(data[(at + 4)..]);
                if (!float.IsFinite(min) || !float.IsFinite(scale) || scale < 0)
                {
                    throw new WireFormatException($"int8 header of tensor '{layout.Tensors[t].Name}' is invalid (min {min}, scale {scale}).");
                }

                at += HeaderBytes;
                Span<float> tensor = set.GetTensor(t);
                for (int i = 0; i < tensor.Length; i++)
                {
                    tensor[i] = (float)(min + ((double)data[at++] * scale));
                }
            }

            RequireFinite(set.Values, "int8");
            return set;
        }
    }
}
