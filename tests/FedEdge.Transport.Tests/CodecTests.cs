using FedEdge.Transport.Codecs;
using FsCheck;
using FsCheck.Xunit;

namespace FedEdge.Transport.Tests;

public class CodecTests
{
    [Property(MaxTest = 100)]
    public bool Float32_RoundTrip_IsBitExact(int seed, PositiveInt length)
    {
        ParameterSet set = TestData.RandomSet(seed, (length.Get % 2000) + 1, 1000f);
        ParameterSet back = ParameterCodecs.Float32.Decode(set.Layout, ParameterCodecs.Float32.Encode(set));
        return back.ComputeHash() == set.ComputeHash();
    }

    // Bound: |x - x'| <= max(|x| * 2^-11, 2^-25) for |x| <= 65504 (round to nearest half).
    [Property(MaxTest = 100)]
    public bool Float16_RoundTrip_WithinHalfPrecisionBound(int seed, PositiveInt length)
    {
        ParameterSet set = TestData.RandomSet(seed, (length.Get % 2000) + 1, 60000f);
        byte[] bytes = ParameterCodecs.Float16.Encode(set);
        ParameterSet back = ParameterCodecs.Float16.Decode(set.Layout, bytes);
        for (int i = 0; i < set.Length; i++)
        {
            float x = set.Values[i];
            double bound = Math.Max(Math.Abs(x) * Math.Pow(2, -11), Math.Pow(2, -25));
            if (Math.Abs(x - back.Values[i]) > bound)
            {
                return false;
            }
        }

        return bytes.Length == set.Length * 2;
    }

    // Bound: |x - x'| <= scale / 2 + 1e-6 * (|min| + |max|), scale = (max - min) / 255 per tensor.
    [Property(MaxTest = 100)]
    public bool Int8_RoundTrip_WithinHalfScalePerTensor(int seed, PositiveInt length, PositiveInt magnitude)
    {
        ParameterSet set = TestData.RandomSet(seed, (length.Get % 2000) + 1, magnitude.Get % 1000);
        ParameterSet back = ParameterCodecs.Int8.Decode(set.Layout, ParameterCodecs.Int8.Encode(set));
        for (int t = 0; t < set.Layout.Tensors.Count; t++)
        {
            ReadOnlySpan<float> x = set.GetTensor(t);
            ReadOnlySpan<float> y = back.GetTensor(t);
            float min = float.MaxValue;
            float max = float.MinValue;
            foreach (float v in x)
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }

            double bound = ((max - min) / 255.0 / 2) + (1e-6 * (Math.Abs(min) + Math.Abs(max)));
            for (int i = 0; i < x.Length; i++)
            {
                if (Math.Abs(x[i] - y[i]) > bound)
                {
                    return false;
                }
            }
        }

        return true;
    }

    // Top-k keeps exactly the k largest magnitudes and zeroes the rest.
    [Property(MaxTest = 100)]
    public bool TopK_WithoutFeedback_KeepsTheLargestMagnitudes(int seed, PositiveInt length)
    {
        ParameterSet set = TestData.RandomSet(seed, (length.Get % 2000) + 1);
        var codec = ParameterCodecs.TopK(0.1, errorFeedback: false);
        ParameterSet back = codec.Decode(set.Layout, codec.Encode(set));
        int k = (int)Math.Ceiling(set.Length * 0.1);
        float threshold = set.Values.ToArray().Select(Math.Abs).OrderByDescending(v => v).ElementAt(k - 1);
        int kept = 0;
        for (int i = 0; i < set.Length; i++)
        {
            if (back.Values[i] != 0f)
            {
                kept++;
                if (back.Values[i] != set.Values[i] || Math.Abs(set.Values[i]) < threshold)
                {
                    return false;
                }
            }
        }

        return kept <= k;
    }

    // Error feedback: what was sent over several rounds plus the residual equals the sum of the inputs.
    [Property(MaxTest = 50)]
    public bool TopK_ErrorFeedback_SentPlusResidualEqualsInputs(int seed, PositiveInt rounds)
    {
        int n = 300;
        var codec = (TopKCodec)ParameterCodecs.TopK(0.05);
        var inputSum = new double[n];
        var sentSum = new double[n];
        for (int r = 0; r < (rounds.Get % 6) + 1; r++)
        {
            ParameterSet delta = TestData.RandomSet(seed + r, n, 0.5f);
            ParameterSet sent = codec.Decode(delta.Layout, codec.Encode(delta));
            for (int i = 0; i < n; i++)
            {
                inputSum[i] += delta.Values[i];
                sentSum[i] += sent.Values[i];
            }
        }

        float[] residual = codec.Residual!;
        for (int i = 0; i < n; i++)
        {
            if (Math.Abs(sentSum[i] + residual[i] - inputSum[i]) > 1e-4)
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public void TopK_EncodedSize_IsEightBytesPerKeptValue()
    {
        ParameterSet set = TestData.RandomSet(1, 10_000);
        byte[] bytes = ParameterCodecs.TopK(0.01, errorFeedback: false).Encode(set);
        Assert.Equal(4 + (100 * 8), bytes.Length);
    }

    [Fact]
    public void Int8_NonFiniteValue_ThrowsCodecException()
    {
        ParameterSet set = TestData.RandomSet(1, 10);
        set.Values[3] = float.NaN;
        var error = Assert.Throws<ParameterCodecException>(() => ParameterCodecs.Int8.Encode(set));
        Assert.Contains("non-finite", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Float16_ValueBeyondRange_ThrowsCodecException()
    {
        ParameterSet set = TestData.RandomSet(1, 10);
        set.Values[0] = 1e6f;
        Assert.Throws<ParameterCodecException>(() => ParameterCodecs.Float16.Encode(set));
    }

    [Theory]
    [InlineData(ParameterCodecKind.Float32)]
    [InlineData(ParameterCodecKind.Float16)]
    [InlineData(ParameterCodecKind.Int8)]
    [InlineData(ParameterCodecKind.TopK)]
    public void Decode_TruncatedData_ThrowsWireFormatException(ParameterCodecKind kind)
    {
        ParameterSet set = TestData.RandomSet(2, 100);
        byte[] bytes = ParameterCodecs.Create(kind, 0.1, errorFeedback: false).Encode(set);
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(kind, set.Layout, bytes.AsSpan(0, bytes.Length - 1)));
    }

    [Fact]
    public void TopK_DescendingIndices_ThrowsWireFormatException()
    {
        ParameterSet set = TestData.RandomSet(2, 100);
        byte[] bytes = ParameterCodecs.TopK(0.1, errorFeedback: false).Encode(set);
        (bytes[4], bytes[8]) = (bytes[8], bytes[4]);
        (bytes[5], bytes[9]) = (bytes[9], bytes[5]);
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.TopK, set.Layout, bytes));
    }
}
