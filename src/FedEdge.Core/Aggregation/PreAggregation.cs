using System.Numerics.Tensors;

namespace FedEdge.Aggregation;

/// <summary>
/// What the robust strategies (median, trimmedmean, krum, multikrum, bulyan) do to a round's updates before their rule
/// runs. Every choice is a deterministic function of the round's global model and updates, so a committee validator
/// that recomputes the aggregate gets the same result whatever order the updates arrived in.
/// </summary>
public enum PreAggregation
{
    /// <summary>The rule sees the updates as sent (or the bucket means, with <see cref="AggregationOptions.BucketSize"/> above 1).</summary>
    None = 0,

    /// <summary>
    /// Nearest-neighbour mixing (NNM; Allouah et al., "Fixing by Mixing", AISTATS 2023): each update is replaced by the
    /// mean of its n − f nearest updates (itself included, Euclidean distance), and the rule runs on these n means with
    /// the same f and the same bound on n. On non-IID devices the honest means move towards each other, which the rules
    /// assume, while a Byzantine update shifts any mean by at most f / (n − f) of its distance. Needs no bucket count.
    /// </summary>
    NearestNeighbourMixing = 1,
}

/// <summary>Nearest-neighbour mixing over the round's updates in parameter space (see <see cref="PreAggregation.NearestNeighbourMixing"/>).</summary>
internal static class NearestNeighbourMixing
{
    /// <summary>
    /// The mixed updates and, for each, the indices of the updates it averages. Neighbours are ranked by squared
    /// distance, then sender id (ordinal), so the result does not depend on the order of <paramref name="xs"/>; each
    /// mean is summed in that rank order, so it is bitwise the same for every arrival order.
    /// </summary>
    /// <param name="xs">The updates in parameter space, all of one length.</param>
    /// <param name="senders">The sender of each update (distinct within a round).</param>
    /// <param name="f">The Byzantine count; each update is mixed with its n − f nearest (at least itself).</param>
    public static (List<float[]> Mixed, int[][] Neighbours) Mix(IReadOnlyList<float[]> xs, IReadOnlyList<string> senders, int f)
    {
        int n = xs.Count;
        int k = Math.Clamp(n - f, 1, n);
        double[,] d = SquaredDistances(xs);
        var mixed = new List<float[]>(n);
        var neighbours = new int[n][];
        for (int i = 0; i < n; i++)
        {
            int self = i;
            int[] nearest = [.. Enumerable.Range(0, n)
                .OrderBy(j => j == self ? 0 : 1)
                .ThenBy(j => d[self, j])
                .ThenBy(j => senders[j], StringComparer.Ordinal)
                .Take(k)];
            var mean = new float[xs[i].Length];
            foreach (int j in nearest)
            {
                TensorPrimitives.Add(mean, xs[j], mean);
            }

            TensorPrimitives.Divide(mean, k, mean);
            mixed.Add(mean);
            neighbours[i] = nearest;
        }

        return (mixed, neighbours);
    }

    /// <summary>Pairwise squared Euclidean distances; d[i, j] and d[j, i] are the same value.</summary>
    internal static double[,] SquaredDistances(IReadOnlyList<float[]> xs)
    {
        int n = xs.Count;
        var d = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                double distance = TensorPrimitives.Distance<float>(xs[i], xs[j]);
                d[i, j] = d[j, i] = distance * distance;
            }
        }

        return d;
    }
}
