namespace FedEdge.Privacy.SecretSharing;

/// <summary>
/// Shamir's t-of-n secret sharing over GF(2^61 − 1). Any <c>threshold</c> shares reconstruct the
/// secret; fewer reveal nothing about it (every value of the secret is equally likely).
/// </summary>
/// <remarks>
/// Secrets are vectors of field elements (each &lt; 2^61 − 1); byte strings are packed seven bytes
/// to an element by <see cref="SplitBytes"/> and <see cref="CombineBytes"/>. Reconstruction checks
/// shares beyond the threshold against the interpolated polynomial and refuses inconsistent sets.
/// </remarks>
public static class ShamirSecretSharing
{
    private const int BytesPerElement = 7;

    /// <summary>Splits <paramref name="secret"/> into shares at x = 1..<paramref name="shareCount"/>.</summary>
    /// <param name="secret">The secret elements, each a canonical field element.</param>
    /// <param name="threshold">How many shares reconstruct (t ≥ 1).</param>
    /// <param name="shareCount">How many shares to make (n ≥ t).</param>
    /// <param name="random">A seeded source for tests; null uses the OS CSPRNG (always use null for real secrets).</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Overloads differ in a required parameter (share count or x-coordinates), so no call is ambiguous.")]
    public static ShamirShare[] Split(ReadOnlySpan<ulong> secret, int threshold, int shareCount, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shareCount, 1);
        long[] xs = new long[shareCount];
        for (int i = 0; i < shareCount; i++)
        {
            xs[i] = i + 1;
        }

