using FedEdge.Aggregation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>Each built-in strategy's <see cref="AggregationRequirements"/>, and that the precheck and the run-time check agree.</summary>
public sealed class AggregationRequirementsTests
{
    private static readonly string[] Streaming =
    [
        AggregationStrategies.FedAvgName, AggregationStrategies.FedSgdName, AggregationStrategies.FedAvgMName, AggregationStrategies.FedAdamName,
        AggregationStrategies.FedYogiName, AggregationStrategies.FedAdagradName, AggregationStrategies.FedProxName,
    ];

    private static readonly string[] Byzantine = [AggregationStrategies.KrumName, AggregationStrategies.MultiKrumName, AggregationStrategies.BulyanName];

    private static readonly string[] Robust = [AggregationStrategies.MedianName, AggregationStrategies.TrimmedMeanName, .. Byzantine];

    private static readonly ParameterLayout Three = Layout(3);

    [Fact]
    public void Requirements_StreamingStrategies_WorkOnTheSumFromOneUpdate()
    {
        foreach (string name in Streaming)
        {
            AggregationRequirements r = AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = 3 }).Requirements;
            Assert.Equal(name, r.Strategy);
            Assert.False(r.NeedsIndividualUpdates, name);
            Assert.Equal(1, r.MinimumUpdates);
            Assert.Equal(0, r.ByzantineTolerance);
            Assert.Null(r.Check(1));
            Assert.Null(r.CheckSecureAggregation());
        }
    }

    [Fact]
    public void Requirements_MedianAndTrimmedMean_NeedIndividualUpdatesButOnlyOne()
    {
        foreach (string name in new[] { AggregationStrategies.MedianName, AggregationStrategies.TrimmedMeanName })
        {
            AggregationRequirements r = AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = 2, TrimFraction = 0.49 }).Requirements;
            Assert.True(r.NeedsIndividualUpdates, name);
            Assert.Equal(1, r.MinimumUpdates);
            Assert.Equal(0, r.ByzantineTolerance);
            Assert.Equal("n ≥ 1", r.Rule);
            Assert.Null(r.Check(1));
            Assert.Equal($"{name} needs n ≥ 1, i.e. at least 1 update, but none can take part.", r.Check(0));
        }
    }

    [Property(MaxTest = 30)]
    public Property Requirements_ByzantineStrategies_ReportTheirBoundForF() =>
        Prop.ForAll(Gen.Choose(0, 5).ToArbitrary(), f =>
        {
            var options = new AggregationOptions { ByzantineCount = f };
            AggregationRequirements krum = AggregationStrategies.Create(AggregationStrategies.KrumName, options).Requirements;
            AggregationRequirements multi = AggregationStrategies.Create(AggregationStrategies.MultiKrumName, options).Requirements;
            AggregationRequirements bulyan = AggregationStrategies.Create(AggregationStrategies.BulyanName, options).Requirements;
            return (krum.MinimumUpdates == (2 * f) + 3 && krum.Rule == "n > 2f + 2" && krum.ByzantineTolerance == f && krum.NeedsIndividualUpdates
                    && multi.MinimumUpdates == (2 * f) + 3 && multi.Rule == "n > 2f + 2" && multi.ByzantineTolerance == f && multi.NeedsIndividualUpdates
                    && bulyan.MinimumUpdates == (4 * f) + 3 && bulyan.Rule == "n ≥ 4f + 3" && bulyan.ByzantineTolerance == f && bulyan.NeedsIndividualUpdates)
                .Label($"f={f}: krum {krum}, multikrum {multi}, bulyan {bulyan}");
        });

    /// <summary>At n = minimum − 1 both the precheck and the round refuse, with the same sentence; at n = minimum both accept.</summary>
    [Property(MaxTest = 40)]
    public Property Check_AgreesWithTheRoundsRunTimeBoundary() =>
        Prop.ForAll(Gen.Choose(0, 5).ToArbitrary(), Gen.Elements(Robust).ToArbitrary(), Gen.Choose(0, 49).ToArbitrary(), (f, name, trimHundredths) =>
        {
            IAggregationStrategy strategy = AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = f, TrimFraction = trimHundredths / 100.0 });
            AggregationRequirements r = strategy.Requirements;
            int min = r.MinimumUpdates;

            string? atMinimum = r.Check(min);
            AggregationResult result = Complete(strategy, min);
            bool acceptsMinimum = atMinimum is null && result.Participants == min;
            if (min == 1)
            {
                // One update below is an empty round, which every strategy refuses as such.
                return (acceptsMinimum && r.Check(0) is not null && Throws<EmptyRoundException>(strategy, 0) is not null).Label($"{name} f={f}");
            }

            string? below = r.Check(min - 1);
            InsufficientUpdatesException? thrown = Throws<InsufficientUpdatesException>(strategy, min - 1);
            return (acceptsMinimum && below is not null && thrown is not null && thrown.Message.StartsWith(below, StringComparison.Ordinal))
                .Label($"{name} f={f}: check '{below}', round '{thrown?.Message}'");
        });

    [Fact]
    public void Check_KrumWithFOneAndFourDevices_SaysWhatItNeeds()
    {
        AggregationRequirements r = AggregationStrategies.Krum(f: 1).Requirements;
        Assert.Equal("krum with f = 1 needs n > 2f + 2, i.e. at least 5 updates, but only 4 can take part.", r.Check(4));
        Assert.Null(r.Check(5));
        Assert.Null(r.Check(50));
    }

    [Theory]
    [InlineData(AggregationStrategies.KrumName)]
    [InlineData(AggregationStrategies.MultiKrumName)]
    [InlineData(AggregationStrategies.BulyanName)]
    public void Create_ByzantineCountZero_AcceptedAndAggregatesThreeUpdates(string name)
    {
        IAggregationStrategy strategy = AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = 0 });
        Assert.Equal(3, strategy.Requirements.MinimumUpdates);
        float[] result = Run(strategy, Set(Three, [0f, 0f, 0f]), [
            Update("a", Three, [1f, 1f, 1f]),
            Update("b", Three, [1.1f, 1.1f, 1.1f]),
            Update("c", Three, [0.9f, 0.9f, 0.9f]),
        ]);
        Assert.All(result, v => Assert.InRange(v, 0.9f, 1.1f));
    }

    [Fact]
    public void CheckSecureAggregation_RobustStrategy_ExplainsWhyTheSumIsNotEnough()
    {
        foreach (string name in Robust)
        {
            string? reason = AggregationStrategies.Create(name).Requirements.CheckSecureAggregation();
            Assert.NotNull(reason);
            Assert.StartsWith(name + " needs each device's update on its own", reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ThrowIfUnmet_TooFewDevices_ThrowsConfigurationExceptionWithTheRequirements()
    {
        AggregationRequirements r = AggregationStrategies.Bulyan(f: 1).Requirements;
        r.ThrowIfUnmet(7);
        AggregationConfigurationException error = Assert.Throws<AggregationConfigurationException>(() => r.ThrowIfUnmet(6));
        Assert.Equal("bulyan with f = 1 needs n ≥ 4f + 3, i.e. at least 7 updates, but only 6 can take part.", error.Message);
        Assert.Same(r, error.Requirements);
    }

    [Fact]
    public void Create_MaxUpdatesBelowTheBound_RefusedAsInvalidOptions()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => AggregationStrategies.Krum(f: 2, maxUpdates: 6));
        Assert.Contains("at least 7 updates (n > 2f + 2)", error.Message, StringComparison.Ordinal);
        Assert.Equal(7, AggregationStrategies.Krum(f: 2, maxUpdates: 7).Requirements.MinimumUpdates);
    }

    [Fact]
    public void Requirements_ThirdPartyStrategyWithoutOverride_DefaultsToNone()
    {
        IAggregationStrategy custom = new SumOnlyStrategy();
        Assert.Same(AggregationRequirements.None, custom.Requirements);
        Assert.False(custom.Requirements.NeedsIndividualUpdates);
        Assert.Equal(1, custom.Requirements.MinimumUpdates);
        Assert.Equal("the strategy needs n ≥ 1, i.e. at least 1 update, but none can take part.", custom.Requirements.Check(0));
    }

    [Fact]
    public void Requirements_InvalidValues_Refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AggregationRequirements { MinimumUpdates = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new AggregationRequirements { ByzantineTolerance = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => AggregationRequirements.None.Check(-1));
    }

    private static AggregationResult Complete(IAggregationStrategy strategy, int n)
    {
        using IAggregationRound round = strategy.BeginRound(Set(Three, [0f, 0f, 0f]));
        for (int i = 0; i < n; i++)
        {
            round.Add(Update($"dev-{i}", Three, [i * 0.01f, -i * 0.02f, 1f + (i * 0.03f)]));
        }

        return round.Complete();
    }

    private static TException? Throws<TException>(IAggregationStrategy strategy, int n)
        where TException : Exception
    {
        try
        {
            Complete(strategy, n);
            return null;
        }
        catch (TException ex)
        {
            return ex;
        }
    }

    /// <summary>A third-party strategy that does not override <see cref="IAggregationStrategy.Requirements"/>.</summary>
    private sealed class SumOnlyStrategy : IAggregationStrategy
    {
        public string Name => "sum-only";

        public bool IsStreaming => true;

        public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null) =>
            AggregationStrategies.FedAvg().BeginRound(globalParameters, options);

        public StrategyState? ExportState() => null;

        public void ImportState(StrategyState state) => throw new InvalidOperationException("Stateless.");
    }
}
