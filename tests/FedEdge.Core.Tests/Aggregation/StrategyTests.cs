using FedEdge.Aggregation;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Aggregation;

public sealed class StrategyTests
{
    private static readonly ParameterLayout Two = Layout(2);

    [Fact]
    public void Create_EveryName_MatchesNameAndStreamingFlag()
    {
        string[] robust = ["median", "trimmedmean", "krum", "multikrum", "bulyan"];
        foreach (string name in AggregationStrategies.Names)
        {
            IAggregationStrategy strategy = AggregationStrategies.Create(name.ToUpperInvariant());
            Assert.Equal(name, strategy.Name);
            Assert.Equal(!robust.Contains(name), strategy.IsStreaming);
        }
    }

    [Fact]
    public void Create_UnknownName_ThrowsListingKnownNames()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => AggregationStrategies.Create("fedmagic"));
        Assert.Contains("fedavg", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1.0, 0.1)]
    [InlineData(0.5, 0.5)]
    public void Create_InvalidOptions_Throws(double eta, double trim)
    {
        Assert.Throws<ArgumentException>(() => AggregationStrategies.Create("fedavg", new AggregationOptions { ServerLearningRate = eta, TrimFraction = trim }));
    }

    [Fact]
    public void ConfigureTraining_FedProxAndFedSgd_SetMuAndOneStep_FedAvgLeavesUnchanged()
    {
        var hp = new TrainingHyperParameters { LocalEpochs = 3 };
        Assert.Equal(0.05f, AggregationStrategies.FedProx(0.05).ConfigureTraining(hp).ProximalMu);
        Assert.Equal(1, AggregationStrategies.FedSgd().ConfigureTraining(hp).LocalIterations);
        Assert.Same(hp, AggregationStrategies.FedAvg().ConfigureTraining(hp));
    }

    [Fact]
    public void FedAvg_MixedDeltaAndParameters_SameAsAllParameters()
    {
        float[] global = [1f, -2f];
        float[] a = [3f, 4f];
        float[] b = [-1f, 0f];
        float[] allParameters = Run(AggregationStrategies.FedAvg(), Set(Two, global), [Update("a", Two, a, 3), Update("b", Two, b, 1)]);
        float[] mixed = Run(AggregationStrategies.FedAvg(), Set(Two, global), [Update("a", Two, a, 3), Update("b", Two, [b[0] - global[0], b[1] - global[1]], 1, UpdateKind.Delta)]);
        Assert.Equal([2f, 3f], allParameters);
        Assert.True(Close(allParameters, mixed, 1e-6, 1e-6));
    }

    [Fact]
    public void FedAvgM_TwoRounds_AccumulatesMomentum()
    {
        IAggregationStrategy strategy = AggregationStrategies.FedAvgM(momentum: 0.5, serverLearningRate: 1);
        float[] first = Run(strategy, Set(Two, [0f, 0f]), [Update("a", Two, [1f, 2f], 1, UpdateKind.Delta)]);
        Assert.Equal([1f, 2f], first);

        // v = 0.5·[1, 2] + [1, 1] = [1.5, 2]; w = [1, 2] + v.
        float[] second = Run(strategy, Set(Two, first), [Update("a", Two, [1f, 1f], 1, UpdateKind.Delta)]);
        Assert.Equal([2.5f, 4f], second);
    }

    [Theory]
    [InlineData("fedadam")]
    [InlineData("fedyogi")]
    [InlineData("fedadagrad")]
    public void AdaptiveServer_OneStep_MatchesReddiEtAlFormula(string name)
    {
        const double eta = 0.1, b1 = 0.9, b2 = 0.99, tau = 1e-3;
        IAggregationStrategy strategy = AggregationStrategies.Create(name, new AggregationOptions { ServerLearningRate = eta });
        float[] result = Run(strategy, Set(Two, [1f, 1f]), [Update("a", Two, [0.5f, -2f], 1, UpdateKind.Delta)]);
        for (int j = 0; j < 2; j++)
        {
            double d = j == 0 ? 0.5 : -2.0;
            double v0 = tau * tau;
            double m = (1 - b1) * d;
            double v = name switch
            {
                "fedadam" => (b2 * v0) + ((1 - b2) * d * d),
                "fedyogi" => v0 - ((1 - b2) * d * d * Math.Sign(v0 - (d * d))),
                _ => v0 + (d * d),
            };
            double expected = 1 + (eta * m / (Math.Sqrt(v) + tau));
            Assert.Equal(expected, result[j], 1e-5);
        }
    }

    [Theory]
    [InlineData("fedadam")]
    [InlineData("fedyogi")]
    [InlineData("fedadagrad")]
    [InlineData("fedavgm")]
    public void ExportImportState_AfterRestart_ContinuesIdentically(string name)
    {
        IAggregationStrategy original = AggregationStrategies.Create(name);
        ParameterSet global = Set(Two, [0.3f, -0.7f]);
        float[] after1 = Run(original, global, [Update("a", Two, [0.1f, 0.2f], 5, UpdateKind.Delta), Update("b", Two, [-0.3f, 0.1f], 2, UpdateKind.Delta)]);

        StrategyState state = original.ExportState()!;
        Assert.Equal(name, state.Strategy);
        IAggregationStrategy restored = AggregationStrategies.Create(name);
        restored.ImportState(state);

        ModelUpdate[] next = [Update("a", Two, [0.05f, -0.4f], 3, UpdateKind.Delta)];
        Assert.Equal(Run(original, Set(Two, after1), next), Run(restored, Set(Two, after1), next));
    }

    [Fact]
    public void ImportState_OtherStrategyOrWrongLength_Refused()
    {
        IAggregationStrategy adam = AggregationStrategies.FedAdam();
        Assert.Throws<ArgumentException>(() => adam.ImportState(new StrategyState { Strategy = "fedyogi" }));
        adam.ImportState(new StrategyState { Strategy = "fedadam", Arrays = new Dictionary<string, float[]> { ["m"] = new float[3], ["v"] = new float[3] } });
        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => adam.BeginRound(Set(Two, [0f, 0f])));
        Assert.Contains("3 parameters", error.Message, StringComparison.Ordinal);
        Assert.Null(AggregationStrategies.FedAvg().ExportState());
    }

    [Fact]
    public void Add_LayoutMismatch_ThrowsAndLeavesRoundUnchanged()
    {
        using IAggregationRound round = AggregationStrategies.FedAvg().BeginRound(Set(Two, [0f, 0f]));
        round.Add(Update("a", Two, [2f, 2f]));
        var other = new ParameterLayout(new TensorSpec("fc.weight", 1), new TensorSpec("other", 1));
        Assert.Throws<ArgumentException>(() => round.Add(Update("b", other, [9f, 9f])));
        Assert.Equal(1, round.Count);
        Assert.Equal([2f, 2f], round.Complete().Parameters.Values.ToArray());
        Assert.Throws<InvalidOperationException>(() => round.Complete());
    }

    [Fact]
    public void RobustRound_BeyondMaxUpdates_RefusedWithClearError()
    {
        using IAggregationRound round = AggregationStrategies.Median(maxUpdates: 2).BeginRound(Set(Two, [0f, 0f]));
        round.Add(Update("a", Two, [1f, 1f]));
        round.Add(Update("b", Two, [3f, 3f]));
        AggregationCapacityExceededException error = Assert.Throws<AggregationCapacityExceededException>(() => round.Add(Update("c", Two, [100f, 100f])));
        Assert.Contains("MaxUpdates", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, round.Count);
        Assert.Equal([2f, 2f], round.Complete().Parameters.Values.ToArray());
    }

    [Fact]
    public void Krum_TooFewUpdates_ThrowsThenSucceedsWithMore()
    {
        using IAggregationRound round = AggregationStrategies.Krum(f: 1).BeginRound(Set(Two, [0f, 0f]));
        for (int i = 0; i < 4; i++)
        {
            round.Add(Update($"d{i}", Two, [i * 0.1f, 0f]));
        }

        Assert.Throws<InsufficientUpdatesException>(() => round.Complete());
        round.Add(Update("d4", Two, [50f, 50f]));
        AggregationResult result = round.Complete();
        Assert.Contains("d4", result.Excluded);
    }

    [Fact]
    public void Median_DeltaUpdates_AppliedToGlobal()
    {
        float[] result = Run(AggregationStrategies.Median(), Set(Two, [10f, 10f]), [
            Update("a", Two, [1f, -1f], 1, UpdateKind.Delta),
            Update("b", Two, [2f, -2f], 1, UpdateKind.Delta),
            Update("c", Two, [1000f, 5f], 1, UpdateKind.Delta),
        ]);
        Assert.Equal([12f, 9f], result);
    }

    [Fact]
    public void TrimmedMean_DropsExtremes()
    {
        float[] result = Run(AggregationStrategies.TrimmedMean(0.2), Set(Layout(1), [0f]), [
            Update("a", Layout(1), [1f]), Update("b", Layout(1), [2f]), Update("c", Layout(1), [3f]),
            Update("d", Layout(1), [-1000f]), Update("e", Layout(1), [1000f]),
        ]);
        Assert.Equal([2f], result);
    }

    [Fact]
    public void AddFedEdgeAggregation_ByName_ResolvesConfiguredStrategy()
    {
        var services = new ServiceCollection();
        services.AddFedEdgeAggregation(o => { o.Strategy = "trimmedmean"; o.TrimFraction = 0.25; });
        services.AddFedEdgeAggregation();
        using ServiceProvider provider = services.BuildServiceProvider();
        IAggregationStrategy strategy = provider.GetRequiredService<IAggregationStrategy>();
        Assert.Equal("trimmedmean", strategy.Name);
        Assert.Single(services, d => d.ServiceType == typeof(IAggregationStrategy));
    }

    [Fact]
    public void AddFedEdgeAggregation_InvalidOptions_FailsValidation()
    {
        var services = new ServiceCollection();
        services.AddFedEdgeAggregation(o => o.Strategy = "nonsense");
        using ServiceProvider provider = services.BuildServiceProvider();
        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AggregationOptions>>().Value);
        Assert.Contains("nonsense", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ThirdPartyStrategy_RegisteredFirst_IsKeptAndAggregates()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IAggregationStrategy>(new NormClippedMeanStrategy(clip: 1f));
        services.AddFedEdgeAggregation();
        using ServiceProvider provider = services.BuildServiceProvider();
        IAggregationStrategy strategy = provider.GetRequiredService<IAggregationStrategy>();
        Assert.Equal("clipped-mean", strategy.Name);

        // Deltas of norm 5 and 0.5: the first is clipped to norm 1, then both are averaged (unweighted).
        float[] result = Run(strategy, Set(Two, [0f, 0f]), [Update("a", Two, [3f, 4f], 1, UpdateKind.Delta), Update("b", Two, [0.5f, 0f], 1, UpdateKind.Delta)]);
        Assert.True(Close(result, [0.55f, 0.4f], 1e-6, 1e-6));
        using IAggregationRound empty = strategy.BeginRound(Set(Two, [0f, 0f]));
        Assert.Throws<EmptyRoundException>(() => empty.Complete());
    }

    /// <summary>A third party's strategy, written only against the public port: mean of deltas clipped to an L2 bound.</summary>
    private sealed class NormClippedMeanStrategy(float clip) : IAggregationStrategy
    {
        public string Name => "clipped-mean";

        public bool IsStreaming => true;

        public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null) => new Round(globalParameters, clip);

        public StrategyState? ExportState() => null;

        public void ImportState(StrategyState state) => throw new InvalidOperationException("Stateless.");

        private sealed class Round(ParameterSet global, float clip) : IAggregationRound
        {
            private readonly float[] _sum = new float[global.Length];

            public int Count { get; private set; }

            public void Add(ModelUpdate update)
            {
                float[] delta = update.Values.Values.ToArray();
                if (update.Kind == UpdateKind.Parameters)
                {
                    System.Numerics.Tensors.TensorPrimitives.Subtract(delta, global.Values, delta);
                }

                float norm = System.Numerics.Tensors.TensorPrimitives.Norm<float>(delta);
                float scale = norm > clip ? clip / norm : 1f;
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(delta, scale, _sum, _sum);
                Count++;
            }

            public AggregationResult Complete()
            {
                if (Count == 0)
                {
                    throw new EmptyRoundException();
                }

                var result = new float[_sum.Length];
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(_sum, 1f / Count, global.Values, result);
                return new AggregationResult { Parameters = new ParameterSet(global.Layout, result), Participants = Count };
            }

            public void Dispose()
            {
            }
        }
    }
}
