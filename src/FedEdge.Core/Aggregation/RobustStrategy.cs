using System.Numerics.Tensors;

namespace FedEdge.Aggregation;

/// <summary>The Byzantine-robust rules.</summary>
internal enum RobustRule
{
    /// <summary>Coordinate-wise median.</summary>
    Median,

    /// <summary>Coordinate-wise mean after dropping the ⌊βn⌋ smallest and largest values.</summary>
    TrimmedMean,

    /// <summary>Krum: the update with the smallest sum of squared distances to its n − f − 2 nearest neighbours.</summary>
    Krum,

    /// <summary>Multi-Krum: the sample-weighted mean of the m updates with the lowest Krum scores.</summary>
    MultiKrum,

    /// <summary>Bulyan: θ = n − 2f updates chosen by repeated Krum, then per coordinate the mean of the β = θ − 2f values closest to the median.</summary>
    Bulyan,
}

/// <summary>
/// The robust strategies. They are <b>not streaming</b>: a round keeps a copy of every update (in
/// parameter space, deltas are added to the global parameters), so memory is n × parameters × 4 bytes,
/// bounded by <see cref="AggregationOptions.MaxUpdates"/>; one more update is refused with
/// <see cref="AggregationCapacityExceededException"/>. Median, TrimmedMean and Bulyan's coordinate phase
/// ignore sample counts (weights are what an attacker would lie about).
/// </summary>
internal sealed class RobustStrategy : IAggregationStrategy
{
    private const int Block = 64;
    private readonly RobustRule _rule;
    private readonly int _maxUpdates;
    private readonly double _trim;
    private readonly int _f;
    private readonly int? _m;
    private readonly int _bucket;
    private readonly PreAggregation _mixing;

    public RobustStrategy(string name, RobustRule rule, AggregationOptions options)
    {
        Name = name;
        _rule = rule;
        _maxUpdates = options.MaxUpdates;
        _trim = options.TrimFraction;
        _f = options.ByzantineCount;
        _m = options.SelectionCount;
        _bucket = options.BucketSize;
        _mixing = options.PreAggregation;
        Requirements = RequirementsOf(name, rule, _f, _bucket) with { PreAggregation = _mixing };
    }

    public string Name { get; }

    public bool IsStreaming => false;

    /// <summary>Every robust rule needs the individual updates; Krum, Multi-Krum and Bulyan also need enough of them for f.</summary>
    public AggregationRequirements Requirements { get; }

