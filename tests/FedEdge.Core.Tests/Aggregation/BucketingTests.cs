using FedEdge.Aggregation;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>
/// <see cref="AggregationOptions.BucketSize"/>: the robust rules over bucket means. The non-IID round mimics the
/// N-BaIoT demo split into 16 devices: 6 devices with benign rows move a coordinate by −1, 7 attack-only devices that
/// the model already fits move it by +0.01, and 3 attackers push +1.
/// </summary>
public sealed class BucketingTests
{
    private static readonly ParameterLayout One = Layout(1);

    private static List<ModelUpdate> NonIidRound(float global)
    {
        var updates = new List<ModelUpdate>();
        for (int i = 0; i < 6; i++)
        {
            updates.Add(Update($"benign-{i}", One, [global - 1f]));
        }

        for (int i = 0; i < 7; i++)
        {
            updates.Add(Update($"fitted-{i}", One, [global + 0.01f]));
        }

        for (int i = 0; i < 3; i++)
        {
            updates.Add(Update($"attacker-{i}", One, [global + 1f]));
        }

        return updates;
    }

    private static IAggregationStrategy Robust(string name, int bucket, int f = 3) =>
        AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = f, BucketSize = bucket });

    [Fact]
    public void Median_NonIidRoundWithAttackers_PlainMedianFollowsTheMajorityWhileBucketsMostlyFollowTheInformativeDevices()
    {
        int plainTowardsBenign = 0, bucketedTowardsBenign = 0;
        const int Rounds = 200;
        for (int t = 0; t < Rounds; t++)
        {
            // Another global model each round gives another (seeded) shuffle of the buckets.
            float global = t * 0.001f;
            var g = Set(One, [global]);
            plainTowardsBenign += Run(Robust("median", 1), g, NonIidRound(global))[0] < global ? 1 : 0;
            bucketedTowardsBenign += Run(Robust("median", 2), g, NonIidRound(global))[0] < global ? 1 : 0;
        }

        Assert.Equal(0, plainTowardsBenign);

        // Two in three random pairings put more benign than attacker pairs below the middle (exact: 0.66).
        Assert.InRange(bucketedTowardsBenign, Rounds * 55 / 100, Rounds);
    }

    [Theory]
    [InlineData("median", 2)]
    [InlineData("trimmedmean", 3)]
    [InlineData("krum", 2)]
    [InlineData("multikrum", 2)]
    [InlineData("bulyan", 1)]
    public void Bucketing_ArrivalOrder_DoesNotChangeTheResult(string name, int bucket)
    {
        var random = new Random(7);
        ParameterLayout layout = Layout(8);
        var g = Set(layout, new float[8]);
        List<ModelUpdate> updates = Enumerable.Range(0, 16)
            .Select(i => Update($"d{i:00}", layout, Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray(), samples: 1 + i))
            .ToList();
        IAggregationStrategy strategy = Robust(name, bucket, f: 1);

        float[] forward = Run(strategy, g, updates);
        float[] backward = Run(strategy, g, Enumerable.Reverse(updates));

        Assert.Equal(forward, backward);
    }

    [Fact]
    public void Median_OneBucketHoldingEveryUpdate_IsThePlainMean()
    {
        var g = Set(One, [0f]);
        float[] result = Run(Robust("median", 16), g, NonIidRound(0f));

        Assert.Equal((6 * -1f + 7 * 0.01f + 3 * 1f) / 16, result[0], 4);
    }

    [Fact]
    public void Krum_WithBuckets_NeedsItsBoundOverTheBucketsAndSaysSo()
    {
        IAggregationStrategy strategy = Robust("krum", 2);

        Assert.Equal(17, strategy.Requirements.MinimumUpdates);
        Assert.Contains("buckets", strategy.Requirements.Check(16), StringComparison.Ordinal);
        Assert.Null(strategy.Requirements.Check(17));
        using IAggregationRound round = strategy.BeginRound(Set(One, [0f]));
        foreach (ModelUpdate u in NonIidRound(0f))
        {
            round.Add(u);
        }

        Assert.Throws<InsufficientUpdatesException>(() => round.Complete());
    }

    [Fact]
    public void Krum_WithBuckets_ExcludesEveryMemberOfTheBucketsItDrops()
    {
        ParameterLayout layout = Layout(2);
        var g = Set(layout, [0f, 0f]);
        var updates = Enumerable.Range(0, 9).Select(i => Update($"h{i}", layout, [1f + (i * 0.01f), 1f])).ToList();
        updates.Add(Update("evil", layout, [1000f, -1000f]));
        using IAggregationRound round = Robust("krum", 2, f: 1).BeginRound(g);
        foreach (ModelUpdate u in updates)
        {
            round.Add(u);
        }

        AggregationResult result = round.Complete();

        Assert.Equal(10, result.Participants);
        Assert.Equal(8, result.Excluded.Count); // five buckets of two, one chosen
        Assert.Contains("evil", result.Excluded);
        Assert.InRange(result.Parameters.Values[0], 1f, 1.1f);
    }

    [Fact]
    public void Validate_BucketSizeBelowOne_IsReported()
    {
        IReadOnlyList<string> errors = new AggregationOptions { BucketSize = 0 }.Validate();

        Assert.Contains(errors, e => e.Contains("BucketSize", StringComparison.Ordinal));
    }
}
