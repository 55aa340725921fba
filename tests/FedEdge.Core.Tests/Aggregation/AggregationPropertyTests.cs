using FedEdge.Aggregation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>The algebra every strategy must satisfy, as FsCheck properties over bounded random rounds.</summary>
public sealed class AggregationPropertyTests
{
    private static readonly Gen<float> Value = Gen.Choose(-100_000, 100_000).Select(i => i / 1000f);

    /// <summary>A round: n clients, d parameters, each client's values and sample count.</summary>
    public sealed record RoundCase(int Dimension, float[] Global, float[][] Values, long[] Samples)
    {
        public int Clients => Values.Length;

        public override string ToString() => $"n={Clients}, d={Dimension}, samples=[{string.Join(',', Samples)}], values=[{string.Join(" | ", Values.Select(v => string.Join(',', v)))}]";
    }

    private static Gen<RoundCase> Rounds(int minClients, int maxClients) =>
        from n in Gen.Choose(minClients, maxClients)
        from d in Gen.Choose(1, 24)
        from global in Gen.ArrayOf(Value, d)
        from values in Gen.ArrayOf(Gen.ArrayOf(Value, d), n)
        from samples in Gen.ArrayOf(Gen.Choose(1, 5000).Select(s => (long)s), n)
        select new RoundCase(d, global, values, samples);

    private static ModelUpdate[] ToUpdates(RoundCase c, ParameterLayout layout) =>
        c.Values.Select((v, i) => Update($"dev-{i}", layout, v, c.Samples[i])).ToArray();

    public static TheoryData<string> AllNames() => new(AggregationStrategies.Names);

