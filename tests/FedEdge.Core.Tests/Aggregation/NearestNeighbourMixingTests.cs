using System.Numerics.Tensors;
using FedEdge.Aggregation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>
/// <see cref="PreAggregation.NearestNeighbourMixing"/> before the robust rules: arrival order does not matter (bitwise),
/// the same round gives the same result, and the Byzantine updates cannot drag the aggregate away from the honest ones
/// however far they are sent (the bound below is independent of their size).
/// </summary>
public sealed class NearestNeighbourMixingTests
{
    private static readonly string[] Robust = ["median", "trimmedmean", "krum", "multikrum", "bulyan"];

    private static readonly Gen<float> Value = Gen.Choose(-10_000, 10_000).Select(i => i / 1000f);

    /// <summary>A round of n updates of d parameters, the last <see cref="Byzantine"/> of them sent from far away.</summary>
    public sealed record MixCase(int Dimension, int Byzantine, float[][] Values, float Scale)
    {
        public override string ToString() => $"n={Values.Length}, f={Byzantine}, d={Dimension}, scale={Scale}, values=[{string.Join(" | ", Values.Select(v => string.Join(',', v)))}]";
    }

    private static Gen<MixCase> Cases(int minF, int maxF) =>
        from f in Gen.Choose(minF, maxF)
        from extra in Gen.Choose(0, 3)
        from d in Gen.Choose(1, 12)
        from values in Gen.ArrayOf(Gen.ArrayOf(Value, d), (4 * f) + 3 + extra)
        from scale in Gen.Elements(1f, 100f, 1e4f, -1e5f)
        select new MixCase(d, f, values, scale);

