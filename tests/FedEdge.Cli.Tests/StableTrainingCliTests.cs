using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The stability goal of the default N-BaIoT run (issue 18): over seeds 1..10, no round after round 3 has a pooled
/// held-out F1 below 0.9, and the final F1 is at least 0.99. With the earlier defaults (SGD momentum 0.9, lr 0.05)
/// seeds 3, 8, 9 and 10 fell to F1 0.00–0.06 after round 3.
/// </summary>
public sealed class StableTrainingCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-stable-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_DefaultsOnNbaiot_TenSeeds_NoSwingAfterRoundThree()
    {
        var problems = new List<string>();
        for (int seed = 1; seed <= 10; seed++)
        {
            string output = Path.Combine(_dir, "seed" + seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
            CliResult result = await CliRunner.RunAsync(
                ["simulate", "--data", Path.Combine(RepoPaths.Data, "nbaiot"), "--thermal", "off", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", output],
                workingDirectory: RepoPaths.Root,
                timeout: TimeSpan.FromMinutes(3));
            Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
            using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
            JsonElement[] rounds = report.RootElement.GetProperty("rounds").EnumerateArray().ToArray();
            Assert.Equal(10, rounds.Length);
            foreach (JsonElement r in rounds.Where(r => r.GetProperty("round").GetInt64() > 3))
            {
                double f1 = r.GetProperty("f1").GetDouble();
                if (f1 < 0.9)
                {
                    problems.Add($"seed {seed} round {r.GetProperty("round").GetInt64()}: F1 {f1:0.0000}");
                }
            }

            double final = report.RootElement.GetProperty("final").GetProperty("federated").GetProperty("f1").GetDouble();
            if (final < 0.99)
            {
                problems.Add($"seed {seed}: final F1 {final:0.0000}");
            }
        }

        Assert.True(problems.Count == 0, string.Join("; ", problems));
    }
}
