using System.Text.Json;
using FedEdge.Testing;

namespace FedEdge.Cli.Tests;

/// <summary>
/// `fededge simulate --transport mqtt --codec f16|int8|topk:FRACTION` as a process: the codec is announced in every round
/// task, the workers encode (and sign) with it, report.json records it with the bytes sent up each round, and the model
/// still detects the attacks. Bad codec specs are a usage error in one line on simulate and coordinator.
/// </summary>
public sealed class SimulateCodecCliTests : IDisposable
{
    // The demo MLP 115-64-32-1 has 9,537 parameters: 38,148 B per update as float32, four devices per round.
    private const double Float32UpBytes = 4 * 9537 * 4.0;
    private const int Rounds = 4;

    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-codec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("f16", 0.40, 0.60)]
    [InlineData("int8", 0.15, 0.35)]
    public async Task Simulate_DenseCodec_IsAppliedToEveryUpdate_AndF1StaysSane(string codec, double atLeast, double below)
    {
        (string recorded, long[] up, double f1) = await SimulateAsync(codec);

        Assert.Equal(codec, recorded);
        Assert.Equal(Rounds, up.Length);

        // The least round: a round whose updates were re-sent (a loaded machine) carries their copies as well.
        long least = up.Min();
        Assert.True(least < Float32UpBytes * below && least > Float32UpBytes * atLeast, $"{codec}: bytes up {string.Join(", ", up)} vs float32 {Float32UpBytes}");
        Assert.True(f1 > 0.9, $"{codec}: final F1 {f1}");
    }

    [Fact]
    public async Task Simulate_TopK_SendsUnderATenthOfFloat32_InTheSameTest_AndF1StaysSane()
    {
        (string plainCodec, long[] plainUp, double plainF1) = await SimulateAsync(null);
        (string sparseCodec, long[] sparseUp, double sparseF1) = await SimulateAsync("topk:0.01");

        Assert.Equal("f32", plainCodec);
        Assert.Equal("topk:0.01", sparseCodec);
        Assert.True(plainF1 > 0.9, $"f32: final F1 {plainF1}");
        Assert.True(sparseF1 > 0.9, $"topk:0.01: final F1 {sparseF1}");
        long plain = plainUp.Min();
        long sparse = sparseUp.Min();
        Assert.True(sparse < plain * 0.1, $"bytes up with topk:0.01 {string.Join(", ", sparseUp)} vs f32 {string.Join(", ", plainUp)}");
    }

    [Theory]
    [InlineData("simulate", "topk:0")]
    [InlineData("simulate", "topk:2")]
    [InlineData("simulate", "topk:abc")]
    [InlineData("simulate", "zip")]
    [InlineData("coordinator", "topk:0")]
    [InlineData("coordinator", "topk:abc")]
    public async Task BadCodec_IsAUsageErrorInOneLine(string command, string spec)
    {
        string[] args = command == "simulate" ? [command, "--codec", spec, "--out", _dir] : [command, "--codec", spec];
        CliResult result = await CliRunner.RunAsync(args, workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--codec", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Simulate_CodecInProcess_IsAUsageError()
    {
        CliResult result = await CliRunner.RunAsync(["simulate", "--transport", "inproc", "--codec", "f16", "--out", _dir], workingDirectory: RepoPaths.Root);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--transport mqtt or grpc", result.Stderr, StringComparison.Ordinal);
    }

    private async Task<(string Codec, long[] BytesUp, double F1)> SimulateAsync(string? codec)
    {
        string output = Path.Combine(_dir, codec?.Replace(':', '-') ?? "f32");
        string[] codecArgs = codec is null ? [] : ["--codec", codec];
        CliResult result = await CliRunner.RunAsync(
            ["simulate", "--transport", "mqtt", .. codecArgs, "--rounds", $"{Rounds}", "--seed", "1", "--thermal", "off", "--out", output, "--runs", Path.Combine(_dir, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        JsonElement root = report.RootElement;
        long[] up = [.. root.GetProperty("rounds").EnumerateArray().Select(r => r.GetProperty("bytes_up").GetInt64())];
        double f1 = root.GetProperty("rounds").EnumerateArray().Last().GetProperty("f1").GetDouble();
        return (root.GetProperty("config").GetProperty("codec").GetString()!, up, f1);
    }
}
