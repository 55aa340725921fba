using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Colluding sign flippers on the 16-device demo: with seed 4 the three attackers are attack-only devices whose flipped
/// updates are nearly identical (a group of three, which the direction test lets off as like devices), with seed 3 two of
/// them are. The mirror test catches every one (each is the exact opposite of the more numerous honest devices of its
/// file) and quarantines no honest device.
/// </summary>
public sealed class ColludingSignFlipCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-colluders-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    public async Task Simulate_KrumWithMixing_ColludingFlippersAllQuarantinedWithinFiveRounds_NoHonestDevice(int seed)
    {
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "4", "--byzantine", "3", "--strategy", "krum", "--mixing", "nnm", "--attack", "signflip", "--attackers", "3",
             "--seed", seed.ToString(CultureInfo.InvariantCulture), "--rounds", "5", "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")));
        JsonElement root = report.RootElement;

        string[] attackers = [.. root.GetProperty("attackers").EnumerateArray().Select(a => a.GetString()!).Order(StringComparer.Ordinal)];
        (string Device, long Round)[] quarantined = [.. root.GetProperty("quarantined").EnumerateArray().Select(q => (q.GetProperty("device").GetString()!, q.GetProperty("round").GetInt64()))];
        string story = string.Join(", ", quarantined.Select(q => $"{q.Device} ({q.Round})")) + " of attackers " + string.Join(", ", attackers);

        // Every attacker, and only attackers.
        Assert.True(attackers.SequenceEqual(quarantined.Select(q => q.Device).Distinct().Order(StringComparer.Ordinal)), story);

        // The colluders were penalised by the mirror test: report.json shows them mirroring more updates than their group.
        JsonElement firstRound = root.GetProperty("rounds").EnumerateArray().First(r => r.GetProperty("failure").ValueKind == JsonValueKind.Null);
        JsonElement[] attackerUpdates = [.. firstRound.GetProperty("updates").EnumerateArray().Where(u => attackers.Contains(u.GetProperty("device").GetString()))];
        Assert.Contains(attackerUpdates, u => u.GetProperty("mirror_peers").GetInt32() > u.GetProperty("close_peers").GetInt32() + 1);
    }
}
