using FedEdge.Privacy.SecretSharing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Privacy.Tests;

public class ShamirSecretSharingTests
{
    private static ulong[] RandomSecret(Random random, int length)
    {
        ulong[] secret = new ulong[length];
        MersenneField.FillRandom(secret, random);
        return secret;
    }

    [Property(MaxTest = 200)]
    public bool Combine_AnyThresholdSubset_ReconstructsSecret(int seed, byte rawThreshold, byte rawExtra, byte rawLength)
    {
        var random = new Random(seed);
        int threshold = 1 + (rawThreshold % 8);
        int n = threshold + (rawExtra % 6);
        ulong[] secret = RandomSecret(random, 1 + (rawLength % 5));
        ShamirShare[] shares = ShamirSecretSharing.Split(secret, threshold, n, random);

        // A random subset of exactly t shares, in random order.
        ShamirShare[] subset = shares.OrderBy(_ => random.Next()).Take(threshold).ToArray();
        return ShamirSecretSharing.Combine(subset, threshold).SequenceEqual(secret);
    }

    [Property(MaxTest = 100)]
    public bool Combine_AllSharesConsistent_ReconstructsSecret(int seed, byte rawThreshold, byte rawExtra)
    {
        var random = new Random(seed);
        int threshold = 1 + (rawThreshold % 6);
        int n = threshold + (rawExtra % 6);
        ulong[] secret = RandomSecret(random, 3);
        ShamirShare[] shares = ShamirSecretSharing.Split(secret, threshold, n, random);
        return ShamirSecretSharing.Combine(shares, threshold).SequenceEqual(secret);
    }

    [Property(MaxTest = 100)]
    public bool Split_SharesOfSum_AreSumOfShares(int seed, byte rawThreshold)
    {
        var random = new Random(seed);
        int threshold = 1 + (rawThreshold % 6);
        int n = threshold + 2;
        ulong[] a = RandomSecret(random, 4);
        ulong[] b = RandomSecret(random, 4);
        ShamirShare[] sa = ShamirSecretSharing.Split(a, threshold, n, random);
        ShamirShare[] sb = ShamirSecretSharing.Split(b, threshold, n, random);

        // Add share-wise (same x), then reconstruct: the result is a + b.
        ShamirShare[] summed = sa.Zip(sb, (x, y) => new ShamirShare(x.X, x.Values.Zip(y.Values, MersenneField.Add).ToArray())).ToArray();
        ulong[] expected = a.Zip(b, MersenneField.Add).ToArray();
        return ShamirSecretSharing.Combine(summed.Take(threshold).ToArray(), threshold).SequenceEqual(expected);
    }

    [Property(MaxTest = 100)]
    public Property SplitBytes_RoundTrip_ReturnsSameBytes()
    {
        return Prop.ForAll(
            ArbMap.Default.ArbFor<byte[]>(),
            Gen.Choose(1, 5).ToArbitrary(),
            (bytes, threshold) =>
            {
                long[] xs = Enumerable.Range(1, threshold + 2).Select(i => (long)(i * 7919)).ToArray();
                ShamirShare[] shares = ShamirSecretSharing.SplitBytes(bytes, threshold, xs);
                return ShamirSecretSharing.CombineBytes(shares.Skip(2).ToArray(), threshold, bytes.Length).SequenceEqual(bytes);
            });
    }

    [Fact]
    public void Combine_FewerThanThreshold_ThrowsInsufficientShares()
    {
        ShamirShare[] shares = ShamirSecretSharing.Split([42UL], 3, 5);
        var ex = Assert.Throws<SecretSharingException>(() => ShamirSecretSharing.Combine(shares.Take(2).ToArray(), 3));
        Assert.Equal(SecretSharingError.InsufficientShares, ex.Error);
    }

    [Fact]
    public void Combine_CorruptedExtraShare_ThrowsInconsistentShares()
    {
        ShamirShare[] shares = ShamirSecretSharing.Split([42UL, 7UL], 3, 5);
        shares[4] = shares[4] with { Values = [MersenneField.Add(shares[4].Values[0], 1), shares[4].Values[1]] };
        var ex = Assert.Throws<SecretSharingException>(() => ShamirSecretSharing.Combine(shares, 3));
        Assert.Equal(SecretSharingError.InconsistentShares, ex.Error);
    }

    [Fact]
    public void Combine_SharesOfDifferentSecrets_ThrowsInconsistentShares()
    {
        ShamirShare[] a = ShamirSecretSharing.Split([1UL], 2, 4);
        ShamirShare[] b = ShamirSecretSharing.Split([2UL], 2, 4);
        var ex = Assert.Throws<SecretSharingException>(() => ShamirSecretSharing.Combine([a[0], a[1], b[2]], 2));
        Assert.Equal(SecretSharingError.InconsistentShares, ex.Error);
    }

    [Fact]
    public void Combine_DuplicateX_ThrowsDuplicateShare()
    {
        ShamirShare[] shares = ShamirSecretSharing.Split([5UL], 2, 3);
        var ex = Assert.Throws<SecretSharingException>(() => ShamirSecretSharing.Combine([shares[0], shares[0]], 2));
        Assert.Equal(SecretSharingError.DuplicateShare, ex.Error);
    }

