using FedEdge.Data;
using FedEdge.Privacy;
using FedEdge.Privacy.SecureAggregation;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// Round 0 under <c>--secure-aggregation</c>: the devices' summaries go through FedEdge.Privacy's secure aggregation
/// (pairwise masks, Shamir-shared seeds; every message encoded and decoded with its wire codec), so the coordinator
/// learns only the element-wise sum over the admitted devices, never one device's summary.
/// <list type="bullet">
/// <item>Normaliser: minima and maxima are not sums, so each device sends a mergeable sketch instead. Per feature it
/// sets 1 in every bin of a fixed, data-independent grid that holds at least one of its values. The grid has
/// 4 bins per octave of magnitude from 2^-40 to 2^64 on each sign, plus a zero bin. The sum tells the coordinator, per
/// bin, how many devices have values there. The range runs from the lower edge of the lowest occupied bin to the upper
/// edge of the highest: it contains every value and is at most 2^0.25 (19 %) wider in magnitude than the exact min–max.</item>
/// <item>Threshold: each device sends its benign count, Σe and Σe² of the reconstruction errors, divided by a public
/// bound of 100,000 rows (errors clipped to [0, 1]), and the sum gives the pooled mean and standard deviation.</item>
/// </list>
/// </summary>
internal static class SecureRound0
{
    private const int BinsPerOctave = 4;
    private const int MinExponent = -40;
    private const int MaxExponent = 64;
    private const int MagnitudeBins = (MaxExponent - MinExponent) * BinsPerOctave;
    private const int BinsPerFeature = (2 * MagnitudeBins) + 1;
    private const int ZeroBin = MagnitudeBins;
    private const double RowBound = 100_000;

    /// <summary>The bin of a value: the zero bin, or sign and quarter-octave of its magnitude.</summary>
    public static int BinOf(double x)
    {
        if (x == 0)
        {
            return ZeroBin;
        }

        double e = Math.Log2(Math.Abs(x));
        int k = (int)Math.Clamp(Math.Floor((e - MinExponent) * BinsPerOctave), 0, MagnitudeBins - 1);
        return x > 0 ? ZeroBin + 1 + k : ZeroBin - 1 - k;
    }

    /// <summary>The lower and upper value edges of a bin.</summary>
    public static (double Lower, double Upper) EdgesOf(int bin)
    {
        if (bin == ZeroBin)
        {
            return (0, 0);
        }

        int k = bin > ZeroBin ? bin - ZeroBin - 1 : ZeroBin - 1 - bin;
        double low = k == 0 ? 0 : Math.Pow(2, MinExponent + ((double)k / BinsPerOctave));
        double high = k == MagnitudeBins - 1 ? double.MaxValue : Math.Pow(2, MinExponent + ((double)(k + 1) / BinsPerOctave));
        return bin > ZeroBin ? (low, high) : (-high, -low);
    }

    /// <summary>A device's occupancy sketch of its own rows: 1 in every (feature, bin) that holds one of its values.</summary>
    public static float[] Sketch(Dataset local)
    {
        var sketch = new float[local.FeatureCount * BinsPerFeature];
        for (int r = 0; r < local.Count; r++)
        {
            ReadOnlySpan<float> row = local.Row(r);
            for (int f = 0; f < row.Length; f++)
            {
                sketch[(f * BinsPerFeature) + BinOf(row[f])] = 1f;
            }
        }

        return sketch;
    }

