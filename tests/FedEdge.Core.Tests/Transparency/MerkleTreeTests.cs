using System.Security.Cryptography;
using FedEdge.Transparency;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Core.Tests.Transparency;

public sealed class MerkleTreeTests
{
    // The eight leaves of Certificate Transparency's reference test tree and the roots of its prefixes.
    private static readonly string[] ReferenceLeaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    private static readonly string[] ReferenceRoots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void RootHash_ReferenceTree_MatchesKnownRoots()
    {
        var tree = new MerkleTree();
        foreach (string leaf in ReferenceLeaves)
        {
            tree.Append(Convert.FromHexString(leaf));
        }

        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(tree.RootHash(0)));
        for (int size = 1; size <= ReferenceLeaves.Length; size++)
        {
            Assert.Equal(ReferenceRoots[size - 1], Convert.ToHexStringLower(tree.RootHash(size)));
        }
    }

    [Property(MaxTest = 200)]
    public Property RootHash_AnySize_EqualsTheRecursiveDefinition() =>
        Prop.ForAll(Gen.Choose(1, 300).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (n, seed) =>
        {
            List<byte[]> entries = Entries(n, seed);
            MerkleTree tree = Build(entries);
            int size = 1 + (seed % n);
            return tree.RootHash(size).AsSpan().SequenceEqual(Reference(entries.GetRange(0, size)));
        });

    [Property(MaxTest = 300)]
    public Property InclusionProof_AnyLeafOfAnySize_Verifies_AndFailsForAnotherLeafOrIndex() =>
        Prop.ForAll(Gen.Choose(1, 300).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (n, seed) =>
        {
            MerkleTree tree = Build(Entries(n, seed));
            int size = 1 + (seed % n);
            int index = (seed / 7) % size;
            byte[] root = tree.RootHash(size);
            IReadOnlyList<byte[]> proof = tree.InclusionProof(index, size);
            bool valid = MerkleTree.VerifyInclusion(index, size, tree.LeafHashAt(index).Span, proof, root);
            bool otherLeaf = MerkleTree.VerifyInclusion(index, size, MerkleTree.LeafHash([1, 2, 3, 4, 5]), proof, root);
            // Another index must fail where the index alone fixes every left/right turn: in a perfect tree. In other
            // trees two indices near the right edge can take the same turns (RFC 9162's verification skips levels where
            // the node has no sibling), so the same proof legitimately verifies for both.
            bool otherIndex = size > 1 && (size & (size - 1)) == 0 && MerkleTree.VerifyInclusion((index + 1) % size, size, tree.LeafHashAt(index).Span, proof, root);
            return valid && !otherLeaf && !otherIndex;
        });

    [Property(MaxTest = 300)]
    public Property ConsistencyProof_AnyPrefix_Verifies_AndFailsForAnotherFirstRoot() =>
        Prop.ForAll(Gen.Choose(1, 300).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (n, seed) =>
        {
            MerkleTree tree = Build(Entries(n, seed));
            int second = 1 + (seed % n);
            int first = 1 + ((seed / 13) % second);
            byte[] firstRoot = tree.RootHash(first);
            byte[] secondRoot = tree.RootHash(second);
            IReadOnlyList<byte[]> proof = tree.ConsistencyProof(first, second);
            bool valid = MerkleTree.VerifyConsistency(first, second, firstRoot, secondRoot, proof);
            byte[] forkedRoot = (byte[])firstRoot.Clone();
            forkedRoot[seed % forkedRoot.Length] ^= 0x40;
            bool forked = MerkleTree.VerifyConsistency(first, second, forkedRoot, secondRoot, proof);
            bool forkedSecond = first < second && MerkleTree.VerifyConsistency(first, second, firstRoot, forkedRoot, proof);
            return valid && !forked && !forkedSecond;
        });

    [Property(MaxTest = 100)]
    public Property ConsistencyProof_AgainstADifferentLog_Fails() =>
        Prop.ForAll(Gen.Choose(2, 200).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (n, seed) =>
        {
            List<byte[]> entries = Entries(n, seed);
            MerkleTree tree = Build(entries);
            int first = 1 + (seed % (n - 1));

            // A log that rewrote one of the first entries, then grew the same way.
            List<byte[]> forkEntries = [.. entries];
            forkEntries[(seed / 3) % first] = [9, 9, 9];
            MerkleTree fork = Build(forkEntries);
            return !MerkleTree.VerifyConsistency(first, n, tree.RootHash(first), fork.RootHash(n), fork.ConsistencyProof(first, n));
        });

    [Fact]
    public void VerifyInclusion_IndexBeyondSize_False()
    {
        MerkleTree tree = Build(Entries(4, 1));
        Assert.False(MerkleTree.VerifyInclusion(4, 4, tree.LeafHashAt(3).Span, tree.InclusionProof(3, 4), tree.RootHash(4)));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.InclusionProof(4, 4));
    }

    private static List<byte[]> Entries(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            byte[] b = new byte[random.Next(0, 40)];
            random.NextBytes(b);
            return b;
        }).ToList();
    }

    private static MerkleTree Build(List<byte[]> entries)
    {
        var tree = new MerkleTree();
        foreach (byte[] e in entries)
        {
            tree.Append(e);
        }

        return tree;
    }

    /// <summary>RFC 9162's MTH written out independently of the class under test.</summary>
    private static byte[] Reference(List<byte[]> d)
    {
        if (d.Count == 1)
        {
            return SHA256.HashData([0x00, .. d[0]]);
        }

        int k = 1;
        while (k * 2 < d.Count)
        {
            k *= 2;
        }

        return SHA256.HashData([0x01, .. Reference(d.GetRange(0, k)), .. Reference(d.GetRange(k, d.Count - k))]);
    }
}
