using FedEdge.Aggregation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>
/// Krum, Multi-Krum and Bulyan after reputation quarantines devices (<see cref="AggregationRoundOptions.QuarantinedDevices"/>):
/// f is lowered only when the rule's bound no longer holds, only to the largest f that fits, and never below f minus the
/// quarantined devices; the result is the rule's with that f, and a validator recomputing without the floor gets the same.
/// </summary>
public sealed class EffectiveByzantineCountTests
{
    private static readonly string[] WithBound = ["krum", "multikrum", "bulyan"];

    private static IAggregationStrategy Strategy(string name, int f, PreAggregation mixing = PreAggregation.None) =>
        AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = f, PreAggregation = mixing });

    private static List<ModelUpdate> Round(int n, ParameterLayout layout) =>
        [.. Enumerable.Range(0, n).Select(i => Update($"dev-{i:00}", layout, [i * 0.5f, (i % 3) - 1f, i == n - 1 ? 40f : i * 0.1f], samples: 1 + i))];

    private static AggregationResult Complete(IAggregationStrategy strategy, ParameterSet global, List<ModelUpdate> updates, int quarantined)
    {
        using IAggregationRound round = strategy.BeginRound(global, new AggregationRoundOptions { Round = 1, QuarantinedDevices = quarantined });
        foreach (ModelUpdate u in updates)
        {
            round.Add(u);
        }

        return round.Complete();
    }

    [Theory]
    [InlineData("bulyan", 3, 16, 0, 3)]
    [InlineData("bulyan", 3, 15, 1, 3)]
    [InlineData("bulyan", 3, 14, 0, null)]
    [InlineData("bulyan", 3, 14, 1, 2)]
    [InlineData("bulyan", 3, 13, 3, 2)]
    [InlineData("bulyan", 3, 10, 1, null)]
    [InlineData("bulyan", 3, 10, 2, 1)]
    [InlineData("bulyan", 3, 4, 3, 0)]
    [InlineData("krum", 3, 9, 0, 3)]
    [InlineData("krum", 3, 8, 0, null)]
    [InlineData("krum", 3, 8, 1, 2)]
    [InlineData("krum", 3, 5, 2, 1)]
    [InlineData("multikrum", 2, 6, 1, 1)]
    public void EffectiveByzantineCount_LowersFOnlyAsFarAsTheBoundNeedsAndTheQuarantinesAllow(string name, int f, int n, int quarantined, int? expected)
    {
        AggregationRequirements r = Strategy(name, f).Requirements;

        Assert.Equal(expected, r.EffectiveByzantineCount(n, quarantined));
        Assert.Equal(expected is null, r.CheckAfterQuarantine(n, quarantined) is not null);
    }

    [Property(MaxTest = 200)]
    public Property EffectiveByzantineCount_IsTheLargestFittingFWithinTheFloor() =>
        Prop.ForAll(
            (from f in Gen.Choose(0, 5)
             from n in Gen.Choose(0, 30)
             from q in Gen.Choose(0, 6)
             from name in Gen.Elements(WithBound)
             select (F: f, N: n, Q: q, Name: name)).ToArbitrary(),
            c =>
        {
            (int f, int n, int q, string name) = c;
            AggregationRequirements r = Strategy(name, f).Requirements;
            int per = name == "bulyan" ? 4 : 2;
            int? fits = Enumerable.Range(Math.Max(0, f - q), f - Math.Max(0, f - q) + 1).Where(x => n >= (per * x) + 3).Select(x => (int?)x).LastOrDefault();
            return (r.EffectiveByzantineCount(n, q) == fits).Label($"{name} f={f} n={n} q={q}: got {r.EffectiveByzantineCount(n, q)}, expected {fits}");
        });

    [Fact]
    public void CheckAfterQuarantine_TooFewEvenForTheFloor_NamesTheFloorAndItsBound()
    {
        string? reason = Strategy("bulyan", 3).Requirements.CheckAfterQuarantine(10, 1);

        Assert.Equal("bulyan with f = 3 needs n ≥ 4f + 3; with 1 device quarantined as faulty f may drop to 2, which needs at least 11 updates, but only 10 can take part.", reason);
        Assert.Equal(Strategy("bulyan", 3).Requirements.Check(10), Strategy("bulyan", 3).Requirements.CheckAfterQuarantine(10, 0));
    }

    [Theory]
    [InlineData("bulyan", PreAggregation.None)]
    [InlineData("bulyan", PreAggregation.NearestNeighbourMixing)]
    [InlineData("krum", PreAggregation.NearestNeighbourMixing)]
    [InlineData("multikrum", PreAggregation.None)]
    public void Round_BelowTheBoundAfterQuarantines_RunsTheRuleWithTheLowerFBitwise(string name, PreAggregation mixing)
    {
        ParameterLayout layout = Layout(3);
        ParameterSet global = Set(layout, [0f, 0f, 0f]);
        int n = name == "bulyan" ? 13 : 8;
        List<ModelUpdate> updates = Round(n, layout);

        AggregationResult lowered = Complete(Strategy(name, 3, mixing), global, updates, quarantined: 3);
        AggregationResult direct = Complete(Strategy(name, 2, mixing), global, updates, quarantined: 0);

        Assert.Equal(2, lowered.ByzantineCount);
        Assert.Equal(2, direct.ByzantineCount);
        Assert.Equal(direct.Parameters.Values.ToArray(), lowered.Parameters.Values.ToArray());
        Assert.Equal(direct.Excluded, lowered.Excluded);

        // A validator recomputes without the floor (it does not know the quarantines): the same f, the same model.
        AggregationResult recomputed = Complete(Strategy(name, 3, mixing), global, updates, quarantined: int.MaxValue);
        Assert.Equal(2, recomputed.ByzantineCount);
        Assert.Equal(lowered.Parameters.ComputeHash(), recomputed.Parameters.ComputeHash());
    }

    [Fact]
    public void Round_BoundHolds_KeepsTheConfiguredFWhateverTheQuarantines()
    {
        ParameterLayout layout = Layout(3);
        ParameterSet global = Set(layout, [0f, 0f, 0f]);
        List<ModelUpdate> updates = Round(15, layout);

        AggregationResult result = Complete(Strategy("bulyan", 3), global, updates, quarantined: 3);

        Assert.Equal(3, result.ByzantineCount);
        Assert.Equal(Complete(Strategy("bulyan", 3), global, updates, quarantined: 0).Parameters.ComputeHash(), result.Parameters.ComputeHash());
    }

    [Fact]
    public void Round_NoQuarantines_TooFewUpdatesStillFailsAsBefore()
    {
        ParameterLayout layout = Layout(3);
        ParameterSet global = Set(layout, [0f, 0f, 0f]);

        InsufficientUpdatesException error = Assert.Throws<InsufficientUpdatesException>(() => Complete(Strategy("bulyan", 3, PreAggregation.NearestNeighbourMixing), global, Round(13, layout), quarantined: 0));

        Assert.Contains("bulyan with f = 3 needs n ≥ 4f + 3, i.e. at least 15 updates, but only 13 can take part.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Round_MedianAndTrimmedMean_HaveNoFToReport()
    {
        ParameterLayout layout = Layout(3);
        ParameterSet global = Set(layout, [0f, 0f, 0f]);

        Assert.Null(Complete(Strategy("median", 3), global, Round(5, layout), quarantined: 2).ByzantineCount);
        Assert.Null(Complete(Strategy("fedavg", 3), global, Round(5, layout), quarantined: 2).ByzantineCount);
    }
}