    /// <summary>The min–max normaliser from the secure sum of the devices' sketches.</summary>
    public static MinMaxNormalizer NormalizerFrom(float[] sketchSum, IReadOnlyList<string> featureNames)
    {
        int n = featureNames.Count;
        var min = new double[n];
        var max = new double[n];
        for (int f = 0; f < n; f++)
        {
            ReadOnlySpan<float> bins = sketchSum.AsSpan(f * BinsPerFeature, BinsPerFeature);
            int lowest = -1, highest = -1;
            for (int b = 0; b < bins.Length; b++)
            {
                if (bins[b] > 0.5f)
                {
                    lowest = lowest < 0 ? b : lowest;
                    highest = b;
                }
            }

            if (lowest < 0)
            {
                throw new InvalidDataException($"Round 0's secure sum shows no value for feature '{featureNames[f]}'.");
            }

            min[f] = EdgesOf(lowest).Lower;
            max[f] = Math.Min(EdgesOf(highest).Upper, float.MaxValue);
        }

        string json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "minmax",
            ["min"] = min,
            ["max"] = max,
            ["featureNames"] = featureNames,
            ["clip"] = true,
        });
        return MinMaxNormalizer.FromJson(json);
    }

    /// <summary>A device's threshold input: benign count, Σe and Σe² (errors clipped to [0, 1]) over the public row bound.</summary>
    public static float[] ErrorInput(ReadOnlySpan<float> errors)
    {
        if (errors.Length > RowBound)
        {
            throw new InvalidDataException($"A device has {errors.Length} benign rows; secure round 0 supports at most {RowBound:0}.");
        }

        double s = 0, q = 0;
        foreach (float e in errors)
        {
            double c = Math.Clamp(e, 0, 1);
            s += c;
            q += c * c;
        }

        return [(float)(errors.Length / RowBound), (float)(s / RowBound), (float)(q / RowBound)];
    }

    /// <summary>The threshold mean + 1·std from the secure sum of the devices' error inputs.</summary>
    public static AnomalyThreshold ThresholdFrom(float[] sum)
    {
        double count = sum[0] * RowBound;
        if (count < 0.5)
        {
            throw new InvalidDataException("No device reported a benign reconstruction error; cannot fit the anomaly threshold.");
        }

        double mean = sum[1] * RowBound / count;
        double std = Math.Sqrt(Math.Max(0, (sum[2] * RowBound / count) - (mean * mean)));
        return new AnomalyThreshold { Method = ThresholdMethod.MeanPlusKStd, Parameter = 1, Value = mean + std, Mean = mean, StdDev = std, SampleCount = (int)Math.Round(count) };
    }

    /// <summary>Runs one secure-aggregation round over the devices' vectors and returns only their sum.</summary>
    /// <exception cref="InvalidDataException">Fewer than two devices, or the protocol aborted.</exception>
    public static float[] Sum(IReadOnlyList<(string Device, float[] Values)> inputs, float clipRange, long round)
    {
        if (inputs.Count < 2)
        {
            throw new InvalidDataException("Secure aggregation needs at least two admitted devices for round 0.");
        }

        string[] ids = inputs.Select(i => i.Device).ToArray();
        int length = inputs[0].Values.Length;
        int threshold = Math.Max(2, (ids.Length / 2) + 1);
        var options = new SecureAggregationOptions { Threshold = threshold, MinimumClients = threshold, ClipRange = clipRange };
        string nonce = "round0-" + round.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var server = new SecureAggregationServer(options, round, nonce, length, ids);
        var clients = ids.Select(id => new SecureAggregationClient(id, round, nonce, 1)).ToArray();
        try
        {
            foreach (SecureAggregationClient c in clients)
            {
                Require(server.Receive(Wire(c.AdvertiseKeys())));
            }

            SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
            foreach (SecureAggregationClient c in clients)
            {
                Require(server.Receive(Wire(c.ShareKeys(roster))));
            }

            var forwarded = server.CompleteShareKeys().GetValueOrThrow().ToDictionary(f => f.RecipientId, StringComparer.Ordinal);
            for (int i = 0; i < clients.Length; i++)
            {
                Require(server.Receive(Wire(clients[i].MaskInput(forwarded[ids[i]], inputs[i].Values))));
            }

            SecAggUnmaskRequest request = server.CompleteMaskedInput().GetValueOrThrow();
            foreach (SecureAggregationClient c in clients)
            {
                Require(server.Receive(Wire(c.Unmask(request))));
            }

            return server.CompleteUnmasking().GetValueOrThrow().Sum;
        }
        catch (SecureAggregationException ex)
        {
            throw new InvalidDataException("Round 0's secure aggregation failed: " + ex.Message, ex);
        }
        finally
        {
            foreach (SecureAggregationClient c in clients)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Every message crosses the wire codec, as it would between processes.</summary>
    private static T Wire<T>(T message)
        where T : SecAggMessage => (T)SecAggWireCodec.Decode(SecAggWireCodec.Encode(message));

    private static void Require(SecAggReceiveResult result)
    {
        if (!result.Accepted)
        {
            throw new InvalidDataException($"Round 0's secure aggregation refused a message: {result.Status} {result.Reason}");
        }
    }
}
