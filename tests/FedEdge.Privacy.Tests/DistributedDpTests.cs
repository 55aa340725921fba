using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;

namespace FedEdge.Privacy.Tests;

public class DistributedDpTests
{
    [Fact]
    public async Task SecureRound_DistributedNoiseBeforeMasking_SumCarriesCentralNoiseLevel()
    {
        // 12 devices clip their deltas to C = 1 and each add N(0, (zC)²/n) before masking; the
        // securely aggregated sum must equal the plain sum of what they sent (within the stated
        // quantisation bound) and its noise must have the central standard deviation zC.
        const int clients = 12;
        const int length = 20_000;
        const double z = 0.8;
        var options = new DifferentialPrivacyOptions { NoiseMultiplier = z, ClipNorm = 1, Placement = NoisePlacement.Distributed, ExpectedClientsPerRound = clients };
        var cleanSum = new double[length];
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 7, NeighbourCount = 8, ClipRange = 4f },
            ClientCount = clients,
            VectorLength = length,
            Seed = 21,
            Inputs = (id, random) =>
            {
                var layout = new ParameterLayout(new TensorSpec("delta", length));
                var update = new ParameterSet(layout);
                for (int i = 0; i < length; i++)
                {
                    update.Values[i] = (float)((random.NextDouble() - 0.5) * 0.05); // norm ≈ 2 > C, so clipping bites
                }

                var clipped = update.Clone();
                L2Clipping.Clip(clipped.Values, 1);
                for (int i = 0; i < length; i++)
                {
                    cleanSum[i] += clipped.Values[i];
                }

                var transform = new DpUpdateTransform(options, new GaussianNoise(id.GetHashCode(StringComparison.Ordinal)));
                var context = new UpdateTransformContext { Round = 7, SenderId = id };
                transform.Apply(update, context);
                Assert.Equal(0, context.Metrics["dp.unclipped"]);
                return update.Values.ToArray();
            },
        };

        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(abort);
        Assert.Equal(clients, result!.Contributors.Count);

        double[] plain = sim.PlainSum(result.Contributors);
        double sumSq = 0;
        for (int i = 0; i < length; i++)
        {
            Assert.True(Math.Abs(result.Sum[i] - plain[i]) <= result.QuantizationErrorBound + (Math.Abs(plain[i]) * 6e-8), $"coordinate {i}");
            double noise = result.Sum[i] - cleanSum[i];
            sumSq += noise * noise;
        }

        double std = Math.Sqrt(sumSq / length);
        Assert.InRange(std, z * 0.97, z * 1.03);
    }
}

public class SecureAggregationPayloadTests
{
    [Fact]
    public async Task PackedSecureRound_WeightedMeanAndClipCount_MatchPlainComputation()
    {
        const int parameters = 500;
        var weights = new Dictionary<string, float>(StringComparer.Ordinal);
        var bits = new Dictionary<string, bool>(StringComparer.Ordinal);
        var raw = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 5 },
            ClientCount = 8,
            VectorLength = SecureAggregationPayload.VectorLength(parameters, withClipBit: true),
            Inputs = (id, random) =>
            {
                float[] x = Enumerable.Range(0, parameters).Select(_ => (float)((random.NextDouble() * 1.6) - 0.8)).ToArray();
                weights[id] = (float)(0.1 + (0.9 * random.NextDouble()));
                bits[id] = random.NextDouble() < 0.5;
                raw[id] = x;
                return SecureAggregationPayload.Pack(x, weights[id], bits[id]);
            },
        };

        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(abort);
        SecureAggregate aggregate = SecureAggregationPayload.Unpack(result!.Sum, parameters, withClipBit: true);
        double totalWeight = weights.Values.Sum(w => (double)w);
        Assert.Equal(totalWeight, aggregate.TotalWeight, 4);
        Assert.Equal(bits.Values.Count(b => b), aggregate.UnclippedCount);
        for (int i = 0; i < parameters; i++)
        {
            double expected = raw.Sum(kv => (double)kv.Value[i] * weights[kv.Key]) / totalWeight;
            Assert.True(Math.Abs(aggregate.WeightedMean[i] - expected) < 1e-5, $"coordinate {i}: {aggregate.WeightedMean[i]} vs {expected}");
        }
    }

    [Fact]
    public void Pack_WeightOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SecureAggregationPayload.Pack([1f], 2f));
        Assert.Throws<ArgumentException>(() => SecureAggregationPayload.Unpack(new float[3], 5, withClipBit: false));
    }
}
