using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using FedEdge.Security;
using FedEdge.Transparency;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>ledger-cost [--updates 100] [--params 100000] [--rounds 6] --json</c>: where a round's transparency-log time
/// goes, each part measured alone (median over the rounds, milliseconds per round): the update digests the
/// coordinator takes (the former copying form, SHA-256 over <c>CanonicalBytes</c>, beside the in-place one, and the
/// values' hash a round without a ledger takes at acceptance, which the digest replaces when a ledger records updates), the
/// ECDSA receipts alone, and one <see cref="FileTransparencyLog.AppendAsync"/> of a round's entries (JSON, Merkle
/// append and root, receipts, head signature, three fsyncs) in a temporary folder.
/// </summary>
internal static class LedgerCostBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        int updates = 100;
        int parameters = 100_000;
        int rounds = 6;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                switch (args[i])
                {
                    case "--updates": updates = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--params": parameters = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--json": break;
                    default: throw new ArgumentException($"Unknown option '{args[i]}'. Use --updates, --params, --rounds, --json.");
                }
            }

            if (updates < 1 || parameters < 1 || rounds < 1)
            {
                throw new ArgumentException("--updates, --params and --rounds must be positive.");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            await Console.Error.WriteLineAsync($"ledger-cost: {e.Message}").ConfigureAwait(false);
            return 2;
        }

        var layout = new ParameterLayout(new TensorSpec("w", parameters));
        var rng = new Random(7);
        ModelUpdate[] batch = [.. Enumerable.Range(0, updates).Select(i => new ModelUpdate
        {
            SenderId = "device-" + i.ToString(CultureInfo.InvariantCulture),
            Round = 1,
            Nonce = "n",
            SampleCount = 10,
            Values = new ParameterSet(layout, [.. Enumerable.Range(0, parameters).Select(_ => (float)rng.NextDouble())]),
        })];
        string dir = Path.Combine(Path.GetTempPath(), "fededge-ledger-cost-" + Guid.NewGuid().ToString("N"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var copying = new List<double>();
        var inPlace = new List<double>();
        var valuesHash = new List<double>();
        var receipts = new List<double>();
        var append = new List<double>();
        try
        {
            var log = new FileTransparencyLog(dir, key);
            for (int r = 0; r < rounds + 1; r++)
            {
                // The values' hash a round takes at acceptance without a ledger (with one, the digest replaces it).
                long tv = Stopwatch.GetTimestamp();
                _ = batch.Select(u => u.Values.ComputeHash()).ToArray();
                valuesHash.Add(Stopwatch.GetElapsedTime(tv).TotalMilliseconds);
                long t0 = Stopwatch.GetTimestamp();
                string[] old = [.. batch.Select(u => Convert.ToHexStringLower(SHA256.HashData(UpdateSigning.CanonicalBytes(u))))];
                long t1 = Stopwatch.GetTimestamp();
                string[] digests = [.. batch.Select(u => Convert.ToHexStringLower(UpdateSigning.Digest(u)))];
                long t2 = Stopwatch.GetTimestamp();
                if (!old.SequenceEqual(digests))
                {
                    throw new InvalidOperationException("the two digest forms differ");
                }

                byte[] statement = new byte[64];
                for (int i = 0; i < updates + 1; i++)
                {
                    _ = key.SignData(statement, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                }

                long t3 = Stopwatch.GetTimestamp();
                List<LedgerEntry> entries = [.. batch.Select((u, i) => new LedgerEntry { Kind = LedgerEntryKind.Update, Round = r + 1, DeviceId = u.SenderId, Digest = digests[i], SampleCount = u.SampleCount, Outcome = "accepted" })];
                entries.Add(new LedgerEntry { Kind = LedgerEntryKind.Round, Round = r + 1, Strategy = "fedavg", Participants = [.. batch.Select(u => u.SenderId)], ModelHash = digests[0], Completed = true });
                await log.AppendAsync(entries).ConfigureAwait(false);
                long t4 = Stopwatch.GetTimestamp();
                if (r == 0)
                {
                    continue; // warm-up
                }

                copying.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                inPlace.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
                receipts.Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
                append.Add(Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds);
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        var result = new Dictionary<string, object>
        {
            ["mode"] = "ledger-cost",
            ["updates"] = updates,
            ["params"] = parameters,
            ["rounds"] = rounds,
            ["digest_copying_ms_median"] = Median(copying),
            ["digest_in_place_ms_median"] = Median(inPlace),
            ["values_hash_ms_median"] = Median(valuesHash[1..]),
            ["receipts_only_ms_median"] = Median(receipts),
            ["append_ms_median"] = Median(append),
        };
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return Math.Round(sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2, 3);
    }
}
