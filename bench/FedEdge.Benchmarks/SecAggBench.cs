using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Privacy;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>secagg</c>: one secure-aggregation round of <c>--clients</c> clients with <c>--params</c>
/// values each, a <c>--dropout</c> fraction of them dropping after sharing keys (the expensive
/// recovery case). Prints client masking time (median), server unmasking time, bandwidth expansion
/// against plain float32 and the largest error against the plain sum, plus baselines (plain sum,
/// DP clip+noise) measured in the same run.
/// </summary>
internal static class SecAggBench
{
    public static Task<int> RunAsync(string[] args)
    {
        int clients = 100;
        int parameters = 1_000_000;
        double dropout = 0.1;
        int? neighbours = null;
        int? threshold = null;
        int? threads = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--params": parameters = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--dropout": dropout = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--neighbours": neighbours = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threshold": threshold = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--json": break;
                default: throw new ArgumentException($"Unknown secagg option '{args[i]}'. Options: --clients N --params N --dropout F --neighbours K --threshold T --threads N --json");
            }
        }

        // SecAgg+ default: k ≈ 3·log2(n), even; complete graph for small rounds.
        int k = neighbours ?? (clients <= 24 ? 0 : 2 * (int)Math.Ceiling(1.5 * Math.Log2(clients)));
        int holders = k == 0 ? clients : k + 1;
        int t = threshold ?? Math.Max(2, (holders / 2) + 1);
        var options = new SecureAggregationOptions { Threshold = t, MinimumClients = t, NeighbourCount = k, ClipRange = 1f };
        string[] ids = Enumerable.Range(0, clients).Select(i => $"device-{i:D4}").ToArray();
        var shuffle = new Random(42);
        var dropped = new HashSet<string>(ids.OrderBy(_ => shuffle.Next()).Take((int)Math.Round(clients * dropout)), StringComparer.Ordinal);

        var server = new SecureAggregationServer(options, 1, "bench-nonce", parameters, ids);
        var secureClients = ids.Select(id => new SecureAggregationClient(id, 1, "bench-nonce", threads)).ToArray();
        long[] sentBytes = new long[clients];
        try
        {
            for (int c = 0; c < clients; c++)
            {
                SecAggAdvertiseKeys keys = secureClients[c].AdvertiseKeys();
                sentBytes[c] += SecAggWireCodec.Encode(keys).Length;
                Require(server.Receive(keys));
            }

            SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
            for (int c = 0; c < clients; c++)
            {
                SecAggShareKeys shares = secureClients[c].ShareKeys(roster);
                sentBytes[c] += SecAggWireCodec.Encode(shares).Length;
                Require(server.Receive(shares));
            }

            var forwarded = server.CompleteShareKeys().GetValueOrThrow().ToDictionary(f => f.RecipientId, StringComparer.Ordinal);

            // Masked inputs, one client at a time (inputs regenerated from a seed; the plain sum kept in double).
            double[] plainSum = new double[parameters];
            float[] input = new float[parameters];
            var maskSeconds = new List<double>();
            double plainAddSeconds = 0;
            for (int c = 0; c < clients; c++)
            {
                if (dropped.Contains(ids[c]))
                {
                    continue;
                }

                var random = new Random(c);
                for (int i = 0; i < parameters; i++)
                {
                    input[i] = (float)((random.NextDouble() * 2) - 1);
                }

                long start = Stopwatch.GetTimestamp();
                SecAggMaskedInput masked = secureClients[c].MaskInput(forwarded[ids[c]], input);
                maskSeconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                sentBytes[c] += SecAggWireCodec.Encode(masked).Length;
                Require(server.Receive(masked));

                start = Stopwatch.GetTimestamp();
                for (int i = 0; i < parameters; i++)
                {
                    plainSum[i] += input[i];
                }

                plainAddSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
            }

            SecAggUnmaskRequest request = server.CompleteMaskedInput().GetValueOrThrow();
            foreach (SecureAggregationClient client in secureClients.Where(sc => !dropped.Contains(sc.ClientId)))
            {
                SecAggUnmaskResponse response = client.Unmask(request);
                sentBytes[Array.IndexOf(ids, client.ClientId)] += SecAggWireCodec.Encode(response).Length;
                Require(server.Receive(response));
            }

            long unmaskStart = Stopwatch.GetTimestamp();
            SecAggResult result = server.CompleteUnmasking().GetValueOrThrow();
            double serverSeconds = Stopwatch.GetElapsedTime(unmaskStart).TotalSeconds;

            double maxError = 0;
            for (int i = 0; i < parameters; i++)
            {
                maxError = Math.Max(maxError, Math.Abs(result.Sum[i] - plainSum[i]));
            }

            // Baseline: DP clip + Gaussian noise of one update, the cost distributed DP adds per client.
            var dp = new DpUpdateTransform(new DifferentialPrivacyOptions { NoiseMultiplier = 1, ClipNorm = 1, Placement = NoisePlacement.Distributed, ExpectedClientsPerRound = clients });
            var update = new ParameterSet(new ParameterLayout(new TensorSpec("delta", parameters)), (float[])input.Clone());
            long dpStart = Stopwatch.GetTimestamp();
            dp.Apply(update, new UpdateTransformContext { Round = 1, SenderId = "bench" });
            double dpSeconds = Stopwatch.GetElapsedTime(dpStart).TotalSeconds;

            // Quantisation bound plus the float32 rounding of a decoded sum of magnitude ≤ n·c.
            double errorBound = result.QuantizationErrorBound + (result.Contributors.Count * options.ClipRange * Math.Pow(2, -24));
            double plainBytes = 4.0 * parameters;
            double[] survivorsBytes = ids.Select((id, c) => (id, c)).Where(x => !dropped.Contains(x.id)).Select(x => (double)sentBytes[x.c]).ToArray();
            maskSeconds.Sort();
            var output = new Dictionary<string, object>
            {
                ["mode"] = "secagg",
                ["clients"] = clients,
                ["params"] = parameters,
                ["dropout"] = dropout,
                ["dropped"] = dropped.Count,
                ["neighbours"] = k,
                ["threshold"] = t,
                ["threads"] = threads ?? Environment.ProcessorCount,
                ["client_seconds"] = Median(maskSeconds),
                ["client_seconds_max"] = maskSeconds[^1],
                ["server_seconds"] = serverSeconds,
                ["expansion"] = survivorsBytes.Average() / plainBytes,
                ["max_abs_error"] = maxError,
                ["error_bound"] = errorBound,
                ["plain_sum_seconds_per_client"] = plainAddSeconds / maskSeconds.Count,
                ["dp_clip_noise_seconds"] = dpSeconds,
                ["recovered_dropouts"] = result.RecoveredDropouts.Count,
            };
            Console.WriteLine(JsonSerializer.Serialize(output));
            return Task.FromResult(maxError <= errorBound ? 0 : 1);
        }
        finally
        {
            foreach (SecureAggregationClient client in secureClients)
            {
                client.Dispose();
            }
        }
    }

    private static void Require(SecAggReceiveResult result)
    {
        if (!result.Accepted)
        {
            throw new InvalidOperationException($"The server refused a message: {result.Status} {result.Reason}");
        }
    }

    private static double Median(List<double> sorted) => sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}
