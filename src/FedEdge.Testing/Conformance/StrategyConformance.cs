using System.Globalization;
using FedEdge.Aggregation;

namespace FedEdge.Testing;

/// <summary>What an aggregation strategy claims, so <see cref="StrategyConformance"/> checks only what holds for it.</summary>
public sealed class StrategyClaims
{
    /// <summary>The order in which a round's updates arrive does not change the result (true for every built-in strategy).</summary>
    public bool PermutationInvariant { get; init; } = true;

    /// <summary>
    /// Each coordinate of the result is a weighted mean of the updates' coordinates with non-negative weights that sum to 1
    /// (FedAvg, median, trimmed mean, Krum, ...): it lies between the smallest and largest update, and identical updates
    /// give that update back. Server optimisers with state (FedAdam, FedYogi, FedAdagrad, FedAvgM) do not claim it.
    /// </summary>
    public bool ConvexCombination { get; init; } = true;
}

/// <summary>
/// The contract every FedEdge aggregation strategy keeps, as checks a third party runs against its own
/// <see cref="IAggregationStrategy"/> from any test framework. Each check takes a factory (a fresh strategy per use, as
/// strategies may keep server state) and throws <see cref="ConformanceException"/> naming the broken contract. A round
/// holds <c>max(7, Requirements.MinimumUpdates)</c> updates, so Byzantine-robust strategies get the n they need.
/// </summary>
public static class StrategyConformance
{
    private const int Length = 257;

    /// <summary>Runs every check that <paramref name="claims"/> make applicable; returns the names of those that ran.</summary>
    public static IReadOnlyList<string> RunAll(Func<IAggregationStrategy> create, StrategyClaims? claims = null)
    {
        ArgumentNullException.ThrowIfNull(create);
        claims ??= new StrategyClaims();
        var ran = new List<string>();
        EmptyRoundIsTypedError(create);
        ran.Add(nameof(EmptyRoundIsTypedError));
        NonFiniteUpdateIsRefused(create);
        ran.Add(nameof(NonFiniteUpdateIsRefused));
        AgreementKeepsTheGlobalModel(create);
        ran.Add(nameof(AgreementKeepsTheGlobalModel));
        if (claims.PermutationInvariant)
        {
            OrderDoesNotMatter(create);
            ran.Add(nameof(OrderDoesNotMatter));
        }

        if (claims.ConvexCombination)
        {
            WeightsSumToOne(create);
            ran.Add(nameof(WeightsSumToOne));
        }

        return ran;
    }

    /// <summary>Completing a round with no update throws <see cref="EmptyRoundException"/>, as <see cref="IAggregationRound.Complete"/> documents.</summary>
    public static void EmptyRoundIsTypedError(Func<IAggregationStrategy> create)
    {
        const string check = "EmptyRoundIsTypedError";
        IAggregationStrategy strategy = Create(create, check);
        using IAggregationRound round = strategy.BeginRound(Global());
        try
        {
            round.Complete();
        }
        catch (EmptyRoundException)
        {
            return;
        }
        catch (Exception ex)
        {
            throw new ConformanceException(check, $"'{strategy.Name}' completed an empty round with {ex.GetType().Name}, not EmptyRoundException: {ex.Message}", ex);
        }

        throw new ConformanceException(check, $"'{strategy.Name}' completed a round without updates instead of refusing it.");
    }