    public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(globalParameters);
        return new Round(this, globalParameters, options?.QuarantinedDevices ?? 0);
    }

    public StrategyState? ExportState() => null;

    public void ImportState(StrategyState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        throw new InvalidOperationException($"Strategy '{Name}' is stateless; there is no state to import (got state of '{state.Strategy}').");
    }

    public override string ToString() => Name;

    /// <summary>
    /// The bounds <see cref="Aggregate"/> enforces. Median and TrimmedMean work from one update (TrimmedMean drops
    /// ⌊βn⌋ values from each end with β &lt; 0.5, so at least one value remains); Krum and Multi-Krum score each update
    /// by its n − f − 2 nearest neighbours, so n &gt; 2f + 2; Bulyan selects θ = n − 2f updates by Krum and averages
    /// β = θ − 2f values per coordinate, so n ≥ 4f + 3.
    /// </summary>
    /// <remarks>
    /// With buckets of s updates the rule runs on ⌈n / s⌉ bucket means, and each Byzantine update spoils at most one
    /// bucket, so the bound holds for the bucket count: n ≥ s·(b − 1) + 1 updates for a bound of b buckets.
    /// </remarks>
    internal static AggregationRequirements RequirementsOf(string name, RobustRule rule, int f, int bucket = 1) => rule switch
    {
        RobustRule.Krum or RobustRule.MultiKrum => Bucketed(new() { Strategy = name, NeedsIndividualUpdates = true, ByzantineTolerance = f, MinimumUpdates = (2 * f) + 3, Rule = "n > 2f + 2", PerByzantine = 2 }, bucket),
        RobustRule.Bulyan => Bucketed(new() { Strategy = name, NeedsIndividualUpdates = true, ByzantineTolerance = f, MinimumUpdates = (4 * f) + 3, Rule = "n ≥ 4f + 3", PerByzantine = 4 }, bucket),
        _ => new() { Strategy = name, NeedsIndividualUpdates = true },
    };

    private static AggregationRequirements Bucketed(AggregationRequirements r, int bucket) => bucket <= 1
        ? r
        : r with
        {
            MinimumUpdates = (bucket * (r.MinimumUpdates - 1)) + 1,
            BucketSize = bucket,
            Rule = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{r.Rule} over ⌈n / {bucket}⌉ buckets"),
        };

    /// <summary>
    /// Bucketing (Karimireddy, He and Jaggi, ICLR 2022): the updates, ordered by sender id, are shuffled with a seed
    /// derived from the round's global model and the senders, cut into buckets of <see cref="AggregationOptions.BucketSize"/>
    /// and replaced by each bucket's plain mean. Anyone holding the round's global model and updates (a validator
    /// recomputing the aggregate) gets the same buckets, whatever the arrival order.
    /// </summary>
    private (List<float[]> Xs, List<ModelUpdate> Updates, List<int[]> Members) Buckets(List<float[]> xs, List<ModelUpdate> updates, string globalHash)
    {
        int n = xs.Count;
        int[] order = Enumerable.Range(0, n).OrderBy(i => updates[i].SenderId, StringComparer.Ordinal).ThenBy(i => i).ToArray();
        var seedText = new System.Text.StringBuilder(globalHash);
        foreach (int i in order)
        {
            seedText.Append('\n').Append(updates[i].SenderId);
        }

        byte[] digest = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seedText.ToString()));
        new Random(BitConverter.ToInt32(digest, 0)).Shuffle(order);
        var bx = new List<float[]>();
        var bu = new List<ModelUpdate>();
        var members = new List<int[]>();
        for (int start = 0; start < n; start += _bucket)
        {
            int[] group = order[start..Math.Min(n, start + _bucket)];
            var mean = new float[xs[0].Length];
            long samples = 0;
            foreach (int i in group)
            {
                TensorPrimitives.Add(mean, xs[i], mean);
                samples += updates[i].SampleCount;
            }

            TensorPrimitives.Divide(mean, group.Length, mean);
            string id = group.Select(i => updates[i].SenderId).Order(StringComparer.Ordinal).First();
            bx.Add(mean);
            bu.Add(updates[group[0]] with { SenderId = id, SampleCount = samples });
            members.Add(group);
        }

        return (bx, bu, members);
    }

    /// <summary>
    /// The f this round runs with: the configured f when the rule's bound holds for <paramref name="n"/> updates, else
    /// lowered by at most <paramref name="quarantined"/> (<see cref="AggregationRequirements.EffectiveByzantineCount"/>).
    /// Median and TrimmedMean have no bound on n and keep f (it only sizes the mixing neighbourhoods).
    /// </summary>
    private int EffectiveF(int n, int quarantined)
    {
        if (Requirements.PerByzantine == 0)
        {
            return _f;
        }

        return Requirements.EffectiveByzantineCount(n, quarantined)
            ?? throw new InsufficientUpdatesException(Requirements.CheckAfterQuarantine(n, quarantined) + (_f > 0 ? (_bucket > 1 ? " Lower ByzantineCount or BucketSize, or wait for more updates." : " Lower ByzantineCount or wait for more updates.") : " Wait for more updates."));
    }

    private AggregationResult AggregateBucketed(List<float[]> xs, List<ModelUpdate> updates, ParameterSet global, int quarantined)
    {
        int f = EffectiveF(xs.Count, quarantined);
        AggregationResult result;
        if (_mixing == PreAggregation.NearestNeighbourMixing && xs.Count > 1)
        {
            result = AggregateMixed(xs, updates, global.Layout, f);
        }
        else if (_bucket <= 1 || xs.Count <= 1)
        {
            result = Aggregate(xs, updates, global.Layout, f);
        }
        else
        {
            result = AggregateInBuckets(xs, updates, global, f);
        }

        return Requirements.PerByzantine == 0 ? result : result with { ByzantineCount = f };
    }

    private AggregationResult AggregateInBuckets(List<float[]> xs, List<ModelUpdate> updates, ParameterSet global, int f)
    {
        (List<float[]> bx, List<ModelUpdate> bu, List<int[]> members) = Buckets(xs, updates, global.ComputeHash());
        AggregationResult inner = Aggregate(bx, bu, global.Layout, f);
        var excludedBuckets = new HashSet<string>(inner.Excluded, StringComparer.Ordinal);
        string[] excluded = Enumerable.Range(0, bu.Count)
            .Where(b => excludedBuckets.Contains(bu[b].SenderId))
            .SelectMany(b => members[b].Select(i => updates[i].SenderId))
            .ToArray();
        return inner with { Participants = xs.Count, Excluded = excluded };
    }

    /// <summary>
    /// The rule over the nearest-neighbour means (<see cref="PreAggregation.NearestNeighbourMixing"/>), with the rule's
    /// own bound on n. An update is excluded when no mean the rule kept averaged it.
    /// </summary>
    private AggregationResult AggregateMixed(List<float[]> xs, List<ModelUpdate> updates, ParameterLayout layout, int f)
    {
        (List<float[]> mixed, int[][] neighbours) = NearestNeighbourMixing.Mix(xs, [.. updates.Select(u => u.SenderId)], f);
        AggregationResult inner = Aggregate(mixed, updates, layout, f);
        var dropped = new HashSet<string>(inner.Excluded, StringComparer.Ordinal);
        var used = new HashSet<int>();
        for (int i = 0; i < xs.Count; i++)
        {
            if (!dropped.Contains(updates[i].SenderId))
            {
                used.UnionWith(neighbours[i]);
            }
        }

        return inner with { Excluded = Excluded(updates, used) };
    }

    /// <summary>The rule itself on <paramref name="xs"/> (updates, mixed means or bucket means) with the round's effective <paramref name="f"/>, whose bound <see cref="EffectiveF"/> has checked.</summary>
    private AggregationResult Aggregate(List<float[]> xs, List<ModelUpdate> updates, ParameterLayout layout, int f)
    {
        int n = xs.Count;

        int length = xs[0].Length;
        var result = new float[length];
        switch (_rule)
        {
            case RobustRule.Median:
                CoordinateWise(xs, result, static (sorted) => Median(sorted));
                return Result(layout, result, n, []);
            case RobustRule.TrimmedMean:
            {
                int k = (int)Math.Floor(_trim * n);
                CoordinateWise(xs, result, sorted => TensorPrimitives.Sum<float>(sorted[k..^k]) / (sorted.Length - (2 * k)));
                return Result(layout, result, n, []);
            }

            case RobustRule.Krum:
            case RobustRule.MultiKrum:
            {
                double[,] d = NearestNeighbourMixing.SquaredDistances(xs);
                int[] all = Enumerable.Range(0, n).ToArray();
                double[] scores = KrumScores(d, all, f);
                int[] order = all.OrderBy(i => scores[i]).ThenBy(i => updates[i].SenderId, StringComparer.Ordinal).ThenBy(i => i).ToArray();
                int m = _rule == RobustRule.Krum ? 1 : Math.Clamp(_m ?? (n - f), 1, n);
                int[] chosen = order[..m];
                if (m == 1)
                {
                    xs[chosen[0]].CopyTo(result, 0);
                }
                else
                {
                    double weight = 0;
                    foreach (int i in chosen)
                    {
                        weight += updates[i].SampleCount;
                    }

                    foreach (int i in chosen)
                    {
                        TensorPrimitives.MultiplyAdd(xs[i], (float)(updates[i].SampleCount / weight), result, result);
                    }
                }

                return Result(layout, result, n, Excluded(updates, chosen));
            }

            default:
            {
                double[,] d = NearestNeighbourMixing.SquaredDistances(xs);
                int theta = n - (2 * f);
                var remaining = Enumerable.Range(0, n).ToList();
                var chosen = new List<int>(theta);
                while (chosen.Count < theta)
                {
                    int[] candidates = remaining.ToArray();
                    double[] scores = KrumScores(d, candidates, f);
                    int best = candidates.OrderBy(i => scores[i]).ThenBy(i => updates[i].SenderId, StringComparer.Ordinal).ThenBy(i => i).First();
                    chosen.Add(best);
                    remaining.Remove(best);
                }

                int beta = theta - (2 * f);
                var selected = chosen.Select(i => xs[i]).ToList();
                CoordinateWise(selected, result, sorted => MeanClosestToMedian(sorted, beta));
                return Result(layout, result, n, Excluded(updates, chosen));
            }
        }
    }

    private static AggregationResult Result(ParameterLayout layout, float[] values, int participants, IReadOnlyList<string> excluded) =>
        new() { Parameters = new ParameterSet(layout, values), Participants = participants, Excluded = excluded };

    private static string[] Excluded(List<ModelUpdate> updates, IReadOnlyCollection<int> chosen)
    {
        var keep = new HashSet<int>(chosen);
        return Enumerable.Range(0, updates.Count).Where(i => !keep.Contains(i)).Select(i => updates[i].SenderId).ToArray();
    }

    /// <summary>Transposes blocks of coordinates so each coordinate's n values are contiguous, sorts them and reduces.</summary>
    private static void CoordinateWise(List<float[]> xs, float[] result, Func<Span<float>, float> reduce)
    {
        int n = xs.Count;
        int length = result.Length;
        var scratch = new float[Block * n];
        for (int start = 0; start < length; start += Block)
        {
            int width = Math.Min(Block, length - start);
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<float> source = xs[i].AsSpan(start, width);
                for (int t = 0; t < width; t++)
                {
                    scratch[(t * n) + i] = source[t];
                }
            }

            for (int t = 0; t < width; t++)
            {
                Span<float> column = scratch.AsSpan(t * n, n);
                column.Sort();
                result[start + t] = reduce(column);
            }
        }
    }

    private static float Median(ReadOnlySpan<float> sorted)
    {
        int n = sorted.Length;
        return (n & 1) == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) * 0.5f;
    }

    /// <summary>The mean of the <paramref name="count"/> sorted values nearest the median (a contiguous window around it).</summary>
    private static float MeanClosestToMedian(ReadOnlySpan<float> sorted, int count)
    {
        float median = Median(sorted);
        int lo = (sorted.Length - 1) / 2;
        int hi = lo + 1;
        double sum = 0;
        for (int taken = 0; taken < count; taken++)
        {
            bool takeLow = hi >= sorted.Length || (lo >= 0 && Math.Abs(sorted[lo] - median) <= Math.Abs(sorted[hi] - median));
            sum += takeLow ? sorted[lo--] : sorted[hi++];
        }

        return (float)(sum / count);
    }

    /// <summary>
    /// Krum scores over <paramref name="candidates"/>: the sum of each one's n − f − 2 smallest squared distances
    /// to the others (at least one neighbour, so Bulyan's last recursions still rank). Ties are broken by sender
    /// id, so the choice does not depend on arrival order.
    /// </summary>
    private static double[] KrumScores(double[,] d, int[] candidates, int f)
    {
        var scores = new double[d.GetLength(0)];
        int neighbours = Math.Max(candidates.Length - f - 2, Math.Min(1, candidates.Length - 1));
        var row = new double[Math.Max(candidates.Length - 1, 0)];
        foreach (int i in candidates)
        {
            int k = 0;
            foreach (int j in candidates)
            {
                if (j != i)
                {
                    row[k++] = d[i, j];
                }
            }

            Array.Sort(row);
            double score = 0;
            for (int t = 0; t < neighbours; t++)
            {
                score += row[t];
            }

            scores[i] = score;
        }

        return scores;
    }

    private sealed class Round : IAggregationRound
    {
        private readonly RobustStrategy _owner;
        private readonly ParameterSet _global;
        private readonly int _quarantined;
        private List<float[]>? _xs = [];
        private readonly List<ModelUpdate> _updates = [];
        private bool _completed;

        public Round(RobustStrategy owner, ParameterSet global, int quarantined)
        {
            _owner = owner;
            _global = global;
            _quarantined = quarantined;
        }

        public int Count => _updates.Count;

        public void Add(ModelUpdate update)
        {
            ArgumentNullException.ThrowIfNull(update);
            List<float[]> xs = RoundGuards.EnsureOpen(_xs, _completed, _owner.Name);
            RoundGuards.CheckUpdate(update, _global);
            if (xs.Count >= _owner._maxUpdates)
            {
                throw new AggregationCapacityExceededException($"Strategy '{_owner.Name}' keeps every update of a round and is bounded at {_owner._maxUpdates} (AggregationOptions.MaxUpdates); the update from '{update.SenderId}' is refused. Raise MaxUpdates or select fewer clients.");
            }

            var copy = new float[_global.Length];
            if (update.Kind == UpdateKind.Delta)
            {
                TensorPrimitives.Add(_global.Values, update.Values.Values, copy);
            }
            else
            {
                update.Values.Values.CopyTo(copy);
            }

            xs.Add(copy);

            // Keep only what the result needs (sender and weight), not the caller's buffers.
            _updates.Add(update with { Values = _global, Metrics = new Dictionary<string, double>() });
        }

        public AggregationResult Complete()
        {
            List<float[]> xs = RoundGuards.EnsureOpen(_xs, _completed, _owner.Name);
            if (xs.Count == 0)
            {
                throw new EmptyRoundException($"Round of strategy '{_owner.Name}' has no updates; add at least one validated update before completing it.");
            }

            AggregationResult result = _owner.AggregateBucketed(xs, _updates, _global, _quarantined);
            _completed = true;
            _xs = null;
            return result;
        }

        public void Dispose()
        {
            _xs = null;
            _completed = true;
        }
    }
}
