namespace FedEdge.Privacy.SecretSharing;

/// <summary>
/// n-of-n additive secret sharing over GF(2^61 − 1): the shares are uniformly random subject to
/// summing to the secret, so any n − 1 of them reveal nothing and all n reconstruct it.
/// </summary>
public static class AdditiveSecretSharing
{
    /// <summary>Splits <paramref name="secret"/> into <paramref name="parties"/> shares that sum to it.</summary>
    /// <param name="secret">Canonical field elements.</param>
    /// <param name="parties">The number of shares (≥ 1).</param>
    /// <param name="random">A seeded source for tests; null uses the OS CSPRNG.</param>
    public static ulong[][] Split(ReadOnlySpan<ulong> secret, int parties, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parties, 1);
        for (int i = 0; i < secret.Length; i++)
        {
            if (!MersenneField.IsCanonical(secret[i]))
            {
                throw new ArgumentException($"Secret element {i} is not below 2^61 − 1.", nameof(secret));
            }
        }

        var shares = new ulong[parties][];
        ulong[] last = secret.ToArray();
        for (int p = 0; p < parties - 1; p++)
        {
            ulong[] share = new ulong[secret.Length];
            MersenneField.FillRandom(share, random);
            for (int e = 0; e < share.Length; e++)
            {
                last[e] = MersenneField.Subtract(last[e], share[e]);
            }

            shares[p] = share;
        }

        shares[parties - 1] = last;
        return shares;
    }

    /// <summary>Adds all shares back into the secret.</summary>
    /// <exception cref="SecretSharingException">No shares, lengths differ, or a value is outside the field.</exception>
    public static ulong[] Combine(IReadOnlyList<ulong[]> shares)
    {
        ArgumentNullException.ThrowIfNull(shares);
        if (shares.Count == 0)
        {
            throw new SecretSharingException(SecretSharingError.InsufficientShares, "Additive sharing needs every share; none were given.");
        }

        int m = shares[0]?.Length ?? throw new SecretSharingException(SecretSharingError.MalformedShare, "A share is null.");
        ulong[] sum = new ulong[m];
        foreach (ulong[] share in shares)
        {
            if (share is null || share.Length != m)
            {
                throw new SecretSharingException(SecretSharingError.MalformedShare, $"A share is null or its length differs from {m}.");
            }

            for (int e = 0; e < m; e++)
            {
                if (!MersenneField.IsCanonical(share[e]))
                {
                    throw new SecretSharingException(SecretSharingError.MalformedShare, "A share holds a value outside the field.");
                }

                sum[e] = MersenneField.Add(sum[e], share[e]);
            }
        }

        return sum;
    }
}