    private static IAggregationStrategy Mixed(string name, int f) =>
        AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = f, PreAggregation = PreAggregation.NearestNeighbourMixing, TrimFraction = 0.2 });

    private static List<ModelUpdate> ToUpdates(MixCase c, ParameterLayout layout) =>
        [.. c.Values.Select((v, i) => Update($"dev-{i:00}", layout, i >= c.Values.Length - c.Byzantine ? [.. v.Select(x => x * c.Scale)] : v, samples: 1 + i))];

    [Property(MaxTest = 60)]
    public Property AnyRobustRule_ShuffledArrivalOrder_BitwiseSameResult() =>
        Prop.ForAll(Cases(1, 2).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (c, seed) =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            List<ModelUpdate> updates = ToUpdates(c, layout);
            ModelUpdate[] shuffled = [.. updates];
            new Random(seed).Shuffle(shuffled);
            ParameterSet global = Set(layout, new float[c.Dimension]);
            return Robust.All(name => Run(Mixed(name, c.Byzantine), global, updates).SequenceEqual(Run(Mixed(name, c.Byzantine), global, shuffled)));
        });

    [Property(MaxTest = 30)]
    public Property AnyRobustRule_SameRoundTwice_SameResultAndExclusions() =>
        Prop.ForAll(Cases(1, 2).ToArbitrary(), c =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            ParameterSet global = Set(layout, new float[c.Dimension]);
            return Robust.All(name =>
            {
                AggregationResult first = Complete(Mixed(name, c.Byzantine), global, ToUpdates(c, layout));
                AggregationResult second = Complete(Mixed(name, c.Byzantine), global, ToUpdates(c, layout));
                return first.Parameters.Values.ToArray().SequenceEqual(second.Parameters.Values.ToArray()) && first.Excluded.SequenceEqual(second.Excluded);
            });
        });

    /// <summary>
    /// The bound for Krum after mixing, from the rule's own argument: an honest update's n − f nearest lie within the
    /// honest set's diameter D of it (n − f honest candidates are that close), so honest means are within 3D of each
    /// other; Krum's pick scores no worse than an honest mean, and at least one of its n − f − 2 nearest is honest,
    /// so it lies within D · (3√(n − f − 2) + 2) of the honest updates' mean, whatever the f others are.
    /// </summary>
    [Property(MaxTest = 80)]
    public Property Krum_FarByzantineUpdates_StaysWithinTheHonestBound() =>
        Prop.ForAll(Cases(1, 3).ToArbitrary(), c =>
        {
            ParameterLayout layout = Layout(c.Dimension);
            List<ModelUpdate> updates = ToUpdates(c, layout);
            float[][] honest = [.. c.Values.Take(c.Values.Length - c.Byzantine)];
            double diameter = honest.SelectMany(a => honest.Select(b => (double)TensorPrimitives.Distance<float>(a, b))).Max();
            var mean = new float[c.Dimension];
            foreach (float[] h in honest)
            {
                TensorPrimitives.Add(mean, h, mean);
            }

            TensorPrimitives.Divide(mean, honest.Length, mean);
            float[] result = Run(Mixed("krum", c.Byzantine), Set(layout, new float[c.Dimension]), updates);
            double bound = (diameter * ((3 * Math.Sqrt(c.Values.Length - c.Byzantine - 2)) + 2)) + 1e-3;
            return (TensorPrimitives.Distance<float>(result, mean) <= bound).Label($"distance {TensorPrimitives.Distance<float>(result, mean)} > bound {bound}");
        });

    [Fact]
    public void Krum_TightMajorityClusterAndSpreadMinority_MixingMovesThePickTowardsTheMinority()
    {
        // 9 updates nearly at the origin (devices the model already fits) and 7 spread around (10, 10): plain Krum picks
        // an update of the tight cluster; after mixing each update averages its 13 nearest, so the pick carries the minority's pull.
        ParameterLayout layout = Layout(2);
        var random = new Random(3);
        List<ModelUpdate> updates = [];
        for (int i = 0; i < 9; i++)
        {
            updates.Add(Update($"fitted-{i}", layout, [(float)(random.NextDouble() * 0.01), (float)(random.NextDouble() * 0.01)]));
        }

        for (int i = 0; i < 7; i++)
        {
            updates.Add(Update($"informative-{i}", layout, [10f + (float)((random.NextDouble() - 0.5) * 4), 10f + (float)((random.NextDouble() - 0.5) * 4)]));
        }

        ParameterSet global = Set(layout, [0f, 0f]);
        float[] plain = Run(AggregationStrategies.Create("krum", new AggregationOptions { ByzantineCount = 3 }), global, updates);
        float[] mixed = Run(Mixed("krum", 3), global, updates);

        Assert.True(plain[0] < 0.01f && plain[1] < 0.01f, string.Join(',', plain));
        Assert.True(mixed[0] > 1f && mixed[1] > 1f, string.Join(',', mixed));
    }

    [Fact]
    public void Krum_Mixed_ExcludesOnlyUpdatesNoKeptMeanAveraged()
    {
        ParameterLayout layout = Layout(1);
        List<ModelUpdate> updates = [.. Enumerable.Range(0, 8).Select(i => Update($"honest-{i}", layout, [i * 0.1f])), Update("far", layout, [1e6f])];
        AggregationResult result = Complete(Mixed("krum", 1), Set(layout, [0f]), updates);

        Assert.Equal(["far"], result.Excluded);
        Assert.InRange(result.Parameters.Values[0], 0f, 0.7f);
    }

    [Theory]
    [InlineData("krum", 3, 8, "n > 2f + 2")]
    [InlineData("bulyan", 3, 14, "n ≥ 4f + 3")]
    public void Mixing_TooFewUpdates_ThrowsWithTheRulesOwnBound(string name, int f, int n, string rule)
    {
        ParameterLayout layout = Layout(1);
        IAggregationStrategy strategy = Mixed(name, f);
        using IAggregationRound round = strategy.BeginRound(Set(layout, [0f]));
        for (int i = 0; i < n; i++)
        {
            round.Add(Update($"d{i}", layout, [i]));
        }

        InsufficientUpdatesException error = Assert.Throws<InsufficientUpdatesException>(() => round.Complete());
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bucket", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_MixingWithBuckets_IsRefused()
    {
        var options = new AggregationOptions { Strategy = "krum", PreAggregation = PreAggregation.NearestNeighbourMixing, BucketSize = 2 };

        Assert.Contains(options.Validate(), e => e.Contains("cannot be combined", StringComparison.Ordinal));
        Assert.Contains(new AggregationOptions { PreAggregation = (PreAggregation)7 }.Validate(), e => e.Contains("PreAggregation 7 is unknown", StringComparison.Ordinal));
    }

    private static AggregationResult Complete(IAggregationStrategy strategy, ParameterSet global, IEnumerable<ModelUpdate> updates)
    {
        using IAggregationRound round = strategy.BeginRound(global);
        foreach (ModelUpdate update in updates)
        {
            round.Add(update);
        }

        return round.Complete();
    }
}