    /// <summary>
    /// An update holding NaN, +∞ or −∞ is refused with an <see cref="ArgumentException"/> when added, and leaves no trace:
    /// the round's result equals that of the same round without it.
    /// </summary>
    public static void NonFiniteUpdateIsRefused(Func<IAggregationStrategy> create)
    {
        const string check = "NonFiniteUpdateIsRefused";
        IAggregationStrategy strategy = Create(create, check);
        ParameterSet global = Global();
        ModelUpdate[] updates = Updates(global, Count(strategy), seed: 11);
        using IAggregationRound round = strategy.BeginRound(global);
        foreach ((string what, float value) in new[] { ("NaN", float.NaN), ("+infinity", float.PositiveInfinity), ("-infinity", float.NegativeInfinity) })
        {
            ModelUpdate hostile = updates[0] with { SenderId = "hostile", Values = WithValueAt(updates[0].Values, Length / 2, value) };
            try
            {
                round.Add(hostile);
            }
            catch (ArgumentException)
            {
                continue;
            }
            catch (Exception ex)
            {
                throw new ConformanceException(check, $"'{strategy.Name}' refused an update holding {what} with {ex.GetType().Name}, not an ArgumentException: {ex.Message}", ex);
            }

            throw new ConformanceException(check, $"'{strategy.Name}' accepted an update holding {what}.");
        }

        Expect(check, round.Count == 0, $"'{strategy.Name}' counts {round.Count} refused updates in the round.");
        foreach (ModelUpdate update in updates)
        {
            round.Add(update);
        }

        float[] result = round.Complete().Parameters.Values.ToArray();
        float[] clean = Aggregate(create, global, updates);
        Compare(check, strategy.Name, clean, result, "a round that refused non-finite updates differs from the same round without them");
    }

    /// <summary>When every update equals the global parameters (or is a zero delta), the new global parameters are the old ones.</summary>
    public static void AgreementKeepsTheGlobalModel(Func<IAggregationStrategy> create)
    {
        const string check = "AgreementKeepsTheGlobalModel";
        IAggregationStrategy probe = Create(create, check);
        ParameterSet global = Global();
        int n = Count(probe);
        ModelUpdate[] same = Enumerable.Range(0, n).Select(i => Update(i, new ParameterSet(global.Layout, global.Values.ToArray()), UpdateKind.Parameters)).ToArray();
        Compare(check, probe.Name, global.Values.ToArray(), Aggregate(create, global, same), "updates equal to the global parameters moved them");
        ModelUpdate[] zero = Enumerable.Range(0, n).Select(i => Update(i, new ParameterSet(global.Layout), UpdateKind.Delta)).ToArray();
        Compare(check, probe.Name, global.Values.ToArray(), Aggregate(create, global, zero), "zero deltas moved the global parameters");
    }

    /// <summary>The same updates in another order give the same result (within float rounding).</summary>
    public static void OrderDoesNotMatter(Func<IAggregationStrategy> create)
    {
        const string check = "OrderDoesNotMatter";
        IAggregationStrategy probe = Create(create, check);
        ParameterSet global = Global();
        ModelUpdate[] updates = Updates(global, Count(probe), seed: 23);
        float[] forward = Aggregate(create, global, updates);
        Compare(check, probe.Name, forward, Aggregate(create, global, updates.Reverse().ToArray()), "reversing the order of the updates changed the result");
        ModelUpdate[] shuffled = updates.ToArray();
        new Random(5).Shuffle(shuffled);
        Compare(check, probe.Name, forward, Aggregate(create, global, shuffled), "shuffling the updates changed the result");
    }

    /// <summary>
    /// The weights are non-negative and sum to one: every coordinate of the result lies between the updates' smallest and
    /// largest value there, and identical updates (with different sample counts) give that update back.
    /// </summary>
    public static void WeightsSumToOne(Func<IAggregationStrategy> create)
    {
        const string check = "WeightsSumToOne";
        IAggregationStrategy probe = Create(create, check);
        ParameterSet global = Global();
        ModelUpdate[] updates = Updates(global, Count(probe), seed: 31);
        float[] result = Aggregate(create, global, updates);
        for (int j = 0; j < result.Length; j++)
        {
            float low = updates.Min(u => u.Values.Values[j]);
            float high = updates.Max(u => u.Values.Values[j]);
            float slack = 1e-5f * Math.Max(1f, Math.Max(Math.Abs(low), Math.Abs(high)));
            Expect(check, result[j] >= low - slack && result[j] <= high + slack,
                $"'{probe.Name}' put coordinate {j.ToString(CultureInfo.InvariantCulture)} at {result[j].ToString(CultureInfo.InvariantCulture)}, outside the updates' range [{low.ToString(CultureInfo.InvariantCulture)}, {high.ToString(CultureInfo.InvariantCulture)}].");
        }

        ParameterSet target = Updates(global, 1, seed: 37)[0].Values;
        ModelUpdate[] identical = Enumerable.Range(0, updates.Length).Select(i => Update(i, new ParameterSet(global.Layout, target.Values.ToArray()), UpdateKind.Parameters)).ToArray();
        Compare(check, probe.Name, target.Values.ToArray(), Aggregate(create, global, identical), "identical updates did not give that update back");
    }

