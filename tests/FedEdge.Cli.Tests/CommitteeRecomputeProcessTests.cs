using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// What a `fededge validator` process recomputes, as separate processes over HTTPS: a coordinator and validators started
/// with the default `--mixing auto` agree (nnm for median) and co-sign, one started with `--mixing none` refuses with
/// `mixing-mismatch` (the round record names the mixing), while the quorum of three publishes every round; with a stateful strategy
/// (fedavgm) the coordinator sends the server optimiser's state (`strategy_state`) and round 2 is co-signed only because
/// each validator imported it and got the logged `state_after`.
/// </summary>
public sealed class CommitteeRecomputeProcessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-committee-recompute-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static readonly (string Id, string File)[] Devices =
    [
        ("doorbell", "Danmini_Doorbell.csv.gz"),
        ("camera", "Provision_PT_737E_Security_Camera.csv.gz"),
        ("thermostat", "Ecobee_Thermostat.csv.gz"),
    ];

    /// <summary>Runs a coordinator with <paramref name="coordinatorExtra"/>, four validators (each with its extra arguments) and the first <paramref name="workers"/> devices for two rounds.</summary>
    private async Task<(CliResult Coordinator, IReadOnlyList<string[]> ValidatorStderr)> RunAsync(string[] coordinatorExtra, string[][] validatorExtra, int workers)
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        CommitteePki setup = await CommitteePki.CreateAsync(_dir);
        string normalizer = setup.Normalizer;
        var validators = new List<CliProcess>();
        var members = new List<Dictionary<string, string>>();
        try
        {
            for (int i = 0; i < validatorExtra.Length; i++)
            {
                string name = "validator-" + i;
                int validatorPort = LoopbackPorts.Free();
                members.Add(setup.Member(name, $"https://127.0.0.1:{validatorPort}"));
                validators.Add(await setup.StartValidatorAsync(name, validatorPort, _dir, tls: true, validatorExtra[i]));
            }

            string committee = await CommitteePki.WriteCommitteeAsync(_dir, members);

            int port = LoopbackPorts.Free();
            (string Id, string File)[] devices = Devices[..workers];
            string passwords = SecretFiles.WriteDevicePasswords(_dir, [.. devices.Select(d => (d.Id, "pw-" + d.Id))]);
            Task<CliResult> coordinator = CliRunner.RunAsync(
                ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", workers.ToString(CultureInfo.InvariantCulture),
                 .. devices.SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
                 "--device-passwords", passwords,
                 "--ledger-key", setup.Server("coordinator", "key"), "--committee", committee, "--committee-timeout", "20", "--verbose",
                 "--out", Path.Combine(_dir, "coordinator"), .. coordinatorExtra],
                timeout: TimeSpan.FromMinutes(3));
            await LoopbackPorts.WaitForListenerAsync(port, coordinator);
            Task<CliResult>[] running = [.. devices.Select(d => CliRunner.RunAsync(
                ["worker", "--device-id", d.Id, "--password-file", SecretFiles.Write(_dir, d.Id, "pw-" + d.Id), "--broker", $"mqtt://127.0.0.1:{port}", "--data", Path.Combine(data, d.File), "--normalizer", normalizer,
                 "--state", Path.Combine(_dir, d.Id + ".state.json"), "--exit-after-round", "2", "--mud-url", $"https://mud.example/{d.Id}.json"],
                timeout: TimeSpan.FromMinutes(3)))];

            CliResult c = await coordinator;
            await Task.WhenAll(running);
            string story = c.Stdout + c.Stderr + string.Concat(validators.Select(v => v.Describe()));
            Assert.True(c.ExitCode == 0, story);
            Assert.True(c.Stdout.Contains($"round 2 completed=True participants={workers}", StringComparison.Ordinal), story);

            CliResult verified = await CliRunner.RunAsync(["ledger", "verify", "--log", Path.Combine(_dir, "coordinator", "ledger"), "--committee", committee, "--log-key", setup.Server("coordinator", "crt")]);
            Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);
            return (c, [.. validators.Select(v => v.StderrLines.ToArray())]);
        }
        finally
        {
            foreach (CliProcess v in validators)
            {
                await v.DisposeAsync();
            }
        }
    }

    private static bool CoSigned(string[] lines, int round) =>
        lines.Any(l => l.StartsWith($"round {round}: head ", StringComparison.Ordinal) && l.EndsWith("co-signed", StringComparison.Ordinal));

    [Fact]
    public async Task DefaultMixing_CoordinatorAndValidatorsWithDefaultsCoSign_OneWithMixingNoneRefusesWithTheReason()
    {
        // --mixing auto (the default) resolves to nnm for median on the coordinator and on every validator; the round
        // record names it, so the validator started with --mixing none refuses with the reason, not a bare hash mismatch.
        string[] defaults = ["--byzantine", "1"];
        (CliResult coordinator, IReadOnlyList<string[]> validators) = await RunAsync(
            ["--strategy", "median", "--byzantine", "1"],
            [defaults, defaults, defaults, ["--byzantine", "1", "--mixing", "none"]],
            workers: 3);

        string story = coordinator.Stdout + coordinator.Stderr + string.Join('\n', validators.SelectMany(v => v));
        Assert.Contains("; aggregation median, f 1, mixing nnm (auto); fresh start", coordinator.Stdout, StringComparison.Ordinal);
        for (int round = 1; round <= 2; round++)
        {
            Assert.True(validators.Take(3).All(v => CoSigned(v, round)), story);
            Assert.False(CoSigned(validators[3], round), story);
        }

        // Round 2's first request to validator-3 starts past the head it never co-signed, so it may refuse on consistency
        // before the coordinator's retry from its last head (cancelled once the quorum is in) reaches the recomputation.
        Assert.True(validators[3].Any(l => l.StartsWith("round 1: head ", StringComparison.Ordinal) && l.Contains("refused: mixing-mismatch: the round record says median ran with mixing nnm, this validator recomputes it with mixing none", StringComparison.Ordinal)), story);

        Assert.Contains("validator-3 did not co-sign", coordinator.Stdout + coordinator.Stderr, StringComparison.Ordinal);
        string[] records = [.. (await File.ReadAllLinesAsync(Path.Combine(_dir, "coordinator", "ledger", "entries.jsonl"))).Where(l => l.Contains("\"kind\":\"round\"", StringComparison.Ordinal))];
        Assert.Equal(2, records.Length);
        Assert.All(records, r => Assert.Contains("\"strategy\":\"median\",\"mixing\":\"nnm\"", r, StringComparison.Ordinal));
    }

    [Fact]
    public async Task StatefulStrategy_ValidatorProcessesImportTheStrategyStateSentOverHttp_AndCoSignTheSecondRound()
    {
        (CliResult coordinator, IReadOnlyList<string[]> validators) = await RunAsync(["--strategy", "fedavgm"], [[], [], [], []], workers: 2);

        string story = coordinator.Stdout + coordinator.Stderr + string.Join('\n', validators.SelectMany(v => v));

        // Round 2 starts from the momentum round 1 left: a validator that did not get or could not import strategy_state
        // refuses with state-mismatch (no state sent, or a hash other than the record's state_before).
        Assert.True(validators.All(v => CoSigned(v, 1) && CoSigned(v, 2)), story);
        Assert.DoesNotContain(validators.SelectMany(v => v), l => l.Contains("state-mismatch", StringComparison.Ordinal));
        string entries = await File.ReadAllTextAsync(Path.Combine(_dir, "coordinator", "ledger", "entries.jsonl"));
        Assert.Contains("state_before", entries, StringComparison.Ordinal);
    }
}
