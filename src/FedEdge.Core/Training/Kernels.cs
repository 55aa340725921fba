using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FedEdge.Training;

/// <summary>Four-row SIMD kernels: one load of a weight row (or gradient row) serves four data rows.</summary>
internal static class Kernels
{
    /// <summary>Returns the dot products of <paramref name="w"/> with four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(ReadOnlySpan<float> w, ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> x2, ReadOnlySpan<float> x3, out float s0, out float s1, out float s2, out float s3)
    {
        int n = w.Length;
        int i = 0;
        var a0 = Vector<float>.Zero;
        var a1 = Vector<float>.Zero;
        var a2 = Vector<float>.Zero;
        var a3 = Vector<float>.Zero;
        ref float rw = ref MemoryMarshal.GetReference(w);
        ref float r0 = ref MemoryMarshal.GetReference(x0);
        ref float r1 = ref MemoryMarshal.GetReference(x1);
        ref float r2 = ref MemoryMarshal.GetReference(x2);
        ref float r3 = ref MemoryMarshal.GetReference(x3);
        int width = Vector<float>.Count;
        for (; i <= n - width; i += width)
        {
            Vector<float> vw = Vector.LoadUnsafe(ref rw, (nuint)i);
            a0 += vw * Vector.LoadUnsafe(ref r0, (nuint)i);
            a1 += vw * Vector.LoadUnsafe(ref r1, (nuint)i);
            a2 += vw * Vector.LoadUnsafe(ref r2, (nuint)i);
            a3 += vw * Vector.LoadUnsafe(ref r3, (nuint)i);
        }

        s0 = Vector.Sum(a0);
        s1 = Vector.Sum(a1);
        s2 = Vector.Sum(a2);
        s3 = Vector.Sum(a3);
        for (; i < n; i++)
        {
            float wi = Unsafe.Add(ref rw, i);
            s0 += wi * Unsafe.Add(ref r0, i);
            s1 += wi * Unsafe.Add(ref r1, i);
            s2 += wi * Unsafe.Add(ref r2, i);
            s3 += wi * Unsafe.Add(ref r3, i);
        }
    }

    /// <summary><c>dst += c0·x0 + c1·x1 + c2·x2 + c3·x3</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy4(Span<float> dst, float c0, ReadOnlySpan<float> x0, float c1, ReadOnlySpan<float> x1, float c2, ReadOnlySpan<float> x2, float c3, ReadOnlySpan<float> x3)
    {
        int n = dst.Length;
        int i = 0;
        ref float rd = ref MemoryMarshal.GetReference(dst);
        ref float r0 = ref MemoryMarshal.GetReference(x0);
        ref float r1 = ref MemoryMarshal.GetReference(x1);
        ref float r2 = ref MemoryMarshal.GetReference(x2);
        ref float r3 = ref MemoryMarshal.GetReference(x3);
        var v0 = new Vector<float>(c0);
        var v1 = new Vector<float>(c1);
        var v2 = new Vector<float>(c2);
        var v3 = new Vector<float>(c3);
        int width = Vector<float>.Count;
        for (; i <= n - width; i += width)
        {
            Vector<float> acc = Vector.LoadUnsafe(ref rd, (nuint)i)
                + (v0 * Vector.LoadUnsafe(ref r0, (nuint)i))
                + (v1 * Vector.LoadUnsafe(ref r1, (nuint)i))
                + (v2 * Vector.LoadUnsafe(ref r2, (nuint)i))
                + (v3 * Vector.LoadUnsafe(ref r3, (nuint)i));
            acc.StoreUnsafe(ref rd, (nuint)i);
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rd, i) += (c0 * Unsafe.Add(ref r0, i)) + (c1 * Unsafe.Add(ref r1, i)) + (c2 * Unsafe.Add(ref r2, i)) + (c3 * Unsafe.Add(ref r3, i));
        }
    }
}
