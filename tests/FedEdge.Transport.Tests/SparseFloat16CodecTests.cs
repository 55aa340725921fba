using FedEdge.Transport.Codecs;
using FsCheck;
using FsCheck.Xunit;

namespace FedEdge.Transport.Tests;

/// <summary>Sparse float16 (MEDNN's pruned models on the wire): bitmap of non-zero positions, then their float16 values.</summary>
public class SparseFloat16CodecTests
{
    // Zeros stay exactly zero; kept values within float16's bound; size = ⌈n/8⌉ + 2·(non-zeros).
    [Property(MaxTest = 100)]
    public bool RoundTrip_ZerosExact_KeptWithinHalfBound_SizeIsBitmapPlusTwoBytesPerKept(int seed, PositiveInt length)
    {
        ParameterSet set = TestData.RandomSet(seed, (length.Get % 2000) + 1, 100f);
        var random = new Random(seed);
        for (int i = 0; i < set.Length; i++)
        {
            if (random.NextDouble() < 0.9)
            {
                set.Values[i] = 0;
            }
        }

        byte[] bytes = ParameterCodecs.SparseFloat16.Encode(set);
        ParameterSet back = ParameterCodecs.Create(ParameterCodecKind.SparseFloat16).Decode(set.Layout, bytes);
        int kept = 0;
        for (int i = 0; i < set.Length; i++)
        {
            float x = set.Values[i];
            if (x == 0)
            {
                if (back.Values[i] != 0)
                {
                    return false;
                }

                continue;
            }

            kept++;
            if (Math.Abs(x - back.Values[i]) > Math.Max(Math.Abs(x) * Math.Pow(2, -11), Math.Pow(2, -24)))
            {
                return false;
            }
        }

        return bytes.Length == ((set.Length + 7) / 8) + (2 * kept);
    }

    [Fact]
    public void Encode_NinetyFivePercentZeros_IsAboutATenthOfFloat32()
    {
        ParameterSet set = TestData.RandomSet(7, 31171, 1f);
        for (int i = 0; i < set.Length; i++)
        {
            if (i % 20 != 0)
            {
                set.Values[i] = 0;
            }
        }

        int sparse = ParameterCodecs.SparseFloat16.Encode(set).Length;
        int dense = ParameterCodecs.Float32.Encode(set).Length;
        Assert.True(sparse < dense * 0.07, $"{sparse} B sparse vs {dense} B float32");
    }

    [Fact]
    public void Decode_HostileBytes_AreWireFormatErrors()
    {
        var layout = new ParameterLayout(new TensorSpec("fc1.weight", 10));

        // Too short for the 2-byte bitmap.
        Assert.Throws<WireFormatException>(() => ParameterCodecs.SparseFloat16.Decode(layout, new byte[1]));

        // Bitmap marks one value (bit 0) but no value bytes follow.
        Assert.Throws<WireFormatException>(() => ParameterCodecs.SparseFloat16.Decode(layout, [0x01, 0x00]));

        // Bitmap marks position 12, beyond the 10 values.
        Assert.Throws<WireFormatException>(() => ParameterCodecs.SparseFloat16.Decode(layout, [0x00, 0x10, 0x00, 0x3C]));

        // A NaN value.
        Assert.Throws<WireFormatException>(() => ParameterCodecs.SparseFloat16.Decode(layout, [0x01, 0x00, 0x00, 0x7E]));

        // Extra trailing bytes.
        Assert.Throws<WireFormatException>(() => ParameterCodecs.SparseFloat16.Decode(layout, [0x00, 0x00, 0x01]));
    }

    [Fact]
    public void Encode_ValueBeyondHalfRange_IsACodecError()
    {
        var set = new ParameterSet(new ParameterLayout(new TensorSpec("fc1.weight", 2)), [1f, 70000f]);
        Assert.Throws<ParameterCodecException>(() => ParameterCodecs.SparseFloat16.Encode(set));
    }

    [Fact]
    public void Decode_ThroughTheKindSwitch_MatchesTheCodec()
    {
        var set = new ParameterSet(new ParameterLayout(new TensorSpec("fc1.weight", 9)), [0f, 1.5f, 0f, 0f, -2f, 0f, 0f, 0f, 0.25f]);
        byte[] bytes = ParameterCodecs.SparseFloat16.Encode(set);
        Assert.Equal(2 + 6, bytes.Length);
        Assert.Equal(set.Values.ToArray(), ParameterCodecs.Decode(ParameterCodecKind.SparseFloat16, set.Layout, bytes).Values.ToArray());
    }
}