    [Property(MaxTest = 100)]
    public Property FedAvg_IdenticalUpdates_ReturnsThatUpdate() =>
        Prop.ForAll(Rounds(1, 12).ToArbitrary(), c =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            float[] same = c.Values[0];
            ModelUpdate[] updates = c.Samples.Select((s, i) => Update($"dev-{i}", layout, same, s)).ToArray();
            foreach (string name in new[] { "fedavg", "fedsgd", "fedprox", "median", "trimmedmean" })
            {
                float[] result = Run(AggregationStrategies.Create(name), Set(layout, c.Global), updates);
                if (!Close(result, same, 1e-5, 1e-6))
                {
                    return false;
                }
            }

            return true;
        });

    [Property(MaxTest = 60)]
    public Property AnyStrategy_ShuffledArrivalOrder_SameResult() =>
        Prop.ForAll(Rounds(7, 11).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (c, seed) =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            ModelUpdate[] updates = ToUpdates(c, layout);
            ModelUpdate[] shuffled = (ModelUpdate[])updates.Clone();
#pragma warning disable CA5394 // test data shuffling
            new Random(seed).Shuffle(shuffled);
#pragma warning restore CA5394
            var failures = new List<string>();
            foreach (string name in AggregationStrategies.Names)
            {
                float[] inOrder = Run(Create(name), Set(layout, c.Global), updates);
                float[] reordered = Run(Create(name), Set(layout, c.Global), shuffled);
                if (!Close(inOrder, reordered, 1e-4, 1e-3))
                {
                    failures.Add($"{name}: [{string.Join(',', inOrder)}] vs [{string.Join(',', reordered)}]");
                }
            }

            return (failures.Count == 0).Label(string.Join("; ", failures));
        });

    [Property(MaxTest = 100)]
    public Property FedAvg_Weights_ProportionalToSamples() =>
        Prop.ForAll(Rounds(1, 10).ToArbitrary(), Gen.Choose(2, 9).ToArbitrary(), (c, k) =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            ParameterSet global = Set(layout, c.Global);
            float[] result = Run(AggregationStrategies.FedAvg(), global, ToUpdates(c, layout));

            // Exactly the sample-weighted mean, computed independently in double precision.
            double total = c.Samples.Sum();
            var expected = new float[c.Dimension];
            for (int j = 0; j < c.Dimension; j++)
            {
                double s = 0;
                for (int i = 0; i < c.Clients; i++)
                {
                    s += c.Samples[i] * (double)c.Values[i][j];
                }

                expected[j] = (float)(s / total);
            }

            // Scaling every weight by k changes nothing; splitting a client's weight k ways into k copies changes nothing.
            float[] scaled = Run(AggregationStrategies.FedAvg(), global, c.Values.Select((v, i) => Update($"dev-{i}", layout, v, c.Samples[i] * k)));
            var split = new List<ModelUpdate>();
            for (int i = 0; i < c.Clients; i++)
            {
                for (int copy = 0; copy < k; copy++)
                {
                    split.Add(Update($"dev-{i}-{copy}", layout, c.Values[i], c.Samples[i]));
                }
            }

            float[] copies = Run(AggregationStrategies.FedAvg(), global, split);
            return Close(result, expected, 1e-4, 1e-3) && Close(result, scaled, 1e-4, 1e-3) && Close(result, copies, 1e-4, 1e-3);
        });

    [Property(MaxTest = 100)]
    public Property FedSgd_OneLocalStep_EqualsFedAvgAndTheWeightedGradientStep() =>
        Prop.ForAll(Rounds(1, 10).ToArbitrary(), Gen.Choose(1, 100).ToArbitrary(), (c, lrThousandths) =>
        {
            // Client k's one local SGD step from w with gradient gₖ (= Values[k]) and rate η gives w − η·gₖ.
            float eta = lrThousandths / 1000f;
            ParameterLayout layout = Layout(c.Dimension);
            ParameterSet global = Set(layout, c.Global);
            ModelUpdate[] stepped = c.Values.Select((g, i) => Update($"dev-{i}", layout, c.Global.Select((w, j) => w - (eta * g[j])).ToArray(), c.Samples[i])).ToArray();
            ModelUpdate[] deltas = c.Values.Select((g, i) => Update($"dev-{i}", layout, g.Select(x => -eta * x).ToArray(), c.Samples[i], UpdateKind.Delta)).ToArray();

            float[] fedSgd = Run(AggregationStrategies.FedSgd(), global, stepped);
            float[] fedSgdDeltas = Run(AggregationStrategies.FedSgd(), global, deltas);
            float[] fedAvg = Run(AggregationStrategies.FedAvg(), global, stepped);
            double total = c.Samples.Sum();
            float[] expected = c.Global.Select((w, j) => (float)(w - (eta * Enumerable.Range(0, c.Clients).Sum(i => c.Samples[i] * (double)c.Values[i][j]) / total))).ToArray();
            return Close(fedSgd, fedAvg, 1e-5, 1e-4) && Close(fedSgd, expected, 1e-4, 1e-3) && Close(fedSgdDeltas, expected, 1e-4, 1e-3);
        });

    /// <summary>n clients, f &lt; n/2 of them Byzantine with arbitrary finite values (up to ±1e30).</summary>
    private static Gen<(RoundCase Case, int F, float[][] Byzantine)> Attacked(Func<int, int> maxF, int minClients) =>
        from c in Rounds(minClients, 13)
        from f in Gen.Choose(0, maxF(c.Clients))
        from byz in Gen.ArrayOf(Gen.ArrayOf(Gen.Elements(-1e30f, 1e30f, -5e6f, 5e6f, 0f, 123.5f).SelectMany(big => Value.Select(v => big + v)), c.Dimension), f)
        select (c, f, byz);

    private static bool WithinHonestRange(float[] result, float[][] honest)
    {
        for (int j = 0; j < result.Length; j++)
        {
            float lo = honest.Min(h => h[j]);
            float hi = honest.Max(h => h[j]);
            if (!(result[j] >= lo - (1e-5f * Math.Abs(lo)) && result[j] <= hi + (1e-5f * Math.Abs(hi))))
            {
                return false;
            }
        }

        return true;
    }

    [Property(MaxTest = 100)]
    public Property MedianAndTrimmedMean_FewerThanHalfArbitrary_StayWithinHonestRange() =>
        Prop.ForAll(Attacked(n => (n - 1) / 2, 3).ToArbitrary(), t =>
        {
            (RoundCase c, int f, float[][] byz) = t;
            int n = c.Clients;
            int honestCount = n - f;
            float[][] honest = c.Values[..honestCount];
            ParameterLayout layout = Layout(c.Dimension);
            var updates = honest.Concat(byz).Select((v, i) => Update($"dev-{i}", layout, v, c.Samples[i % n])).ToList();
            float[] median = Run(AggregationStrategies.Median(), Set(layout, c.Global), updates);

            // β with ⌊βn⌋ = f trims exactly the f most extreme values on each side.
            double beta = (f + 0.25) / n;
            float[] trimmed = Run(AggregationStrategies.TrimmedMean(beta), Set(layout, c.Global), updates);
            return WithinHonestRange(median, honest) && WithinHonestRange(trimmed, honest);
        });

    /// <summary>Honest updates within ±1 of a centre; f colluding or scattered Byzantine updates far from it.</summary>
    private static Gen<(int Dimension, float[][] Honest, float[][] Byzantine)> KrumCases(Func<int, int> minClients) =>
        from f in Gen.Choose(0, 3)
        from extra in Gen.Choose(0, 4)
        let n = minClients(f) + extra
        from d in Gen.Choose(1, 16)
        from centre in Gen.ArrayOf(Value, d)
        from noise in Gen.ArrayOf(Gen.ArrayOf(Gen.Choose(-1000, 1000).Select(i => i / 1000f), d), n - f)
        from collude in Gen.Elements(true, false)
        from direction in Gen.ArrayOf(Gen.Elements(-1f, 1f), d)
        from scale in Gen.ArrayOf(Gen.Elements(1f, 3f, 1e3f, 1e20f), f)
        let far = 10f + (4f * MathF.Sqrt(n * d))
        select (d,
            noise.Select(z => centre.Zip(z, (a, b) => a + b).ToArray()).ToArray(),
            Enumerable.Range(0, f).Select(k => centre.Select((x, j) => x + (direction[j] * far * (collude ? 1f : scale[k]))).ToArray()).ToArray());

    [Property(MaxTest = 100)]
    public Property Krum_MoreThanTwoFPlusTwo_SelectsAnHonestUpdate() =>
        Prop.ForAll(KrumCases(f => (2 * f) + 3).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (t, seed) =>
        {
            (int d, float[][] honest, float[][] byz) = t;
            int f = byz.Length;
            ParameterLayout layout = Layout(d);
            var all = honest.Select((v, i) => (Id: $"honest-{i}", V: v)).Concat(byz.Select((v, i) => (Id: $"byz-{i}", V: v))).ToArray();
#pragma warning disable CA5394 // test data shuffling
            new Random(seed).Shuffle(all);
#pragma warning restore CA5394
            var updates = all.Select(a => Update(a.Id, layout, a.V, 10)).ToList();
            using IAggregationRound round = AggregationStrategies.Krum(f).BeginRound(new ParameterSet(layout));
            updates.ForEach(round.Add);
            AggregationResult krum = round.Complete();
            bool honestChosen = honest.Any(h => h.AsSpan().SequenceEqual(krum.Parameters.Values));

            using IAggregationRound multi = AggregationStrategies.MultiKrum(f).BeginRound(new ParameterSet(layout));
            updates.ForEach(multi.Add);
            AggregationResult multiResult = multi.Complete();
            bool byzantineExcluded = multiResult.Excluded.Order(StringComparer.Ordinal).SequenceEqual(Enumerable.Range(0, f).Select(i => $"byz-{i}").Order(StringComparer.Ordinal));
            return honestChosen && byzantineExcluded && krum.Excluded.Count == updates.Count - 1;
        });

    [Property(MaxTest = 60)]
    public Property Bulyan_AtLeastFourFPlusThree_StaysWithinHonestRange() =>
        Prop.ForAll(KrumCases(f => (4 * f) + 3).ToArbitrary(), t =>
        {
            (int d, float[][] honest, float[][] byz) = t;
            ParameterLayout layout = Layout(d);
            var updates = honest.Concat(byz).Select((v, i) => Update($"dev-{i}", layout, v, 10)).ToList();
            float[] result = Run(AggregationStrategies.Bulyan(byz.Length), new ParameterSet(layout), updates);
            return WithinHonestRange(result, honest);
        });

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Complete_NoUpdates_ThrowsEmptyRoundException(string name)
    {
        IAggregationStrategy strategy = AggregationStrategies.Create(name);
        using IAggregationRound round = strategy.BeginRound(new ParameterSet(Layout(4)));
        EmptyRoundException error = Assert.Throws<EmptyRoundException>(() => round.Complete());
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }
}
