using FedEdge.Aggregation;
using FedEdge.Testing;

namespace FedEdge.Core.Tests;

/// <summary>FedEdge.Testing's strategy conformance suite against every shipped aggregation strategy.</summary>
public sealed class StrategyConformanceTests
{
    /// <summary>Each built-in strategy, configured as a federation would use it, and what it claims.</summary>
    private static readonly Dictionary<string, (Func<IAggregationStrategy> Create, StrategyClaims Claims)> Shipped = new(StringComparer.Ordinal)
    {
        [AggregationStrategies.FedAvgName] = (AggregationStrategies.FedAvg, new StrategyClaims()),
        [AggregationStrategies.FedSgdName] = (() => AggregationStrategies.FedSgd(), new StrategyClaims()),
        [AggregationStrategies.FedProxName] = (() => AggregationStrategies.FedProx(0.1), new StrategyClaims()),
        [AggregationStrategies.FedAvgMName] = (() => AggregationStrategies.FedAvgM(), new StrategyClaims { ConvexCombination = false }),
        [AggregationStrategies.FedAdamName] = (() => AggregationStrategies.FedAdam(), new StrategyClaims { ConvexCombination = false }),
        [AggregationStrategies.FedYogiName] = (() => AggregationStrategies.FedYogi(), new StrategyClaims { ConvexCombination = false }),
        [AggregationStrategies.FedAdagradName] = (() => AggregationStrategies.FedAdagrad(), new StrategyClaims { ConvexCombination = false }),
        [AggregationStrategies.MedianName] = (() => AggregationStrategies.Median(), new StrategyClaims()),
        [AggregationStrategies.TrimmedMeanName] = (() => AggregationStrategies.TrimmedMean(0.2), new StrategyClaims()),
        [AggregationStrategies.KrumName] = (() => AggregationStrategies.Krum(1), new StrategyClaims()),
        [AggregationStrategies.MultiKrumName] = (() => AggregationStrategies.MultiKrum(1), new StrategyClaims()),
        [AggregationStrategies.BulyanName] = (() => AggregationStrategies.Bulyan(1), new StrategyClaims()),
    };

    public static TheoryData<string> Names
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (string name in AggregationStrategies.Names)
            {
                data.Add(name);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ShippedStrategy_PassesStrategyConformance(string name)
    {
        Assert.True(Shipped.TryGetValue(name, out var entry), $"The built-in strategy '{name}' has no conformance entry; add one.");
        IReadOnlyList<string> ran = StrategyConformance.RunAll(entry.Create, entry.Claims);
        Assert.Equal(entry.Claims.ConvexCombination ? 5 : 4, ran.Count);
    }

    [Fact]
    public void Suite_OnAStrategyThatKeepsNaN_FailsNamingTheCheck()
    {
        var error = Assert.Throws<ConformanceException>(() => StrategyConformance.NonFiniteUpdateIsRefused(() => new LastWins()));
        Assert.Equal("NonFiniteUpdateIsRefused", error.Check);
    }

    [Fact]
    public void Suite_OnAnOrderDependentStrategy_FailsPermutationInvariance()
    {
        var error = Assert.Throws<ConformanceException>(() => StrategyConformance.OrderDoesNotMatter(() => new LastWins()));
        Assert.Equal("OrderDoesNotMatter", error.Check);
    }

    [Fact]
    public void Suite_OnAStrategyThatDoublesTheMean_FailsWeightsSumToOne()
    {
        var error = Assert.Throws<ConformanceException>(() => StrategyConformance.WeightsSumToOne(() => new Scaled(AggregationStrategies.FedAvg(), 2f)));
        Assert.Equal("WeightsSumToOne", error.Check);
    }

    [Fact]
    public void Suite_OnAStrategyWhoseEmptyRoundReturnsTheGlobalModel_FailsEmptyRound()
    {
        var error = Assert.Throws<ConformanceException>(() => StrategyConformance.EmptyRoundIsTypedError(() => new LastWins()));
        Assert.Equal("EmptyRoundIsTypedError", error.Check);
    }

    /// <summary>A broken strategy: the last update added wins, NaN included; an empty round returns the global model.</summary>
    private sealed class LastWins : IAggregationStrategy
    {
        public string Name => "last-wins";

        public bool IsStreaming => true;

        public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null) => new Round(globalParameters);

        public StrategyState? ExportState() => null;

        public void ImportState(StrategyState state)
        {
        }

        private sealed class Round(ParameterSet global) : IAggregationRound
        {
            private ParameterSet _last = global;

            public int Count { get; private set; }

            public void Add(ModelUpdate update)
            {
                _last = update.Values;
                Count++;
            }

            public AggregationResult Complete() => new() { Parameters = _last, Participants = Count };

            public void Dispose()
            {
            }
        }
    }

    /// <summary>A broken strategy: a correct one's result times a factor.</summary>
    private sealed class Scaled(IAggregationStrategy inner, float factor) : IAggregationStrategy
    {
        public string Name => "scaled";

        public bool IsStreaming => inner.IsStreaming;

        public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null) => new Round(inner.BeginRound(globalParameters, options), factor);

        public StrategyState? ExportState() => null;

        public void ImportState(StrategyState state)
        {
        }

        private sealed class Round(IAggregationRound round, float factor) : IAggregationRound
        {
            public int Count => round.Count;

            public void Add(ModelUpdate update) => round.Add(update);

            public AggregationResult Complete()
            {
                AggregationResult result = round.Complete();
                float[] values = result.Parameters.Values.ToArray();
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] *= factor;
                }

                return result with { Parameters = new ParameterSet(result.Parameters.Layout, values) };
            }

            public void Dispose() => round.Dispose();
        }
    }
}
