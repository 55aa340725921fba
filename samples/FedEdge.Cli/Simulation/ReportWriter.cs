using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FedEdge.Cli.Simulation;

/// <summary>Writes <c>report.json</c> and the PNG plots of a simulation.</summary>
internal static class ReportWriter
{
    public static IReadOnlyList<string> Write(SimulationReport report, string outDirectory)
    {
        Directory.CreateDirectory(outDirectory);
        var written = new List<string>();
        string json = Path.Combine(outDirectory, "report.json");
        File.WriteAllText(json, ToJson(report).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        written.Add(json);
        File.WriteAllText(Path.Combine(outDirectory, "normalizer.json"), report.NormalizerJson);
        written.Add(Path.Combine(outDirectory, "normalizer.json"));
        written.Add(Path.Combine(outDirectory, "audit.log"));

        double[] x = report.Rounds.Select(r => (double)r.Round).ToArray();
        if (x.Length > 0)
        {
            var quality = new ScottPlot.Plot();
            var loss = quality.Add.Scatter(x, report.Rounds.Select(r => r.Loss ?? double.NaN).ToArray());
            loss.LegendText = "mean training loss";
            var f1 = quality.Add.Scatter(x, report.Rounds.Select(r => r.F1 ?? double.NaN).ToArray());
            f1.LegendText = "F1 on pooled held-out split";
            quality.Title("Loss and F1 per round");
            FedEdge.Cli.Runs.RunPlots.Finish(quality);
            string p1 = Path.Combine(outDirectory, "loss_f1.png");
            quality.SavePng(p1, 900, 500);
            written.Add(p1);

            var bytes = new ScottPlot.Plot();
            var up = bytes.Add.Scatter(x, report.Rounds.Select(r => r.BytesUp / 1024.0).ToArray());
            up.LegendText = "up (KiB)";
            var down = bytes.Add.Scatter(x, report.Rounds.Select(r => r.BytesDown / 1024.0).ToArray());
            down.LegendText = "down (KiB)";
            bytes.Title("Bytes per round");
            bytes.YLabel("KiB");
            FedEdge.Cli.Runs.RunPlots.Finish(bytes);
            string p2 = Path.Combine(outDirectory, "bytes.png");
            bytes.SavePng(p2, 900, 500);
            written.Add(p2);
        }

        return written;
    }

    private const string SecureRound0Provenance = "federated through secure aggregation: normaliser from the secure sum of per-device occupancy sketches (4 bins per octave), threshold from the secure sum of per-device error counts and sums; the coordinator never sees one device's summary";

    public static JsonObject ToJson(SimulationReport r)
    {
        SimulationConfig c = r.Config;
        var root = new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["transport"] = c.Transport,
                ["insecure_plaintext"] = c.PlainText,
                ["broker"] = c.Broker?.ToString(),
                ["rounds"] = c.Rounds,
                ["strategy"] = c.Strategy,
                ["byzantine"] = c.ByzantineCount,
                ["bucket_size"] = c.BucketSize,
                ["mixing"] = MixingOption.Name(c.Mixing),
                ["model"] = c.Model,
                ["trainer"] = c.Trainer,
                ["seed"] = c.Seed,
                ["data"] = c.DataDirectory,
                ["dataset"] = DataSets.Name(c.DataSet),
                ["compress"] = c.Compress,
                ["codec"] = c.Codec ?? (c.Compress ? "sparse-f16" : FedEdge.Messaging.UpdateCodecSpec.Float32),
                ["train_memory"] = c.Compress ? (c.TrainMemorySaving ? "saving" : "plain") : null,
                ["prune_from_round"] = c.Compress ? c.PruneFromRound : null,
                ["prune_when_f1"] = c.Compress ? c.PruneWhenF1 : null,
                ["eval"] = c.EvalDirectory,
                ["local_epochs"] = c.LocalEpochs,
                ["local_steps"] = c.LocalSteps,
                ["batch_size"] = c.BatchSize,
                ["learning_rate"] = c.LearningRate,
                ["optimizer"] = c.Optimizer,
                ["momentum"] = c.Momentum,
                ["test_fraction"] = c.TestFraction,
                ["secure_aggregation"] = c.SecureAggregation,
                ["dp_noise"] = c.DpNoise,
                ["dp_clip"] = c.DpClip,
                ["dp_target_epsilon"] = c.DpTargetEpsilon,
                ["dp_delta"] = c.DpNoise is null ? null : SimulationPrivacy.Delta,
                ["thermal"] = c.Thermal,
                ["topology"] = c.Topology,
                ["edges"] = c.Topology == "flat" ? null : c.Edges,
                ["k2"] = c.Topology == "hierfavg" ? c.EdgeRounds : null,
                ["trusted_devices"] = c.TrustedDevices is null ? null : new JsonArray(c.TrustedDevices.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                ["attack"] = c.Attack?.ToString(),
                ["attackers"] = c.Attackers,
                ["split_devices"] = c.SplitDevices,
                ["split"] = c.SplitDevices <= 1 ? null : c.SplitAlpha is double alpha ? "dirichlet:" + alpha.ToString(CultureInfo.InvariantCulture) : "iid",
                ["reputation"] = c.Reputation,
            },
            ["attackers"] = new JsonArray(r.Attackers.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray()),
            ["rounds"] = new JsonArray(r.Rounds.Select(x => (JsonNode)new JsonObject
            {
                ["round"] = x.Round,
                ["participants"] = x.Participants,
                ["loss"] = x.Loss,
                ["f1"] = x.F1,
                ["bytes_up"] = x.BytesUp,
                ["bytes_down"] = x.BytesDown,
                ["model_bytes"] = x.ModelBytes,
                ["weight_sparsity"] = x.WeightSparsity,
                ["train_memory_bytes"] = x.TrainMemoryBytes,
                ["seconds"] = Math.Round(x.Seconds, 4),
                ["epsilon"] = x.Epsilon is double eps ? Math.Round(eps, 6) : null,
                ["tiers"] = x.Tiers is not { } t ? null : new JsonObject
                {
                    ["cloud"] = new JsonObject { ["updates"] = t.CloudUpdates, ["bytes_up"] = t.CloudUp, ["bytes_down"] = t.CloudDown },
                    ["edge"] = new JsonObject { ["edge_rounds"] = t.EdgeRounds, ["bytes_up"] = t.EdgeUp, ["bytes_down"] = t.EdgeDown },
                },
                ["failure"] = x.Failure,
                ["reputation"] = new JsonObject(x.Reputation.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(Math.Round(p.Value, 4))))),
                ["byzantine"] = x.ByzantineCount,
                ["outliers"] = new JsonArray(x.Outliers.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                ["quarantined"] = new JsonArray(x.Quarantined.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                ["updates"] = new JsonArray(x.Updates.OrderBy(u => u.DeviceId, StringComparer.Ordinal).Select(u => (JsonNode)new JsonObject
                {
                    ["device"] = u.DeviceId,
                    ["cosine"] = u.CosineDistance is double cd ? Math.Round(1 - cd, 4) : null,
                    ["norm_ratio"] = u.NormRatio is double nr ? Math.Round(nr, 4) : null,
                    ["peer"] = u.PeerSimilarity is double ps ? Math.Round(ps, 4) : null,
                    ["close_peers"] = u.ClosePeers,
                    ["mirror_peers"] = u.MirrorPeers,
                }).ToArray()),
                ["ledger_size"] = x.LedgerSize,
                ["committee"] = x.Committee is not { } c ? null : new JsonObject
                {
                    ["cosignatures"] = c.CoSignatures.Count,
                    ["quorum"] = c.Quorum,
                    ["witnesses"] = new JsonArray(c.Witnesses.Select(w => (JsonNode)new JsonObject { ["name"] = w.Witness, ["signed"] = w.Signed, ["problem"] = w.Problem }).ToArray()),
                },
                ["devices"] = new JsonArray(x.Devices.Select(d => (JsonNode)new JsonObject
                {
                    ["device"] = d.Device,
                    ["temperature_c"] = d.TemperatureCelsius is double t ? Math.Round(t, 2) : null,
                    ["throttled"] = d.Throttled,
                    ["bytes_up"] = d.BytesUp,
                    ["bytes_down"] = d.BytesDown,
                    ["train_seconds"] = Math.Round(d.TrainSeconds, 4),
                    ["train_memory_bytes"] = d.TrainMemoryBytes,
                    ["note"] = d.Note,
                }).ToArray()),
            }).ToArray()),
        };
        var final = new JsonObject
        {
            ["federated"] = Metrics(r.Federated),
            ["centralized"] = Metrics(r.Centralized),
            ["f1_gap_pp"] = Math.Round((r.Centralized.F1 - r.Federated.F1) * 100, 3),
            ["devices"] = new JsonArray(r.Devices.Select(d => (JsonNode)new JsonObject
            {
                ["device"] = d.Device,
                ["train_rows"] = d.TrainRows,
                ["test_rows"] = d.TestRows,
                ["test_attacks"] = d.TestAttacks,
                ["federated"] = d.Federated is null ? null : Metrics(d.Federated),
                ["centralized"] = d.Centralized is null ? null : Metrics(d.Centralized),
                ["note"] = d.Note,
            }).ToArray()),
            ["model_hash"] = r.FinalHash,
            ["threshold"] = r.Threshold,
            ["stop_reason"] = r.StopReason,
            ["federated_seconds"] = Math.Round(r.FederatedSeconds, 3),
            ["centralized_seconds"] = Math.Round(r.CentralizedSeconds, 3),
            ["total_seconds"] = Math.Round(r.TotalSeconds, 3),
        };
        if (r.EvalFederated is not null && r.EvalCentralized is not null)
        {
            final["eval"] = new JsonObject { ["rows"] = r.EvalRows, ["federated"] = Metrics(r.EvalFederated), ["centralized"] = Metrics(r.EvalCentralized) };
        }

        root["final"] = final;
        if (r.Tree.Count > 0)
        {
            root["tree"] = new JsonObject
            {
                ["cloud"] = "coordinator",
                ["edges"] = new JsonArray(r.Tree.Select(e => (JsonNode)new JsonObject
                {
                    ["edge"] = e.Edge,
                    ["devices"] = new JsonArray(e.Devices.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                }).ToArray()),
            };
        }

        if (r.RowUploads.Count > 0)
        {
            // Model-2: which devices' raw (normalised) rows left the device for their edge, and how many bytes.
            root["model2"] = new JsonObject
            {
                ["link"] = "tls",
                ["uploaded_devices"] = new JsonArray(r.RowUploads.Where(u => u.Accepted).Select(u => (JsonNode)JsonValue.Create(u.Device)!).ToArray()),
                ["uploaded_bytes"] = r.RowUploads.Where(u => u.Accepted).Sum(u => u.Bytes),
                ["uploads"] = new JsonArray(r.RowUploads.Select(u => (JsonNode)new JsonObject
                {
                    ["edge"] = u.Edge,
                    ["device"] = u.Device,
                    ["accepted"] = u.Accepted,
                    ["refusal"] = u.Refusal,
                    ["reason"] = u.Reason,
                    ["rows"] = u.Rows,
                    ["bytes"] = u.Bytes,
                }).ToArray()),
            };
        }

        root["quarantined"] = new JsonArray(r.Rounds.SelectMany(x => x.Quarantined.Select(d => (JsonNode)new JsonObject { ["device"] = d, ["round"] = x.Round })).ToArray());
        root["ledger"] = r.Ledger is null ? null : new JsonObject
        {
            ["path"] = r.Ledger,
            ["ca"] = r.LedgerCa,
            ["size"] = r.LedgerHead?.Size,
            ["root"] = r.LedgerHead is { } head ? Convert.ToHexStringLower(head.RootHash.Span) : null,
            ["committee"] = r.LedgerCommittee,
            ["verify"] = $"fededge ledger verify --log {r.Ledger}" + (r.LedgerCa is null ? string.Empty : $" --ca {r.LedgerCa}") + (r.LedgerCommittee is null ? string.Empty : $" --committee {r.LedgerCommittee}"),
        };
        root["preprocessing"] = new JsonObject
        {
            ["federated"] = r.Round0Secure ? SecureRound0Provenance : FederatedPreprocessing.Provenance,
            ["round0_secure_aggregation"] = r.Round0Secure,
            ["round0_devices"] = new JsonArray(r.Round0Devices.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
            ["centralized"] = "pooled: normaliser and threshold fitted on the pooled training rows of every device (the baseline)",
        };
        root["refused"] = new JsonArray(r.Refused.Select(x => (JsonNode)new JsonObject
        {
            ["device"] = x.DeviceId,
            ["reasons"] = new JsonArray(x.Reasons.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
        }).ToArray());
        return root;
    }

    private static JsonObject Metrics(MetricSet m) => new()
    {
        ["accuracy"] = Round(m.Accuracy),
        ["precision"] = Round(m.Precision),
        ["recall"] = Round(m.Recall),
        ["f1"] = Round(m.F1),
        ["fpr"] = Round(m.Fpr),
    };

    private static double Round(double v) => Math.Round(v, 6);

    public static string Pct(double v) => (v * 100).ToString("0.00", CultureInfo.InvariantCulture);
}