    private static IAggregationStrategy Create(Func<IAggregationStrategy> create, string check)
    {
        ArgumentNullException.ThrowIfNull(create);
        return create() ?? throw new ConformanceException(check, "the factory returned null.");
    }

    private static int Count(IAggregationStrategy strategy) => Math.Max(7, strategy.Requirements.MinimumUpdates);

    private static float[] Aggregate(Func<IAggregationStrategy> create, ParameterSet global, IEnumerable<ModelUpdate> updates)
    {
        IAggregationStrategy strategy = create();
        using IAggregationRound round = strategy.BeginRound(global, new AggregationRoundOptions { Round = 1 });
        foreach (ModelUpdate update in updates)
        {
            round.Add(update);
        }

        return round.Complete().Parameters.Values.ToArray();
    }

    private static void Compare(string check, string strategy, float[] expected, float[] actual, string what)
    {
        Expect(check, expected.Length == actual.Length, $"'{strategy}' returned {actual.Length} values for {expected.Length} parameters.");
        for (int j = 0; j < expected.Length; j++)
        {
            float tolerance = 1e-4f * Math.Max(1f, Math.Abs(expected[j]));
            if (!(Math.Abs(expected[j] - actual[j]) <= tolerance))
            {
                throw new ConformanceException(check, $"'{strategy}': {what} (coordinate {j.ToString(CultureInfo.InvariantCulture)}: expected {expected[j].ToString(CultureInfo.InvariantCulture)}, got {actual[j].ToString(CultureInfo.InvariantCulture)}).");
            }
        }
    }

    private static void Expect(string check, bool condition, string message)
    {
        if (!condition)
        {
            throw new ConformanceException(check, message);
        }
    }

    private static ParameterSet Global()
    {
        var set = new ParameterSet(new ParameterLayout(new TensorSpec("conformance.weight", Length - 7), new TensorSpec("conformance.bias", 7)));
        Span<float> values = set.Values;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)Math.Cos(i * 0.11);
        }

        return set;
    }

    private static ModelUpdate[] Updates(ParameterSet global, int count, int seed)
    {
        var random = new Random(seed);
        var updates = new ModelUpdate[count];
        for (int i = 0; i < count; i++)
        {
            var values = new float[global.Length];
            for (int j = 0; j < values.Length; j++)
            {
                values[j] = global.Values[j] + (float)((random.NextDouble() * 2) - 1);
            }

            updates[i] = Update(i, new ParameterSet(global.Layout, values), UpdateKind.Parameters);
        }

        return updates;
    }

    private static ModelUpdate Update(int index, ParameterSet values, UpdateKind kind) => new()
    {
        SenderId = "conformance-" + index.ToString(CultureInfo.InvariantCulture),
        Round = 1,
        Nonce = "conformance-nonce",
        SampleCount = 10 * (index + 1),
        Kind = kind,
        Values = values,
    };

    private static ParameterSet WithValueAt(ParameterSet source, int index, float value)
    {
        float[] values = source.Values.ToArray();
        values[index] = value;
        return new ParameterSet(source.Layout, values);
    }
}
