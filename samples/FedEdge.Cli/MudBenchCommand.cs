using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FedEdge.Mud;
using FedEdge.Mud.Compilation;
using FedEdge.Mud.Signatures;

namespace FedEdge.Cli;

/// <summary><c>fededge mud bench</c>: throughput of parse+validate, signature verification and compilation on the real corpus, against a named baseline.</summary>
internal static class MudBenchCommand
{
    public static Command Create()
    {
        Option<string> corpus = new("--corpus") { Description = "The MUD corpus folder.", DefaultValueFactory = _ => Path.Combine("..", "shared", "mud-corpus") };
        Option<int> rounds = new Option<int>("--rounds") { Description = "Passes over the corpus.", DefaultValueFactory = _ => 50 }.AtLeast(1);
        Command command = new("bench", "Measure MUD parse/validate, CMS verification and rule compilation throughput on the corpus; prints one JSON object.") { corpus, rounds };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(corpus)!;
            int n = Math.Max(1, parse.GetValue(rounds));
            if (!Directory.Exists(dir))
            {
                parse.InvocationConfiguration.Error.WriteLine($"Corpus folder '{dir}' not found.");
                return 2;
            }

            byte[][] files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Where(p => p.EndsWith(".json", StringComparison.Ordinal) || p.EndsWith(".mud", StringComparison.Ordinal) || p.EndsWith(".NEST", StringComparison.Ordinal))
                .Where(p => !p.EndsWith("expected.json", StringComparison.Ordinal) && !p.EndsWith("signhuebulb.json", StringComparison.Ordinal))
                .Select(File.ReadAllBytes).ToArray();
            long bytes = files.Sum(f => (long)f.Length);

            // Baseline: System.Text.Json DOM parse alone (what every MUD manager must do at least).
            var sw = Stopwatch.StartNew();
            for (int r = 0; r < n; r++)
            {
                foreach (byte[] f in files)
                {
                    try
                    {
                        using JsonDocument d = JsonDocument.Parse(f);
                    }
                    catch (JsonException)
                    {
                        // The corpus includes one invalid-JSON file; the baseline just skips it.
                    }
                }
            }

            double baselineMs = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            int valid = 0;
            for (int r = 0; r < n; r++)
            {
                foreach (byte[] f in files)
                {
                    valid += MudParser.Parse(f, MudParserOptions.Lenient).IsValid ? 1 : 0;
                }
            }

            double parseMs = sw.Elapsed.TotalMilliseconds;
            string signed = Path.Combine(dir, "signed");
            byte[] content = File.ReadAllBytes(Path.Combine(signed, "ieft-draft.json"));
            byte[] sig = File.ReadAllBytes(Path.Combine(signed, "ieft-draft.p7s"));
            var verifier = new MudSignatureVerifier(new MudSignatureVerifierOptions().AddTrustAnchorsFromPem(Path.Combine(signed, "test-ca.cert.pem")));
            int verifications = 20 * n;
            sw.Restart();
            for (int i = 0; i < verifications; i++)
            {
                if (!verifier.Verify(content, sig).IsValid)
                {
                    return 1;
                }
            }

            double verifyMs = sw.Elapsed.TotalMilliseconds;
            MudFile sensor = MudParser.ParseValid(File.ReadAllBytes(Path.Combine(signed, "mudfile-sensor.json")));
            int compiles = 100 * n;
            sw.Restart();
            for (int i = 0; i < compiles; i++)
            {
                _ = MudFirewallRenderer.ToNftables(MudRuleCompiler.Compile(sensor, new MudDeviceBinding("sensor", "00:11:22:33:44:55")));
            }

            double compileMs = sw.Elapsed.TotalMilliseconds;
            var result = new Dictionary<string, object>
            {
                ["files"] = files.Length,
                ["bytes_per_pass"] = bytes,
                ["rounds"] = n,
                ["baseline_jsondocument_mb_per_s"] = Math.Round(bytes * n / 1e6 / (baselineMs / 1000), 1),
                ["parse_validate_mb_per_s"] = Math.Round(bytes * n / 1e6 / (parseMs / 1000), 1),
                ["parse_validate_files_per_s"] = Math.Round(files.Length * n / (parseMs / 1000)),
                ["parse_vs_baseline_slowdown"] = Math.Round(parseMs / baselineMs, 2),
                ["cms_verify_per_s"] = Math.Round(verifications / (verifyMs / 1000)),
                ["compile_nft_per_s"] = Math.Round(compiles / (compileMs / 1000)),
                ["valid_lenient_per_pass"] = valid / n,
            };
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        });
        return command;
    }
}
