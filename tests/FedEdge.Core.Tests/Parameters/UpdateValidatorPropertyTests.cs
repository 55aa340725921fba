using FedEdge.Aggregation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static FedEdge.Core.Tests.Aggregation.Updates;

namespace FedEdge.Core.Tests.Parameters;

/// <summary>A refused update never touches the aggregate, whatever mix of good and bad updates arrives.</summary>
public sealed class UpdateValidatorPropertyTests
{
    private const int Dimension = 6;
    private static readonly ParameterLayout Model = Layout(Dimension);

    /// <summary>Defect 0 is none; 1 wrong round, 2 wrong nonce, 3 NaN, 4 infinity, 5 zero samples, 6 other layout, 7 none either (a client id that repeats is a duplicate sender).</summary>
    public sealed record Arrival(int Client, int Defect, float[] Values, int Samples);

    private static readonly Gen<Arrival> Arrivals =
        from client in Gen.Choose(0, 9)
        from defect in Gen.Frequency((6, Gen.Constant(0)), (4, Gen.Choose(1, 7)))
        from values in Gen.ArrayOf(Gen.Choose(-5000, 5000).Select(i => i / 100f), Dimension)
        from samples in Gen.Choose(1, 500)
        select new Arrival(client, defect, values, samples);

    [Property(MaxTest = 200)]
    public Property ValidateAndAdd_MixedArrivals_AggregateEqualsFedAvgOfAcceptedOnly() =>
        Prop.ForAll(Gen.NonEmptyListOf(Arrivals).ToArbitrary(), arrivals =>
        {
            var validator = new UpdateValidator(new RoundExpectations { Round = 3, Nonce = "r3", Layout = Model });
            using IAggregationRound round = AggregationStrategies.FedAvg().BeginRound(new ParameterSet(Model));
            var accepted = new List<(float[] Values, int Samples)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (Arrival a in arrivals)
            {
                string sender = $"dev-{a.Client}";
                float[] values = (float[])a.Values.Clone();
                ModelUpdate update = Update(sender, Model, values, a.Samples, UpdateKind.Parameters, 3, "r3");
                update = a.Defect switch
                {
                    1 => update with { Round = 2 },
                    2 => update with { Nonce = "r2" },
                    3 => update with { Values = WithValue(values, float.NaN) },
                    4 => update with { Values = WithValue(values, float.PositiveInfinity) },
                    5 => update with { SampleCount = 0 },
                    6 => update with { Values = Set(new ParameterLayout(new TensorSpec("other", Dimension)), values) },
                    _ => update,
                };

                UpdateValidationResult result = validator.ValidateAndAdd(update, round);
                bool shouldAccept = a.Defect is 0 or 7 && !seen.Contains(sender);
                if (result.IsAccepted != shouldAccept)
                {
                    return false.Label($"{sender} defect {a.Defect}: {result.Reason} {result.Message}");
                }

                if (result.IsAccepted)
                {
                    seen.Add(sender);
                    accepted.Add((a.Values, a.Samples));
                }
            }

            if (accepted.Count == 0)
            {
                return (round.Count == 0).Label("nothing accepted but the round has updates");
            }

            double total = accepted.Sum(x => (double)x.Samples);
            float[] expected = Enumerable.Range(0, Dimension).Select(j => (float)(accepted.Sum(x => x.Samples * (double)x.Values[j]) / total)).ToArray();
            return (round.Count == accepted.Count && Close(round.Complete().Parameters.Values, expected, 1e-4, 1e-3)).Label("aggregate differs from FedAvg of the accepted updates");
        });

    private static ParameterSet WithValue(float[] values, float bad)
    {
        float[] copy = (float[])values.Clone();
        copy[copy.Length / 2] = bad;
        return Set(Model, copy);
    }
}