    [Fact]
    public void Combine_ValueOutsideField_ThrowsMalformedShare()
    {
        ShamirShare[] shares = ShamirSecretSharing.Split([5UL], 2, 3);
        var ex = Assert.Throws<SecretSharingException>(() => ShamirSecretSharing.Combine([shares[0], new ShamirShare(2, [ulong.MaxValue])], 2));
        Assert.Equal(SecretSharingError.MalformedShare, ex.Error);
    }

    [Fact]
    public void Split_ZeroX_Throws()
    {
        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Split([1UL], 1, new long[] { 0, 1 }));
    }

    [Fact]
    public void Split_ThresholdMinusOneShares_DistributionIndependentOfSecret()
    {
        // With t = 3, any 2 shares are uniform on GF(p)^2 whatever the secret. Bucket the top four
        // bits of both shares (16 x 16 = 256 cells) for two very different secrets and compare each
        // histogram with the uniform one (chi-square, 255 degrees of freedom) and with each other.
        const int samples = 20_000;
        const int cells = 256;
        var random = new Random(1234);
        long[] xs = [3, 11, 20];
        int[] Histogram(ulong secret)
        {
            int[] counts = new int[cells];
            for (int i = 0; i < samples; i++)
            {
                ShamirShare[] shares = ShamirSecretSharing.Split([secret], 3, xs, random);
                int a = (int)(shares[0].Values[0] >> 57);
                int b = (int)(shares[1].Values[0] >> 57);
                counts[(a * 16) + b]++;
            }

            return counts;
        }

        int[] zero = Histogram(0);
        int[] big = Histogram(MersenneField.Modulus - 1);
        double expected = samples / (double)cells;
        double chiZero = zero.Sum(c => (c - expected) * (c - expected) / expected);
        double chiBig = big.Sum(c => (c - expected) * (c - expected) / expected);
        double chiTwoSample = zero.Zip(big, (p, q) => p + q == 0 ? 0 : (p - q) * (double)(p - q) / (p + q)).Sum();

        // 99.9th percentile of chi-square with 255 degrees of freedom is about 330.
        Assert.True(chiZero < 330, $"chi-square vs uniform for secret 0 was {chiZero}");
        Assert.True(chiBig < 330, $"chi-square vs uniform for secret p-1 was {chiBig}");
        Assert.True(chiTwoSample < 330, $"two-sample chi-square was {chiTwoSample}");
    }

    [Fact]
    public void Split_ThresholdMinusOneShares_ShareBitsUnbiased()
    {
        // A single share of a 2-of-n sharing: the low bit must not track the secret's low bit.
        var random = new Random(99);
        int agree = 0;
        const int samples = 20_000;
        for (int i = 0; i < samples; i++)
        {
            ulong secret = (ulong)(i % 2);
            ShamirShare share = ShamirSecretSharing.Split([secret], 2, 3, random)[0];
            if ((share.Values[0] & 1) == secret)
            {
                agree++;
            }
        }

        // Binomial(20000, 0.5): 5 standard deviations is about 354.
        Assert.InRange(agree, (samples / 2) - 354, (samples / 2) + 354);
    }

    [Property(MaxTest = 100)]
    public bool AdditiveCombine_AllShares_ReconstructsSecret(int seed, byte rawParties)
    {
        var random = new Random(seed);
        ulong[] secret = RandomSecret(random, 3);
        ulong[][] shares = AdditiveSecretSharing.Split(secret, 1 + (rawParties % 10), random);
        return AdditiveSecretSharing.Combine(shares).SequenceEqual(secret);
    }

    [Property(MaxTest = 100)]
    public bool AdditiveSplit_SharesOfSum_AreSumOfShares(int seed)
    {
        var random = new Random(seed);
        ulong[] a = RandomSecret(random, 2);
        ulong[] b = RandomSecret(random, 2);
        ulong[][] sa = AdditiveSecretSharing.Split(a, 4, random);
        ulong[][] sb = AdditiveSecretSharing.Split(b, 4, random);
        ulong[][] summed = sa.Zip(sb, (x, y) => x.Zip(y, MersenneField.Add).ToArray()).ToArray();
        return AdditiveSecretSharing.Combine(summed).SequenceEqual(a.Zip(b, MersenneField.Add));
    }

    [Fact]
    public void AdditiveCombine_Empty_ThrowsInsufficientShares()
    {
        var ex = Assert.Throws<SecretSharingException>(() => AdditiveSecretSharing.Combine([]));
        Assert.Equal(SecretSharingError.InsufficientShares, ex.Error);
    }

    [Property(MaxTest = 300)]
    public bool Multiply_MatchesUInt128Reference(ulong a, ulong b)
    {
        ulong x = MersenneField.Reduce(a);
        ulong y = MersenneField.Reduce(b);
        ulong expected = (ulong)(((UInt128)x * y) % MersenneField.Modulus);
        return MersenneField.Multiply(x, y) == expected && (x == 0 || MersenneField.Multiply(x, MersenneField.Inverse(x)) == 1);
    }
}
