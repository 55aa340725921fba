using FedEdge.Aggregation;

namespace FedEdge.Core.Tests.Aggregation;

/// <summary>Builds parameter sets and updates for aggregation tests.</summary>
internal static class Updates
{
    public static ParameterLayout Layout(int length)
    {
        int first = Math.Max(1, length / 2);
        return length == 1
            ? new ParameterLayout(new TensorSpec("fc.weight", 1))
            : new ParameterLayout(new TensorSpec("fc.weight", first), new TensorSpec("fc.bias", length - first));
    }

    public static ParameterSet Set(ParameterLayout layout, float[] values) => new(layout, (float[])values.Clone());

    public static ModelUpdate Update(string sender, ParameterLayout layout, float[] values, long samples = 1, UpdateKind kind = UpdateKind.Parameters, long round = 1, string nonce = "n-1") => new()
    {
        SenderId = sender,
        Round = round,
        Nonce = nonce,
        SampleCount = samples,
        Kind = kind,
        Values = Set(layout, values),
    };

    public static float[] Run(IAggregationStrategy strategy, ParameterSet global, IEnumerable<ModelUpdate> updates)
    {
        using IAggregationRound round = strategy.BeginRound(global);
        foreach (ModelUpdate update in updates)
        {
            round.Add(update);
        }

        return round.Complete().Parameters.Values.ToArray();
    }

    public static bool Close(ReadOnlySpan<float> a, ReadOnlySpan<float> b, double relative = 1e-4, double absolute = 1e-4)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (int i = 0; i < a.Length; i++)
        {
            double tolerance = absolute + (relative * Math.Max(Math.Abs(a[i]), Math.Abs(b[i])));
            if (!(Math.Abs(a[i] - b[i]) <= tolerance))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The robust strategies configured so a round of <paramref name="n"/> updates satisfies their preconditions (f = 1 needs n ≥ 7 for Bulyan).</summary>
    public static IAggregationStrategy Create(string name) => AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = 1, TrimFraction = 0.2 });
}
