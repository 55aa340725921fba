using System.Numerics;
using System.Security.Cryptography;

namespace FedEdge.Transparency;

/// <summary>
/// The Merkle tree of RFC 9162 §2.1 over SHA-256: a leaf hashes as SHA-256(0x00 ‖ entry), an inner node as
/// SHA-256(0x01 ‖ left ‖ right), and a tree of n leaves splits at the largest power of two below n. Builds roots,
/// inclusion proofs (§2.1.3) and consistency proofs (§2.1.4), and verifies both with the RFC's algorithms, so a
/// third party can check a FedEdge log with this class alone.
/// </summary>
public sealed class MerkleTree
{
    /// <summary>The size of every hash in bytes (SHA-256).</summary>
    public const int HashSize = 32;

    private readonly List<byte[]> _leaves = [];
    private readonly Dictionary<(int Start, int Count), byte[]> _complete = [];

    /// <summary>The number of leaves.</summary>
    public int Size => _leaves.Count;

    /// <summary>The hash of leaf <paramref name="index"/>.</summary>
    public ReadOnlyMemory<byte> LeafHashAt(int index) => _leaves[index];

    /// <summary>SHA-256(0x00 ‖ <paramref name="entry"/>).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([0x00]);
        hash.AppendData(entry);
        return hash.GetHashAndReset();
    }

    /// <summary>SHA-256(0x01 ‖ <paramref name="left"/> ‖ <paramref name="right"/>).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>Appends an entry (hashed as a leaf) and returns its index.</summary>
    public int Append(ReadOnlySpan<byte> entry) => AppendLeafHash(LeafHash(entry));

    /// <summary>Appends a leaf hash computed elsewhere and returns its index.</summary>
    public int AppendLeafHash(byte[] leafHash)
    {
        ArgumentNullException.ThrowIfNull(leafHash);
        if (leafHash.Length != HashSize)
        {
            throw new ArgumentException($"A leaf hash has {HashSize} bytes, not {leafHash.Length}.", nameof(leafHash));
        }

        _leaves.Add(leafHash);
        return _leaves.Count - 1;
    }

    /// <summary>The Merkle tree hash of the first <paramref name="size"/> leaves (MTH(D[0:size]); SHA-256 of nothing for 0).</summary>
    public byte[] RootHash(int size)
    {
        CheckSize(size);
        return size == 0 ? SHA256.HashData(ReadOnlySpan<byte>.Empty) : Subtree(0, size);
    }

    /// <summary>The audit path PATH(index, D[0:size]) of RFC 9162 §2.1.3.1.</summary>
    public IReadOnlyList<byte[]> InclusionProof(int index, int size)
    {
        CheckSize(size);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, size);
        var path = new List<byte[]>();
        Path(index, 0, size, path);
        return path;
    }

    /// <summary>The consistency proof PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1.</summary>
    public IReadOnlyList<byte[]> ConsistencyProof(int first, int second)
    {
        CheckSize(second);
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, second);
        var proof = new List<byte[]>();
        if (first > 0 && first < second)
        {
            SubProof(first, 0, second, complete: true, proof);
        }

        return proof;
    }

    /// <summary>RFC 9162 §2.1.3.2: does <paramref name="path"/> prove that <paramref name="leafHash"/> is leaf <paramref name="index"/> of the tree of <paramref name="size"/> leaves with <paramref name="root"/>?</summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> path, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (index < 0 || index >= size)
        {
            return false;
        }

        long fn = index;
        long sn = size - 1;
        byte[] r = leafHash.ToArray();
        foreach (byte[] p in path)
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, root);
    }

    /// <summary>RFC 9162 §2.1.4.2: does <paramref name="proof"/> show the tree of <paramref name="first"/> leaves (<paramref name="firstRoot"/>) is a prefix of the tree of <paramref name="second"/> leaves (<paramref name="secondRoot"/>)?</summary>
    public static bool VerifyConsistency(long first, long second, ReadOnlySpan<byte> firstRoot, ReadOnlySpan<byte> secondRoot, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (first < 0 || first > second)
        {
            return false;
        }

        if (first == second)
        {
            return proof.Count == 0 && firstRoot.SequenceEqual(secondRoot);
        }

        if (first == 0)
        {
            // Every tree extends the empty one.
            return proof.Count == 0;
        }

        if (proof.Count == 0)
        {
            return false;
        }

        var path = new List<byte[]>(proof.Count + 1);
        if (BitOperations.IsPow2(first))
        {
            path.Add(firstRoot.ToArray());
        }

        path.AddRange(proof);
        long fn = first - 1;
        long sn = second - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        byte[] fr = path[0];
        byte[] sr = path[0];
        for (int i = 1; i < path.Count; i++)
        {
            byte[] c = path[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = NodeHash(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(fr, firstRoot) && CryptographicOperations.FixedTimeEquals(sr, secondRoot);
    }

    private static int Split(int n) => 1 << (BitOperations.Log2((uint)(n - 1)));

    private void CheckSize(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, _leaves.Count);
    }

    /// <summary>MTH(D[start:start+count]); complete (power-of-two) subtrees are cached, since they never change as the log grows.</summary>
    private byte[] Subtree(int start, int count)
    {
        if (count == 1)
        {
            return _leaves[start];
        }

        bool complete = BitOperations.IsPow2(count);
        if (complete && _complete.TryGetValue((start, count), out byte[]? cached))
        {
            return cached;
        }

        int k = Split(count);
        byte[] hash = NodeHash(Subtree(start, k), Subtree(start + k, count - k));
        if (complete)
        {
            _complete[(start, count)] = hash;
        }

        return hash;
    }

    private void Path(int index, int start, int count, List<byte[]> path)
    {
        if (count <= 1)
        {
            return;
        }

        int k = Split(count);
        if (index < k)
        {
            Path(index, start, k, path);
            path.Add(Subtree(start + k, count - k));
        }
        else
        {
            Path(index - k, start + k, count - k, path);
            path.Add(Subtree(start, k));
        }
    }

    private void SubProof(int m, int start, int count, bool complete, List<byte[]> proof)
    {
        if (m == count)
        {
            if (!complete)
            {
                proof.Add(Subtree(start, count));
            }

            return;
        }

        int k = Split(count);
        if (m <= k)
        {
            SubProof(m, start, k, complete, proof);
            proof.Add(Subtree(start + k, count - k));
        }
        else
        {
            SubProof(m - k, start + k, count - k, complete: false, proof);
            proof.Add(Subtree(start, k));
        }
    }
}
