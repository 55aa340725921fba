namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// The communication graph of a round. With k = 0 (or k ≥ n − 1) every client is every other
/// client's neighbour (the original SecAgg). Otherwise it is the SecAgg+ sparse graph: a Harary
/// graph H(k, n) (each client linked to the k/2 nearest on either side of a cycle) laid over a
/// pseudo-random permutation of the clients derived from the roster's graph seed, so every
/// party computes the same k-regular graph and the server cannot place clients by index.
/// </summary>
internal sealed class SecAggGraph
{
    private readonly int[][] _neighbours; // 1-based indices; entry 0 unused

    private SecAggGraph(int count, int[][] neighbours)
    {
        Count = count;
        _neighbours = neighbours;
    }

    /// <summary>The number of clients (indices 1..Count).</summary>
    public int Count { get; }

    /// <summary>True when the graph is complete.</summary>
    public bool IsComplete { get; private init; }

    public static SecAggGraph Create(int count, int neighbourCount, ReadOnlySpan<byte> seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(neighbourCount);
        int[][] neighbours = new int[count + 1][];
        neighbours[0] = [];
        if (neighbourCount == 0 || neighbourCount >= count - 1)
        {
            for (int i = 1; i <= count; i++)
            {
                neighbours[i] = Enumerable.Range(1, count).Where(j => j != i).ToArray();
            }

            return new SecAggGraph(count, neighbours) { IsComplete = true };
        }

        if ((neighbourCount & 1) != 0)
        {
            throw new ArgumentException($"The SecAgg+ neighbour count must be even, not {neighbourCount}.", nameof(neighbourCount));
        }

        // A Fisher-Yates shuffle driven by the AES-CTR stream of the seed: position -> client index.
        int[] order = Enumerable.Range(1, count).ToArray();
        uint[] random = new uint[((count * 2) + 3) & ~3];
        using (var prg = new AesCtrPrg(seed))
        {
            prg.Fill(random);
        }

        for (int i = count - 1; i > 0; i--)
        {
            ulong wide = ((ulong)random[2 * i] << 32) | random[(2 * i) + 1];
            int j = (int)(wide % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }

        int half = neighbourCount / 2;
        for (int p = 0; p < count; p++)
        {
            int[] list = new int[neighbourCount];
            int n = 0;
            for (int d = 1; d <= half; d++)
            {
                list[n++] = order[(p + d) % count];
                list[n++] = order[(p - d + count) % count];
            }

            Array.Sort(list);
            neighbours[order[p]] = list;
        }

        return new SecAggGraph(count, neighbours);
    }

    /// <summary>The neighbours of client <paramref name="index"/> (1-based, sorted, excluding itself).</summary>
    public ReadOnlySpan<int> NeighboursOf(int index) => _neighbours[index];

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> are neighbours.</summary>
    public bool AreNeighbours(int a, int b) => a != b && Array.BinarySearch(_neighbours[a], b) >= 0;
}
