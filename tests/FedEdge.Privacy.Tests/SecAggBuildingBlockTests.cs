using System.Security.Cryptography;
using FedEdge.Privacy.SecureAggregation;
using FsCheck.Xunit;

namespace FedEdge.Privacy.Tests;

public class SecAggBuildingBlockTests
{
    [Property(MaxTest = 50)]
    public bool AesCtrPrg_RangesExpandedSeparately_EqualWholeStream(int seed, ushort rawLength, ushort rawSplit)
    {
        byte[] key = SHA256.HashData(BitConverter.GetBytes(seed));
        int length = 4 + (rawLength % 70_000);
        int split = (rawSplit % length) & ~3;
        uint[] whole = new uint[length];
        uint[] parts = new uint[length];
        using var prg = new AesCtrPrg(key);
        prg.Apply(whole, 0, subtract: false);
        prg.Apply(parts.AsSpan(0, split), 0, subtract: false);
        prg.Apply(parts.AsSpan(split), split, subtract: false);

        // Adding then subtracting the same stream restores the vector.
        uint[] roundTrip = (uint[])whole.Clone();
        prg.Apply(roundTrip, 0, subtract: true);
        return whole.AsSpan().SequenceEqual(parts) && roundTrip.All(v => v == 0);
    }

    [Fact]
    public void AesCtrPrg_DifferentSeeds_GiveUnrelatedStreams()
    {
        uint[] a = new uint[4096];
        uint[] b = new uint[4096];
        using (var p = new AesCtrPrg(new byte[32]))
        {
            p.Fill(a);
        }

        byte[] other = new byte[32];
        other[31] = 1;
        using (var p = new AesCtrPrg(other))
        {
            p.Fill(b);
        }

        Assert.True(a.Zip(b).Count(x => x.First == x.Second) < 3);
        Assert.InRange(a.Sum(v => (long)System.Numerics.BitOperations.PopCount(v)), (4096 * 16) - 1000, (4096 * 16) + 1000);
    }

    [Property(MaxTest = 100)]
    public bool SecAggGraph_Sparse_IsSymmetricAndKRegular(int seed, byte rawCount, byte rawK)
    {
        int n = 4 + (rawCount % 120);
        int k = 2 * (1 + (rawK % 10));
        SecAggGraph graph = SecAggGraph.Create(n, k, SHA256.HashData(BitConverter.GetBytes(seed)));
        int expected = k >= n - 1 ? n - 1 : k;
        for (int i = 1; i <= n; i++)
        {
            ReadOnlySpan<int> neighbours = graph.NeighboursOf(i);
            if (neighbours.Length != expected || neighbours.Contains(i))
            {
                return false;
            }

            foreach (int j in neighbours)
            {
                if (!graph.AreNeighbours(j, i))
                {
                    return false;
                }
            }
        }

        return true;
    }

    [Property(MaxTest = 200)]
    public bool FixedPointQuantizer_SumOfClients_WithinStatedBound(int seed, byte rawClients, float rawClip)
    {
        var random = new Random(seed);
        int n = 1 + (rawClients % 200);
        float clip = float.IsFinite(rawClip) && Math.Abs(rawClip) > 1e-3f && Math.Abs(rawClip) < 1e6f ? Math.Abs(rawClip) : 1f;
        double scale = FixedPointQuantizer.ComputeScale(n, clip);
        const int length = 16;
        uint[] ring = new uint[length];
        double[] plain = new double[length];
        uint[] q = new uint[length];
        for (int c = 0; c < n; c++)
        {
            float[] x = Enumerable.Range(0, length).Select(_ => (float)(((random.NextDouble() * 3) - 1.5) * clip)).ToArray();
            FixedPointQuantizer.Quantize(x, clip, scale, q);
            for (int i = 0; i < length; i++)
            {
                ring[i] += q[i];
                plain[i] += Math.Clamp(x[i], -clip, clip);
            }
        }

        float[] decoded = new float[length];
        FixedPointQuantizer.Dequantize(ring, scale, decoded);
        double bound = FixedPointQuantizer.ErrorBound(n, scale);
        return Enumerable.Range(0, length).All(i => Math.Abs(decoded[i] - plain[i]) <= bound + (Math.Abs(plain[i]) * 6e-8) + 1e-30);
    }

    [Fact]
    public void Quantize_NaN_Throws()
    {
        Assert.Throws<ArgumentException>(() => FixedPointQuantizer.Quantize([float.NaN], 1, 10, new uint[1]));
    }
}
