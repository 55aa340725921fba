using FedEdge.Messaging;
using System.Buffers.Binary;

namespace FedEdge.Transport.Codecs;

/// <summary>
/// Keeps the k values of largest magnitude. Format: int32 k, then k ascending uint32 indices, then k
/// float32 values, little-endian. With error feedback the codec adds its residual (what earlier
/// encodings did not send) before selecting and keeps the new residual, so nothing is lost over rounds.
/// </summary>
internal sealed class TopKCodec : IParameterCodec
{
    /// <summary>How many decoded values one kept value may stand for at most (1 / <see cref="UpdateCodecSpec.MinTopKFraction"/>).</summary>
    internal const long MaxExpansion = 10_000;

    private readonly double _fraction;
    private readonly bool _errorFeedback;
    private readonly Lock _gate = new();
    private ParameterLayout? _residualLayout;
    private float[]? _residual;

    public TopKCodec(double fraction, bool errorFeedback)
    {
        if (!(fraction >= UpdateCodecSpec.MinTopKFraction && fraction <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, $"The top-k fraction must be in [{UpdateCodecSpec.MinTopKFraction}, 1].");
        }

        _fraction = fraction;
        _errorFeedback = errorFeedback;
    }

    public ParameterCodecKind Kind => ParameterCodecKind.TopK;

    /// <summary>The residual the next encoding adds (a copy), or null before the first encoding.</summary>
    public float[]? Residual
    {
        get
        {
            lock (_gate)
            {
                return (float[]?)_residual?.Clone();
            }
        }
    }

    /// <summary>The fraction of values kept.</summary>
    public double Fraction => _fraction;

    /// <summary>Forgets the residual: the next encoding starts from its own values (the global model moved on without this worker).</summary>
    public void ResetResidual()
    {
        lock (_gate)
        {
            _residual = null;
            _residualLayout = null;
        }
    }

    public int KeepCount(int length) => (int)Math.Clamp(Math.Ceiling(length * _fraction), 1, length);

    public byte[] Encode(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!parameters.AllFinite())
        {
            throw new ParameterCodecException("Top-k sparsification needs finite values; the set holds NaN or infinity.");
        }

        lock (_gate)
        {
            float[] work = parameters.Values.ToArray();
            if (_errorFeedback && _residual is not null && _residualLayout is not null && _residualLayout.Equals(parameters.Layout))
            {
                for (int i = 0; i < work.Length; i++)
                {
                    work[i] += _residual[i];
                }
            }

            int k = KeepCount(work.Length);
            int[] kept = SelectLargest(work, k);
            Array.Sort(kept);
            var bytes = new byte[4 + (k * 8)];
            BinaryPrimitives.WriteInt32LittleEndian(bytes, k);
            for (int j = 0; j < k; j++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 + (j * 4)), (uint)kept[j]);
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 + (k * 4) + (j * 4)), work[kept[j]]);
            }

            if (_errorFeedback)
            {
                foreach (int index in kept)
                {
                    work[index] = 0f;
                }

                _residual = work;
                _residualLayout = parameters.Layout;
            }

            return bytes;
        }
    }

    public ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data) => DecodeSparse(layout, data);

    public static ParameterSet DecodeSparse(ParameterLayout layout, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (data.Length < 4)
        {
            throw new WireFormatException($"top-k data holds {data.Length} bytes; at least 4 are needed for the count.");
        }

        int k = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (k < 0 || k > layout.TotalLength)
        {
            throw new WireFormatException($"top-k count {k} is outside [0, {layout.TotalLength}].");
        }

        // An encoder keeps at least ⌈n · MinTopKFraction⌉ values: a few bytes may not claim a huge layout.
        if ((long)layout.TotalLength > (long)Math.Max(k, 1) * MaxExpansion)
        {
            throw new WireFormatException($"top-k data keeps {k} values of a {layout.TotalLength}-value layout; at least one in {MaxExpansion} must be kept.");
        }

        ParameterCodecs.RequireLength(data, 4 + ((long)k * 8), "top-k", layout);
        var set = new ParameterSet(layout);
        Span<float> values = set.Values;
        long previous = -1;
        for (int j = 0; j < k; j++)
        {
            uint index = BinaryPrimitives.ReadUInt32LittleEndian(data[(4 + (j * 4))..]);
            if (index <= previous || index >= (uint)layout.TotalLength)
            {
                throw new WireFormatException($"top-k index {index} at position {j} is out of range or not ascending.");
            }

            previous = index;
            float value = BinaryPrimitives.ReadSingleLittleEndian(data[(4 + (k * 4) + (j * 4))..]);
            if (!float.IsFinite(value))
            {
                throw new WireFormatException($"top-k value at index {index} is {value}; values must be finite.");
            }

            values[(int)index] = value;
        }

        return set;
    }

    private static int[] SelectLargest(float[] values, int k)
    {
        if (k >= values.Length)
        {
            return Enumerable.Range(0, values.Length).ToArray();
        }

        // Min-heap of the k largest magnitudes seen so far; ties keep the lower index.
        var heap = new PriorityQueue<int, (float Magnitude, int NegIndex)>(k);
        for (int i = 0; i < values.Length; i++)
        {
            float magnitude = Math.Abs(values[i]);
            if (heap.Count < k)
            {
                heap.Enqueue(i, (magnitude, -i));
            }
            else
            {
                heap.TryPeek(out _, out var smallest);
                if (magnitude > smallest.Magnitude)
                {
                    heap.DequeueEnqueue(i, (magnitude, -i));
                }
            }
        }

        var result = new int[heap.Count];
        for (int j = 0; j < result.Length; j++)
        {
            result[j] = heap.Dequeue();
        }

        return result;
    }
}
