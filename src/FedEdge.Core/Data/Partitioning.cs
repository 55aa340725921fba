namespace FedEdge.Data;

/// <summary>One client's share of a data set.</summary>
/// <param name="ClientId">The client (device) name.</param>
/// <param name="Data">The client's rows.</param>
public sealed record DataPartition(string ClientId, Dataset Data);

/// <summary>Splits and partitions data sets: stratified train/test split, IID and Dirichlet label-skew partitions.</summary>
public static class DataSplits
{
    /// <summary>
    /// A stratified split followed by min–max scaling fitted on the training part only (MEDNN eq. 5), so no
    /// statistic of the test rows leaks into the model. Returns the scaled sets and the fitted normaliser.
    /// </summary>
    /// <param name="data">The rows to split.</param>
    /// <param name="testFraction">The share of each label that goes to the test set.</param>
    /// <param name="seed">The shuffle seed.</param>
    /// <param name="clip">Clip scaled values to [0, 1] (test rows can fall outside the training range).</param>
    public static (Dataset Train, Dataset Test, MinMaxNormalizer Normalizer) ScaledStratifiedSplit(Dataset data, double testFraction = 0.2, int seed = 0, bool clip = false)
    {
        (Dataset train, Dataset test) = StratifiedSplit(data, testFraction, seed);
        MinMaxNormalizer normalizer = MinMaxNormalizer.Fit(train, clip);
        return (normalizer.Transform(train), normalizer.Transform(test), normalizer);
    }

    /// <summary>
    /// A stratified split: within each label value, a seeded shuffle puts <paramref name="testFraction"/> of the
    /// rows (rounded) into the test set, so both sets keep the label mix. Rows keep their original relative order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1).</exception>
    public static (Dataset Train, Dataset Test) StratifiedSplit(Dataset data, double testFraction = 0.2, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!(testFraction > 0 && testFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
        }

        var rng = new Random(seed);
        var isTest = new bool[data.Count];
        foreach (List<int> group in GroupByLabel(data))
        {
            int[] shuffled = group.ToArray();
            rng.Shuffle(shuffled);
            int testCount = (int)Math.Round(group.Count * testFraction, MidpointRounding.AwayFromZero);
            for (int i = 0; i < testCount; i++)
            {
                isTest[shuffled[i]] = true;
            }
        }

        var train = new List<int>();
        var test = new List<int>();
        for (int i = 0; i < isTest.Length; i++)
        {
            (isTest[i] ? test : train).Add(i);
        }

        return (data.Select(train), data.Select(test));
    }

    /// <summary>Shuffles the rows with a seed and deals them round-robin to <paramref name="clients"/> clients (sizes differ by at most one).</summary>
    public static IReadOnlyList<DataPartition> Iid(Dataset data, int clients, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        if (clients > data.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(clients), clients, $"Cannot give {clients} clients at least one of {data.Count} rows.");
        }

        int[] order = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(order);
        var parts = Enumerable.Range(0, clients).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < order.Length; i++)
        {
            parts[i % clients].Add(order[i]);
        }

        return parts.Select((p, c) => new DataPartition(ClientName(c), data.Select(p))).ToList();
    }

    /// <summary>
    /// Label skew: for each label value, client proportions are drawn from Dirichlet(α, …, α) and that label's
    /// shuffled rows are cut in those proportions. Small α (0.1) gives very skewed clients, large α (100) near-IID.
    /// Clients may end up empty at small α; they are returned with zero rows only when <paramref name="keepEmpty"/> is true.
    /// </summary>
    public static IReadOnlyList<DataPartition> Dirichlet(Dataset data, int clients, double alpha, int seed = 0, bool keepEmpty = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        if (!(alpha > 0) || double.IsInfinity(alpha))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Dirichlet α must be positive and finite.");
        }

        var rng = new Random(seed);
        var parts = Enumerable.Range(0, clients).Select(_ => new List<int>()).ToArray();
        var proportions = new double[clients];
        foreach (List<int> group in GroupByLabel(data))
        {
            int[] rows = group.ToArray();
            rng.Shuffle(rows);
            double sum = 0;
            for (int c = 0; c < clients; c++)
            {
                proportions[c] = SampleGamma(rng, alpha);
                sum += proportions[c];
            }

            if (sum <= 0)
            {
                // All draws underflowed (tiny α): give the whole label to one client picked uniformly.
                Array.Clear(proportions);
                proportions[rng.Next(clients)] = 1;
                sum = 1;
            }

            double cumulative = 0;
            int start = 0;
            for (int c = 0; c < clients; c++)
            {
                cumulative += proportions[c] / sum;
                int end = c == clients - 1 ? rows.Length : (int)Math.Round(cumulative * rows.Length);
                end = Math.Clamp(end, start, rows.Length);
                for (int i = start; i < end; i++)
                {
                    parts[c].Add(rows[i]);
                }

                start = end;
            }
        }

        var result = new List<DataPartition>(clients);
        for (int c = 0; c < clients; c++)
        {
            if (parts[c].Count == 0 && !keepEmpty)
            {
                continue;
            }

            parts[c].Sort();
            result.Add(new DataPartition(ClientName(c), parts[c].Count == 0 ? EmptyLike(data) : data.Select(parts[c])));
        }

        return result;
    }

    private static Dataset EmptyLike(Dataset data) =>
        new([], [], data.FeatureCount, data.FeatureNames, data.ClassNames is null ? null : []);

    private static string ClientName(int index) => "client-" + index.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);

    private static List<List<int>> GroupByLabel(Dataset data)
    {
        var groups = new SortedDictionary<float, List<int>>();
        ReadOnlySpan<float> labels = data.Labels;
        for (int i = 0; i < labels.Length; i++)
        {
            if (!groups.TryGetValue(labels[i], out List<int>? list))
            {
                list = [];
                groups.Add(labels[i], list);
            }

            list.Add(i);
        }

        return groups.Values.ToList();
    }

    /// <summary>Gamma(shape, 1) by Marsaglia and Tsang (2000), with the α &lt; 1 boost U^(1/α).</summary>
    private static double SampleGamma(Random rng, double shape)
    {
        if (shape < 1)
        {
            double u = rng.NextDouble();
            return SampleGamma(rng, shape + 1) * Math.Pow(u, 1.0 / shape);
        }

        double d = shape - (1.0 / 3.0);
        double c = 1.0 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = SampleNormal(rng);
                v = 1 + (c * x);
            }
            while (v <= 0);

            v = v * v * v;
            double u = rng.NextDouble();
            if (u < 1 - (0.0331 * x * x * x * x) || Math.Log(u) < (0.5 * x * x) + (d * (1 - v + Math.Log(v))))
            {
                return d * v;
            }
        }
    }

    private static double SampleNormal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
