using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// The committee as a deployment: a coordinator, three `fededge validator` processes over HTTPS (certificates from
/// `fededge pki issue --server`) and a fourth validator listed but down, and two workers, all separate processes.
/// Every round is co-signed by the three (2f + 1 of 4) and published; the log verifies with the committee file.
/// </summary>
public sealed class CommitteeProcessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-committee-proc-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task CoordinatorWithFourValidatorsOneDown_SeparateProcesses_EveryRoundCoSignedAndTheLogVerifies()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        CommitteePki setup = await CommitteePki.CreateAsync(_dir);
        string normalizer = setup.Normalizer;
        var validators = new List<CliProcess>();
        var members = new List<Dictionary<string, string>>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                string name = "validator-" + i;
                int validatorPort = LoopbackPorts.Free();
                members.Add(setup.Member(name, $"https://127.0.0.1:{validatorPort}"));
                if (i == 3)
                {
                    continue; // listed in the committee, never started: down.
                }

                validators.Add(await setup.StartValidatorAsync(name, validatorPort, _dir));
            }

            string committee = await CommitteePki.WriteCommitteeAsync(_dir, members);

            int port = LoopbackPorts.Free();
            Task<CliResult> coordinator = CliRunner.RunAsync(
                ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "2",
                 "--device", "doorbell=https://mud.example/doorbell.json", "--device", "camera=https://mud.example/camera.json",
                 "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "pw-1"), ("camera", "pw-2")),
                 "--ledger-key", setup.Server("coordinator", "key"), "--committee", committee, "--committee-timeout", "20", "--verbose",
                 "--out", Path.Combine(_dir, "coordinator")],
                timeout: TimeSpan.FromMinutes(3));
            await LoopbackPorts.WaitForListenerAsync(port, coordinator);
            Task<CliResult> Worker(string id, string password, string file) => CliRunner.RunAsync(
                ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, password), "--broker", $"mqtt://127.0.0.1:{port}", "--data", Path.Combine(data, file), "--normalizer", normalizer,
                 "--state", Path.Combine(_dir, id + ".state.json"), "--exit-after-round", "2", "--mud-url", $"https://mud.example/{id}.json"],
                timeout: TimeSpan.FromMinutes(3));
            Task<CliResult> doorbell = Worker("doorbell", "pw-1", "Danmini_Doorbell.csv.gz");
            Task<CliResult> camera = Worker("camera", "pw-2", "Provision_PT_737E_Security_Camera.csv.gz");

            CliResult c = await coordinator;
            await Task.WhenAll(doorbell, camera);
            string story = c.Stdout + c.Stderr + string.Concat(validators.Select(v => v.Describe()));
            Assert.True(c.ExitCode == 0, story);
            Assert.Contains("round 2 completed=True participants=2", c.Stdout, StringComparison.Ordinal);
            Assert.Contains("co-signed head", c.Stdout + c.Stderr, StringComparison.Ordinal);
            Assert.Contains("validator-3 did not co-sign", c.Stdout + c.Stderr, StringComparison.Ordinal);
            Assert.All(validators, v => Assert.Contains(v.StderrLines, l => l.StartsWith("round 2: head ", StringComparison.Ordinal) && l.EndsWith("co-signed", StringComparison.Ordinal)));

            CliResult verified = await CliRunner.RunAsync(["ledger", "verify", "--log", Path.Combine(_dir, "coordinator", "ledger"), "--committee", committee, "--log-key", setup.Server("coordinator", "crt")]);
            Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);
            Assert.Contains("6 committee co-signatures (quorum 3 of 4 on every head)", verified.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            foreach (CliProcess v in validators)
            {
                await v.DisposeAsync();
            }
        }
    }
}
