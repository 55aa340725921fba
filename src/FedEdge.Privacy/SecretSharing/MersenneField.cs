using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace FedEdge.Privacy.SecretSharing;

/// <summary>
/// Arithmetic in the prime field GF(p) with the Mersenne prime p = 2^61 − 1. Products use one
/// <see cref="UInt128"/> multiply and a shift-and-add reduction; no <c>BigInteger</c> anywhere.
/// </summary>
public static class MersenneField
{
    /// <summary>The field's modulus, 2^61 − 1.</summary>
    public const ulong Modulus = (1UL << 61) - 1;

    /// <summary>Returns true when <paramref name="value"/> is a canonical field element (less than <see cref="Modulus"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsCanonical(ulong value) => value < Modulus;

    /// <summary>Reduces any 64-bit value into the field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Reduce(ulong value)
    {
        ulong r = (value & Modulus) + (value >> 61);
        return r >= Modulus ? r - Modulus : r;
    }

    /// <summary>(a + b) mod p for canonical a and b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong a, ulong b)
    {
        ulong r = a + b;
        return r >= Modulus ? r - Modulus : r;
    }

    /// <summary>(a − b) mod p for canonical a and b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Subtract(ulong a, ulong b) => a >= b ? a - b : a + Modulus - b;

    /// <summary>(−a) mod p for canonical a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Negate(ulong a) => a == 0 ? 0 : Modulus - a;

    /// <summary>(a · b) mod p for canonical a and b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Multiply(ulong a, ulong b)
    {
        UInt128 product = (UInt128)a * b;
        ulong low = (ulong)product & Modulus;
        ulong high = (ulong)(product >> 61);
        ulong r = low + high;
        return r >= Modulus ? r - Modulus : r;
    }

    /// <summary>a^e mod p.</summary>
    public static ulong Power(ulong a, ulong exponent)
    {
        ulong result = 1;
        ulong b = a;
        while (exponent != 0)
        {
            if ((exponent & 1) != 0)
            {
                result = Multiply(result, b);
            }

            b = Multiply(b, b);
            exponent >>= 1;
        }

        return result;
    }

    /// <summary>The multiplicative inverse of a non-zero canonical element (Fermat: a^(p−2)).</summary>
    /// <exception cref="DivideByZeroException"><paramref name="a"/> is zero.</exception>
    public static ulong Inverse(ulong a)
    {
        if (a == 0)
        {
            throw new DivideByZeroException("Zero has no inverse in GF(2^61 − 1).");
        }

        return Power(a, Modulus - 2);
    }

    /// <summary>A uniformly random field element drawn from <paramref name="random"/>, or from the OS CSPRNG when it is null.</summary>
    public static ulong Random(Random? random = null)
    {
        if (random is not null)
        {
            return (ulong)random.NextInt64(0, (long)Modulus);
        }

        Span<byte> bytes = stackalloc byte[8];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            ulong candidate = BitConverter.ToUInt64(bytes) & Modulus;
            if (candidate < Modulus)
            {
                return candidate;
            }
        }
    }

    /// <summary>Fills <paramref name="destination"/> with uniformly random field elements.</summary>
    public static void FillRandom(Span<ulong> destination, Random? random = null)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = Random(random);
        }
    }
}