        return Split(secret, threshold, xs, random);
    }

    /// <summary>Splits <paramref name="secret"/> into one share per x-coordinate in <paramref name="xs"/>.</summary>
    /// <exception cref="ArgumentException">An x is not in [1, p), x values repeat, the threshold exceeds the share count, or a secret element is not canonical.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Overloads differ in a required parameter (share count or x-coordinates), so no call is ambiguous.")]
    public static ShamirShare[] Split(ReadOnlySpan<ulong> secret, int threshold, ReadOnlySpan<long> xs, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        if (threshold > xs.Length)
        {
            throw new ArgumentException($"The threshold {threshold} exceeds the number of shares {xs.Length}.", nameof(threshold));
        }

        var seen = new HashSet<long>();
        foreach (long x in xs)
        {
            if (x <= 0 || (ulong)x >= MersenneField.Modulus)
            {
                throw new ArgumentException($"x = {x} is not in [1, 2^61 − 1); x = 0 would reveal the secret.", nameof(xs));
            }

            if (!seen.Add(x))
            {
                throw new ArgumentException($"x = {x} appears twice; every share needs its own x.", nameof(xs));
            }
        }

        for (int i = 0; i < secret.Length; i++)
        {
            if (!MersenneField.IsCanonical(secret[i]))
            {
                throw new ArgumentException($"Secret element {i} is not below 2^61 − 1.", nameof(secret));
            }
        }

        // coefficients[e * threshold + k] is coefficient k of element e's polynomial; k = 0 is the secret.
        int m = secret.Length;
        ulong[] coefficients = new ulong[m * threshold];
        for (int e = 0; e < m; e++)
        {
            coefficients[e * threshold] = secret[e];
            MersenneField.FillRandom(coefficients.AsSpan((e * threshold) + 1, threshold - 1), random);
        }

        var shares = new ShamirShare[xs.Length];
        for (int s = 0; s < xs.Length; s++)
        {
            ulong x = (ulong)xs[s];
            ulong[] values = new ulong[m];
            for (int e = 0; e < m; e++)
            {
                ReadOnlySpan<ulong> c = coefficients.AsSpan(e * threshold, threshold);
                ulong acc = c[threshold - 1];
                for (int k = threshold - 2; k >= 0; k--)
                {
                    acc = MersenneField.Add(MersenneField.Multiply(acc, x), c[k]);
                }

                values[e] = acc;
            }

            shares[s] = new ShamirShare(xs[s], values);
        }

        Array.Clear(coefficients);
        return shares;
    }

    /// <summary>Reconstructs the secret from at least <paramref name="threshold"/> shares.</summary>
    /// <exception cref="SecretSharingException">Too few shares, duplicate or malformed shares, or shares that do not lie on one polynomial of degree t − 1.</exception>
    public static ulong[] Combine(IReadOnlyList<ShamirShare> shares, int threshold)
    {
        ArgumentNullException.ThrowIfNull(shares);
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        if (shares.Count < threshold)
        {
            throw new SecretSharingException(SecretSharingError.InsufficientShares, $"{shares.Count} shares were given but {threshold} are needed to reconstruct the secret.");
        }

        int m = Validate(shares);
        ulong[] basisAtZero = LagrangeBasis(shares, threshold, 0);
        ulong[] secret = new ulong[m];
        for (int e = 0; e < m; e++)
        {
            ulong acc = 0;
            for (int j = 0; j < threshold; j++)
            {
                acc = MersenneField.Add(acc, MersenneField.Multiply(basisAtZero[j], shares[j].Values[e]));
            }

            secret[e] = acc;
        }

        for (int extra = threshold; extra < shares.Count; extra++)
        {
            ulong[] basis = LagrangeBasis(shares, threshold, (ulong)shares[extra].X);
            for (int e = 0; e < m; e++)
            {
                ulong acc = 0;
                for (int j = 0; j < threshold; j++)
                {
                    acc = MersenneField.Add(acc, MersenneField.Multiply(basis[j], shares[j].Values[e]));
                }

                if (acc != shares[extra].Values[e])
                {
                    throw new SecretSharingException(SecretSharingError.InconsistentShares, $"The share at x = {shares[extra].X} does not lie on the polynomial through the first {threshold} shares (element {e}); a share is corrupted or belongs to another secret.");
                }
            }
        }

        return secret;
    }

    /// <summary>Splits a byte string (packed seven bytes per field element) into shares at the given x-coordinates.</summary>
    public static ShamirShare[] SplitBytes(ReadOnlySpan<byte> secret, int threshold, ReadOnlySpan<long> xs, Random? random = null)
    {
        ulong[] elements = PackBytes(secret);
        try
        {
            return Split(elements, threshold, xs, random);
        }
        finally
        {
            Array.Clear(elements);
        }
    }

    /// <summary>Reconstructs a byte string of <paramref name="length"/> bytes split by <see cref="SplitBytes"/>.</summary>
    /// <exception cref="SecretSharingException">As <see cref="Combine"/>, or the shares do not encode a byte string of that length.</exception>
    public static byte[] CombineBytes(IReadOnlyList<ShamirShare> shares, int threshold, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ulong[] elements = Combine(shares, threshold);
        int expected = ElementCount(length);
        if (elements.Length != expected)
        {
            throw new SecretSharingException(SecretSharingError.MalformedShare, $"The shares hold {elements.Length} elements but a {length}-byte secret needs {expected}.");
        }

        byte[] result = new byte[length];
        for (int e = 0; e < elements.Length; e++)
        {
            ulong value = elements[e];
            int count = Math.Min(BytesPerElement, length - (e * BytesPerElement));
            if ((value >> (8 * count)) != 0)
            {
                throw new SecretSharingException(SecretSharingError.InconsistentShares, $"Reconstructed element {e} does not encode {count} bytes; the shares are corrupted.");
            }

            for (int b = 0; b < count; b++)
            {
                result[(e * BytesPerElement) + b] = (byte)(value >> (8 * b));
            }
        }

        Array.Clear(elements);
        return result;
    }

    /// <summary>The number of field elements a byte string of <paramref name="length"/> bytes packs into.</summary>
    public static int ElementCount(int length) => (length + BytesPerElement - 1) / BytesPerElement;

    private static ulong[] PackBytes(ReadOnlySpan<byte> secret)
    {
        ulong[] elements = new ulong[ElementCount(secret.Length)];
        for (int i = 0; i < secret.Length; i++)
        {
            elements[i / BytesPerElement] |= (ulong)secret[i] << (8 * (i % BytesPerElement));
        }

        return elements;
    }

    private static int Validate(IReadOnlyList<ShamirShare> shares)
    {
        int m = -1;
        var seen = new HashSet<long>();
        foreach (ShamirShare share in shares)
        {
            if (share is null || share.Values is null)
            {
                throw new SecretSharingException(SecretSharingError.MalformedShare, "A share is null.");
            }

            if (share.X <= 0 || (ulong)share.X >= MersenneField.Modulus)
            {
                throw new SecretSharingException(SecretSharingError.MalformedShare, $"A share has x = {share.X}, outside [1, 2^61 − 1).");
            }

            if (!seen.Add(share.X))
            {
                throw new SecretSharingException(SecretSharingError.DuplicateShare, $"Two shares have x = {share.X}.");
            }

            if (m < 0)
            {
                m = share.Values.Length;
            }
            else if (share.Values.Length != m)
            {
                throw new SecretSharingException(SecretSharingError.MalformedShare, $"The share at x = {share.X} has {share.Values.Length} values but the others have {m}.");
            }

            foreach (ulong v in share.Values)
            {
                if (!MersenneField.IsCanonical(v))
                {
                    throw new SecretSharingException(SecretSharingError.MalformedShare, $"The share at x = {share.X} holds a value outside the field.");
                }
            }
        }

        return m;
    }

    /// <summary>The Lagrange basis polynomials of the first <paramref name="count"/> shares, evaluated at <paramref name="at"/>.</summary>
    private static ulong[] LagrangeBasis(IReadOnlyList<ShamirShare> shares, int count, ulong at)
    {
        ulong[] basis = new ulong[count];
        for (int j = 0; j < count; j++)
        {
            ulong xj = (ulong)shares[j].X;
            ulong numerator = 1;
            ulong denominator = 1;
            for (int k = 0; k < count; k++)
            {
                if (k == j)
                {
                    continue;
                }

                ulong xk = (ulong)shares[k].X;
                numerator = MersenneField.Multiply(numerator, MersenneField.Subtract(at, xk));
                denominator = MersenneField.Multiply(denominator, MersenneField.Subtract(xj, xk));
            }

            basis[j] = MersenneField.Multiply(numerator, MersenneField.Inverse(denominator));
        }

        return basis;
    }
}
