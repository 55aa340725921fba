using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The Flake report's reliability table as processes: <c>kill -9</c> (Process.Kill, SIGKILL on Linux) of the
/// coordinator, of one worker, and of more than half the workers, in the middle of a round.
/// </summary>
public sealed partial class KillProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);

    // Short liveness so a lost device is noticed in seconds; enough local steps that a round takes a moment.
    private static readonly string[] Liveness = ["--heartbeat", "0.5"];
    private static readonly string[] CoordinatorLiveness = ["--missed-heartbeats", "4", "--window", "3", "--round-timeout", "20", "--local-steps", "2000", "--verbose"];

    private static readonly (string Id, string Password, string File)[] Devices =
    [
        ("doorbell", "pw-1", "Danmini_Doorbell.csv.gz"),
        ("camera", "pw-2", "Provision_PT_737E_Security_Camera.csv.gz"),
        ("ennio", "pw-3", "Ennio_Doorbell.csv.gz"),
    ];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-kill-" + Guid.NewGuid().ToString("N"));
    private readonly List<CliProcess> _processes = [];
    private readonly int _port = LoopbackPorts.Free();
    private string _normalizer = string.Empty;

    private string OutDir => Path.Combine(_dir, "coordinator");

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 calls IAsyncLifetime.DisposeAsync after each test (it does not call a test class's IAsyncDisposable).
    public async Task DisposeAsync()
    {
        foreach (CliProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task KillCoordinator_MidRound_RestartResumesWithoutLosingOrRepeatingARound()
    {
        await FitNormalizerAsync();
        CliProcess first = await StartCoordinatorAsync(rounds: 4, minDevices: 3);
        CliProcess[] workers = [.. Devices.Select(d => StartWorker(d, exitAfterRound: 4))];

        await first.WaitForLineAsync(l => l.StartsWith("round 1 completed=True", StringComparison.Ordinal), Generous, "round 1 completed");
        await first.WaitForLineAsync(l => l.Contains("Round 2 started", StringComparison.Ordinal), Generous, "round 2 started", stderr: true);
        first.Kill();
        int[] completedBeforeKill = CompletedRounds(first);
        Assert.True(completedBeforeKill.Length >= 1, first.Describe());
        Assert.True(workers.All(w => !w.HasExited), "a worker exited while the federation had rounds left");

        CliProcess second = await StartCoordinatorAsync(rounds: 4, minDevices: 3);
        string listening = await second.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the listening line");
        Assert.EndsWith("resumed after round " + completedBeforeKill.Max().ToString(CultureInfo.InvariantCulture), listening, StringComparison.Ordinal);
        Assert.Equal(0, await second.WaitForExitAsync(Generous));
        Assert.Contains("done: 4 rounds", second.Stdout, StringComparison.Ordinal);

        // Across both runs every round completed exactly once, in order: none lost, none repeated.
        int[] completed = [.. completedBeforeKill, .. CompletedRounds(second)];
        Assert.Equal([1, 2, 3, 4], completed);
        Assert.Equal([1, 2, 3, 4], AuditRounds().Select(e => e.Round));

        CliResult verify = await CliRunner.RunAsync(["audit", "verify", "--log", Path.Combine(OutDir, "audit.log"), "--checkpoint", OutDir]);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);

        // The workers were never restarted: they rejoined the new coordinator by themselves and saw round 4's model.
        foreach (CliProcess worker in workers)
        {
            Assert.True(await worker.WaitForExitAsync(Generous) == 0, worker.Describe());
            Assert.Contains("global model of round 4 received", worker.Stdout, StringComparison.Ordinal);
        }

        AssertNoStackTrace(first);
        AssertNoStackTrace(second);
    }

    [Fact]
    public async Task KillOneWorker_MidRound_RoundCompletesWithOthersAndRestartedWorkerRejoins()
    {
        await FitNormalizerAsync();
        CliProcess coordinator = await StartCoordinatorAsync(rounds: 40, minDevices: 2);
        var workers = Devices.ToDictionary(d => d.Id, d => StartWorker(d, exitAfterRound: null), StringComparer.Ordinal);

        await coordinator.WaitForLineAsync(l => l.StartsWith("round 1 completed=True", StringComparison.Ordinal), Generous, "round 1 completed");
        await coordinator.WaitForLineAsync(l => l.Contains("Round 2 started", StringComparison.Ordinal), Generous, "round 2 started", stderr: true);
        workers["camera"].Kill();

        // Rounds are fast: the round running at the kill may already hold camera's update. The federation goes on
        // without it: the next two rounds that start after the kill have the two others, and camera contributes to neither.
        int runningAtKill = 1 + coordinator.Stdout.Split('\n').Select(l => RoundLine().Match(l)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(1).Max();
        int lastWithoutCamera = runningAtKill;
        for (int i = 0; i < 2; i++)
        {
            string line = await coordinator.WaitForLineAsync(
                l => RoundLine().Match(l) is { Success: true } m && m.Groups["completed"].Value == "True" && int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture) > lastWithoutCamera,
                Generous,
                "a completed round after the kill");
            Match round = RoundLine().Match(line);
            Assert.Equal("2", round.Groups["participants"].Value);
            lastWithoutCamera = int.Parse(round.Groups["round"].Value, CultureInfo.InvariantCulture);
        }

        AuditEntry[] whileDead = [.. AuditRounds().Where(e => e.Round > runningAtKill && e.Round <= lastWithoutCamera)];
        Assert.Equal(2, whileDead.Length);
        Assert.All(whileDead, e => Assert.DoesNotContain("camera", e.Contributors));
        // Silent since the kill (its last will, if the broker sent one, is its last sign of life): the coordinator marks it lost.
        await coordinator.WaitForLineAsync(l => l.Contains("Device camera is lost", StringComparison.Ordinal), Generous, "camera lost", stderr: true);

        // Restarted with the same state file, it rejoins and contributes to a later round.
        CliProcess restarted = StartWorker(Devices[1], exitAfterRound: null);
        using var deadline = new CancellationTokenSource(Generous);
        while (!AuditRounds().Any(e => e.Round > lastWithoutCamera && e.Contributors.Contains("camera")))
        {
            Assert.False(coordinator.HasExited, "the coordinator ended before camera contributed again.\n" + coordinator.Describe() + restarted.Describe());
            Assert.False(restarted.HasExited, restarted.Describe());
            await Task.Delay(200, deadline.Token);
        }

        Assert.Contains(coordinator.StdoutLines, l => RoundLine().Match(l) is { Success: true } m && m.Groups["completed"].Value == "True" && int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture) > lastWithoutCamera);
        Assert.True(workers["doorbell"].StdoutLines.Count > 0 && !workers["doorbell"].HasExited && !workers["ennio"].HasExited);
        AssertNoStackTrace(coordinator);
    }

    [Fact]
    public async Task KillMoreThanHalfTheWorkers_RoundWithoutQuorumFailsCleanly()
    {
        await FitNormalizerAsync();
        CliProcess coordinator = await StartCoordinatorAsync(rounds: 10, minDevices: 3);
        CliProcess[] workers = [.. Devices.Select(d => StartWorker(d, exitAfterRound: null))];

        await coordinator.WaitForLineAsync(l => l.StartsWith("round 1 completed=True", StringComparison.Ordinal), Generous, "round 1 completed");
        await coordinator.WaitForLineAsync(l => l.Contains("Round 2 started", StringComparison.Ordinal), Generous, "round 2 started", stderr: true);
        workers[0].Kill();
        workers[1].Kill();

        // The round cannot reach its quorum of 3: it fails with a reason, and the coordinator neither crashes nor hangs in it.
        // Normally that is round 2, but rounds can be fast enough that the kill lands one or more rounds later (a quiet CI
        // machine failed round 4): the round that fails is whichever was running, and no round before it failed.
        string failed = await coordinator.WaitForLineAsync(l => RoundLine().Match(l) is { Success: true } m && m.Groups["completed"].Value == "False", Generous, "a round failing");
        int failedRound = int.Parse(RoundLine().Match(failed).Groups["round"].Value, CultureInfo.InvariantCulture);
        Assert.True(failedRound >= 2, failed);
        Assert.Matches(@"participants=\d+ .*(quorum not met|no device)", failed);
        string failedNumber = failedRound.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(coordinator.StdoutLines, l => l.StartsWith($"round {failedNumber} completed=True", StringComparison.Ordinal));
        Assert.False(coordinator.HasExited, coordinator.Describe());
        AssertNoStackTrace(coordinator);

        // Brought back with their state files, the two rejoin and the federation completes a round again.
        _ = StartWorker(Devices[0], exitAfterRound: null);
        _ = StartWorker(Devices[1], exitAfterRound: null);
        string recovered = await coordinator.WaitForLineAsync(l => RoundLine().Match(l) is { Success: true } m && m.Groups["completed"].Value == "True" && int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture) > failedRound, Generous, "a completed round after the restart");
        Assert.Equal("3", RoundLine().Match(recovered).Groups["participants"].Value);
        // The failed round was not lost: its number is run again and completes, and no round completed twice.
        Assert.Contains($"round {failedNumber} completed=True participants=3", coordinator.Stdout, StringComparison.Ordinal);
        AuditEntry[] audit = AuditRounds();
        Assert.Equal(Enumerable.Range(1, audit.Length), audit.Select(e => e.Round));
        Assert.True(audit.Length >= 3, coordinator.Describe());
        AssertNoStackTrace(coordinator);
    }

    [GeneratedRegex(@"^round (?<round>\d+) completed=(?<completed>True|False) participants=(?<participants>\d+) ")]
    private static partial Regex RoundLine();

    private static int[] CompletedRounds(CliProcess coordinator) =>
        [.. coordinator.StdoutLines.Select(l => RoundLine().Match(l)).Where(m => m.Success && m.Groups["completed"].Value == "True").Select(m => int.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture))];

    private static void AssertNoStackTrace(CliProcess process)
    {
        Assert.DoesNotContain(process.StdoutLines, l => l.StartsWith("   at ", StringComparison.Ordinal));
        Assert.DoesNotContain(process.StderrLines, l => l.StartsWith("   at ", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", process.Stderr, StringComparison.Ordinal);
    }

    private AuditEntry[] AuditRounds()
    {
        string path = Path.Combine(OutDir, "audit.log");
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var entries = new List<AuditEntry>();
        while (reader.ReadLine() is { } line)
        {
            // A line still being appended is complete only with its newline; the flush writes one line at once.
            if (line.Length == 0)
            {
                continue;
            }

            using JsonDocument json = JsonDocument.Parse(line);
            entries.Add(new AuditEntry(
                json.RootElement.GetProperty("round").GetInt32(),
                [.. json.RootElement.GetProperty("contributors").EnumerateArray().Select(c => c.GetString()!)]));
        }

        return [.. entries];
    }

    private async Task FitNormalizerAsync()
    {
        CliResult sim = await CliRunner.RunAsync(["simulate", "--rounds", "1", "--out", Path.Combine(_dir, "sim")], workingDirectory: RepoPaths.Root, timeout: Generous);
        Assert.True(sim.ExitCode == 0, sim.Stdout + sim.Stderr);
        _normalizer = Path.Combine(_dir, "sim", "normalizer.json");
    }

    private async Task<CliProcess> StartCoordinatorAsync(int rounds, int minDevices)
    {
        CliProcess coordinator = Track(CliProcess.Start("coordinator",
        [
            "coordinator", "--port", _port.ToString(CultureInfo.InvariantCulture),
            "--rounds", rounds.ToString(CultureInfo.InvariantCulture), "--min-devices", minDevices.ToString(CultureInfo.InvariantCulture),
            .. Devices.SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
            "--device-passwords", SecretFiles.WriteDevicePasswords(OutDir + "-secrets", [.. Devices.Select(d => (d.Id, d.Password))]),
            "--out", OutDir, .. Liveness, .. CoordinatorLiveness,
        ]));
        await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), Generous, "the listening line");
        return coordinator;
    }

    private CliProcess StartWorker((string Id, string Password, string File) device, int? exitAfterRound) => Track(CliProcess.Start(device.Id,
    [
        "worker", "--device-id", device.Id, "--password-file", SecretFiles.Write(_dir, device.Id, device.Password), "--mud-url", $"https://mud.example/{device.Id}.json",
        "--broker", $"mqtt://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}",
        "--data", Path.Combine(RepoPaths.Root, "samples", "data", device.File), "--normalizer", _normalizer,
        "--state", Path.Combine(_dir, device.Id + ".state.json"), "--verbose", .. Liveness,
        .. exitAfterRound is int r ? new[] { "--exit-after-round", r.ToString(CultureInfo.InvariantCulture) } : [],
    ]));

    private CliProcess Track(CliProcess process)
    {
        _processes.Add(process);
        return process;
    }

    private sealed record AuditEntry(int Round, string[] Contributors);
}
