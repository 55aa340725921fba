using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Secure aggregation in the process deployment: `fededge coordinator --secure-aggregation --committee FILE`, four
/// `fededge validator` processes and four `fededge worker --secure-aggregation` processes over the embedded MQTT broker.
/// The coordinator learns only the sum; each validator checks the round's transcript (roster, threshold, the unmasked
/// sum's hash) before it co-signs. One validator is reached through a relay that alters the unmasked sum it is sent: it
/// refuses with sum-mismatch while the other three (2f + 1 of 4) publish every round, and the log verifies.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class SecureAggregationProcessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-secagg-proc-" + Guid.NewGuid().ToString("N"));

    private static readonly (string Id, string File)[] Devices =
    [
        ("doorbell", "Danmini_Doorbell.csv.gz"),
        ("camera", "Provision_PT_737E_Security_Camera.csv.gz"),
        ("thermostat", "Ecobee_Thermostat.csv.gz"),
        ("ennio", "Ennio_Doorbell.csv.gz"),
    ];

    public SecureAggregationProcessTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task SecureAggregationWithCommittee_FourValidatorsFourWorkers_QuorumCoSignsAfterTheTranscriptCheck_TamperedSumRefused()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        CommitteePki setup = await CommitteePki.CreateAsync(_dir);
        var validators = new List<CliProcess>();
        var members = new List<Dictionary<string, string>>();
        using var relayStop = new CancellationTokenSource();
        Task? relay = null;
        try
        {
            for (int i = 0; i < 4; i++)
            {
                string name = "validator-" + i;
                int validatorPort = LoopbackPorts.Free();
                bool tampered = i == 3;
                validators.Add(await setup.StartValidatorAsync(name, validatorPort, _dir, tls: !tampered, "--min-threshold", "3"));
                string endpoint = $"https://127.0.0.1:{validatorPort}";
                if (tampered)
                {
                    // validator-3 listens on plain HTTP (loopback); the committee reaches it through a relay that alters the sum.
                    int relayPort = LoopbackPorts.Free();
                    relay = TamperingRelayAsync(relayPort, validatorPort, relayStop.Token);
                    endpoint = $"http://127.0.0.1:{relayPort}";
                }

                members.Add(setup.Member(name, endpoint));
            }

            string committee = await CommitteePki.WriteCommitteeAsync(_dir, members);

            int port = LoopbackPorts.Free();
            string passwords = SecretFiles.WriteDevicePasswords(_dir, [.. Devices.Select(d => (d.Id, "pw-" + d.Id))]);
            Task<CliResult> coordinator = CliRunner.RunAsync(
                ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "2", "--min-devices", "4", "--secure-aggregation", "--secagg-threshold", "3",
                 .. Devices.SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
                 "--device-passwords", passwords,
                 "--ledger-key", setup.Server("coordinator", "key"), "--committee", committee, "--committee-timeout", "20", "--verbose",
                 "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")],
                timeout: TimeSpan.FromMinutes(3));
            await LoopbackPorts.WaitForListenerAsync(port, coordinator);
            Task<CliResult>[] workers = [.. Devices.Select(d => CliRunner.RunAsync(
                ["worker", "--device-id", d.Id, "--password-file", SecretFiles.Write(_dir, d.Id, "pw-" + d.Id), "--broker", $"mqtt://127.0.0.1:{port}", "--data", Path.Combine(data, d.File), "--normalizer", setup.Normalizer,
                 "--state", Path.Combine(_dir, d.Id + ".state.json"), "--exit-after-round", "2", "--mud-url", $"https://mud.example/{d.Id}.json", "--secure-aggregation"],
                timeout: TimeSpan.FromMinutes(3)))];

            CliResult c = await coordinator;
            CliResult[] ended = await Task.WhenAll(workers);
            string story = c.Stdout + c.Stderr + string.Concat(validators.Select(v => v.Describe())) + string.Concat(ended.Select(w => w.Stdout + w.Stderr));
            Assert.True(c.ExitCode == 0, story);
            Assert.Contains("secure aggregation on (threshold 3)", c.Stdout, StringComparison.Ordinal);
            Assert.All(ended, w => Assert.True(w.ExitCode == 0, story));
            for (int round = 1; round <= 2; round++)
            {
                Assert.True(c.Stdout.Contains($"round {round} completed=True participants=4", StringComparison.Ordinal) && c.Stdout.Contains("secure_aggregation=on", StringComparison.Ordinal), story);

                // Every honest validator checked the transcript and co-signed; the quorum (3 of 4) published the round.
                foreach (CliProcess v in validators.Take(3))
                {
                    Assert.True(v.StderrLines.Any(l => l.StartsWith($"round {round}: secure-aggregation transcript (roster 4, threshold 3, contributors 4", StringComparison.Ordinal) && l.EndsWith("roster, threshold and sum hash checked", StringComparison.Ordinal)), story);
                    Assert.True(v.StderrLines.Any(l => l.StartsWith($"round {round}: head ", StringComparison.Ordinal) && l.EndsWith("co-signed", StringComparison.Ordinal)), story);
                }
            }

            // The validator that got an altered sum refused round 1 by name; it never co-signed.
            CliProcess lied = validators[3];
            Assert.True(lied.StderrLines.Any(l => l.StartsWith("round 1: head ", StringComparison.Ordinal) && l.Contains("refused: sum-mismatch: the unmasked sum sent hashes to ", StringComparison.Ordinal)), story);
            Assert.DoesNotContain(lied.StderrLines, l => l.EndsWith("co-signed", StringComparison.Ordinal));
            Assert.Contains("validator-3 did not co-sign", c.Stdout + c.Stderr, StringComparison.Ordinal);

            // The ledger holds one transcript entry per round; the run record names the protocol.
            string[] entries = await File.ReadAllLinesAsync(Path.Combine(_dir, "coordinator", "ledger", "entries.jsonl"));
            Assert.Equal(2, entries.Count(l => l.Contains("\"kind\":\"transcript\"", StringComparison.Ordinal)));
            string report = await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(_dir, "runs"), "report.json", SearchOption.AllDirectories).Single(f => f.Contains("coordinator", StringComparison.Ordinal)));
            Assert.Contains("\"round_protocol\": \"secagg\"", report, StringComparison.Ordinal);

            CliResult verified = await CliRunner.RunAsync(["ledger", "verify", "--log", Path.Combine(_dir, "coordinator", "ledger"), "--committee", committee, "--log-key", setup.Server("coordinator", "crt")]);
            Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);
            Assert.Contains("6 committee co-signatures (quorum 3 of 4 on every head)", verified.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            await relayStop.CancelAsync();
            if (relay is not null)
            {
                await relay.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            }

            foreach (CliProcess v in validators)
            {
                await v.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task WorkerKilledAfterSharingItsKeys_ThresholdUnmasksTheRound_ValidatorsCoSignTheTranscriptWithTheDropout()
    {
        string data = Path.Combine(RepoPaths.Root, "samples", "data");
        CommitteePki setup = await CommitteePki.CreateAsync(_dir);
        (string Id, string File)[] devices = [.. Devices, ("ennio-2", "Ennio_Doorbell.csv.gz")];
        const string Victim = "thermostat";
        var processes = new List<CliProcess>();
        var validators = new List<CliProcess>();
        var members = new List<Dictionary<string, string>>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                string name = "validator-" + i;
                int validatorPort = LoopbackPorts.Free();
                validators.Add(await setup.StartValidatorAsync(name, validatorPort, _dir, tls: true, "--min-threshold", "3"));
                members.Add(setup.Member(name, $"https://127.0.0.1:{validatorPort}"));
            }

            string committee = await CommitteePki.WriteCommitteeAsync(_dir, members);

            // Five devices share keys; local training (1000 steps) keeps them busy after the shares went out, and the victim
            // is killed then: the masked-input phase ends after --secagg-timeout without it and the survivors' shares unmask.
            int port = LoopbackPorts.Free();
            CliProcess coordinator = CliProcess.Start("coordinator",
                ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "1", "--min-devices", "4", "--window-size", "5", "--local-steps", "1000",
                 "--secure-aggregation", "--secagg-threshold", "3", "--secagg-timeout", "30",
                 .. devices.SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
                 "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, [.. devices.Select(d => (d.Id, "pw-" + d.Id))]),
                 "--ledger-key", setup.Server("coordinator", "key"), "--committee", committee, "--committee-timeout", "30", "--verbose",
                 "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")]);
            processes.Add(coordinator);
            await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the coordinator listening");
            var workers = new Dictionary<string, CliProcess>(StringComparer.Ordinal);
            foreach ((string id, string file) in devices)
            {
                workers[id] = CliProcess.Start(id,
                    ["worker", "--device-id", id, "--password-file", SecretFiles.Write(_dir, id, "pw-" + id), "--broker", $"mqtt://127.0.0.1:{port}", "--data", Path.Combine(data, file), "--normalizer", setup.Normalizer,
                     "--exit-after-round", "1", "--mud-url", $"https://mud.example/{id}.json", "--secure-aggregation"]);
                processes.Add(workers[id]);
            }

            await coordinator.WaitForLineAsync(l => l.Contains("phase ShareKeys closed with 5 of 5 clients", StringComparison.Ordinal), TimeSpan.FromSeconds(90), "the shares of all five devices", stderr: true);
            workers[Victim].Kill();

            int exit = await coordinator.WaitForExitAsync(TimeSpan.FromSeconds(150));
            string story = coordinator.Describe() + string.Concat(validators.Select(v => v.Describe()));
            Assert.True(exit == 0, story);

            // The victim had shared its keys: it is a recovered dropout (its masks removed), not a contributor.
            Assert.Contains($"round 1 completed=True participants=4", coordinator.Stdout, StringComparison.Ordinal);
            Assert.Contains($"secure_aggregation=on recovered_dropouts={Victim}", coordinator.Stdout, StringComparison.Ordinal);
            foreach (CliProcess v in validators)
            {
                Assert.True(v.StderrLines.Any(l => l.StartsWith("round 1: secure-aggregation transcript (roster 5, threshold 3, contributors 4, recovered dropouts 1", StringComparison.Ordinal) && l.EndsWith("roster, threshold and sum hash checked", StringComparison.Ordinal)), story);
            }

            CliResult verified = await CliRunner.RunAsync(["ledger", "verify", "--log", Path.Combine(_dir, "coordinator", "ledger"), "--committee", committee, "--log-key", setup.Server("coordinator", "crt")]);
            Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr + story);
        }
        finally
        {
            foreach (CliProcess p in processes.Concat(validators))
            {
                await p.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task WorkerWithoutSecureAggregation_SecureCoordinator_StopsWithOneLineAndExitCode3()
    {
        int port = LoopbackPorts.Free();
        (string Id, string File)[] devices = Devices[..2];
        string passwords = SecretFiles.WriteDevicePasswords(_dir, [.. devices.Select(d => (d.Id, "pw-" + d.Id))]);
        await using CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "1", "--min-devices", "2", "--secure-aggregation",
             .. devices.SelectMany(d => new[] { "--device", $"{d.Id}=https://mud.example/{d.Id}.json" }),
             "--device-passwords", passwords, "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")]);
        await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the coordinator listening");

        string[] Worker((string Id, string File) d, bool secure) =>
            ["worker", "--device-id", d.Id, "--password-file", SecretFiles.Write(_dir, d.Id, "pw-" + d.Id), "--broker", $"mqtt://127.0.0.1:{port}",
             "--data", Path.Combine(RepoPaths.Root, "samples", "data", d.File), "--exit-after-round", "1", "--mud-url", $"https://mud.example/{d.Id}.json", .. secure ? new[] { "--secure-aggregation" } : []];

        // The secure worker only fills the round's window; it is killed with the coordinator once the other has stopped.
        await using CliProcess secureWorker = CliProcess.Start("secure worker", Worker(devices[0], secure: true));
        CliResult plaintext = await CliRunner.RunAsync(Worker(devices[1], secure: false), timeout: TimeSpan.FromMinutes(2));

        string story = plaintext.Stdout + plaintext.Stderr + coordinator.Describe();
        Assert.True(plaintext.ExitCode == 3, story);
        string[] errors = [.. plaintext.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("fededge worker:", StringComparison.Ordinal))];
        Assert.Equal("fededge worker: the coordinator runs secure aggregation (round 1 task) and would refuse this worker's plaintext update; start the worker with --secure-aggregation.", Assert.Single(errors).TrimEnd('\r'));
        Assert.DoesNotContain("   at ", plaintext.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerWithSecureAggregation_PlaintextCoordinator_StopsWithOneLineAndExitCode3()
    {
        int port = LoopbackPorts.Free();
        (string Id, string File) d = Devices[0];
        await using CliProcess coordinator = CliProcess.Start("coordinator",
            ["coordinator", "--port", port.ToString(CultureInfo.InvariantCulture), "--rounds", "1", "--min-devices", "1", "--device", $"{d.Id}=https://mud.example/{d.Id}.json",
             "--device-passwords", SecretFiles.WriteDevicePasswords(_dir, (d.Id, "pw")), "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs")]);
        await coordinator.WaitForLineAsync(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the coordinator listening");

        CliResult worker = await CliRunner.RunAsync(
            ["worker", "--device-id", d.Id, "--password-file", SecretFiles.Write(_dir, d.Id, "pw"), "--broker", $"mqtt://127.0.0.1:{port}",
             "--data", Path.Combine(RepoPaths.Root, "samples", "data", d.File), "--exit-after-round", "1", "--mud-url", $"https://mud.example/{d.Id}.json", "--secure-aggregation"],
            timeout: TimeSpan.FromMinutes(2));

        Assert.True(worker.ExitCode == 3, worker.Stdout + worker.Stderr + coordinator.Describe());
        Assert.Equal(
            "fededge worker: the coordinator's round 1 task does not ask for secure aggregation; start this worker without --secure-aggregation (or the coordinator with it).",
            Assert.Single(worker.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("fededge worker:", StringComparison.Ordinal)).TrimEnd('\r'));
        Assert.DoesNotContain("   at ", worker.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--strategy median --min-devices 4", "--strategy median needs each device's update, but --secure-aggregation reveals only their sum; use a sum-based strategy (fedavg, ")]
    [InlineData("--min-devices 4 --secagg-threshold 5", "--secagg-threshold 5 exceeds --min-devices 4: a round could never gather the shares to unmask; use a threshold between 2 and 4.")]
    [InlineData("--min-devices 4 --secagg-threshold 1", "--secagg-threshold 1 is too low: secure aggregation needs a threshold of at least 2.")]
    [InlineData("--min-devices 1", "--secure-aggregation needs at least 2 devices per round: --min-devices 1 is too few.")]
    [InlineData("--min-devices 2 --codec topk:0.1", "--codec does not combine with --secure-aggregation (masked updates must travel exactly).")]
    [InlineData("--min-devices 2 --secagg-clip-range -1", "--secagg-clip-range must be a positive number.")]
    [InlineData("--min-devices 2 --secagg-clip-range 2 --no-secure", "--secagg-threshold, --secagg-clip-range and --secagg-timeout apply to secure aggregation: give --secure-aggregation too.")]
    public async Task CoordinatorSecureAggregationOptions_ThatCannotWork_ExitTwoWithOneLine(string arguments, string expected)
    {
        List<string> args = ["coordinator", "--port", "0", "--out", Path.Combine(_dir, "coordinator"), "--runs", Path.Combine(_dir, "runs"), .. arguments.Split(' ').Where(a => a != "--no-secure")];
        if (!arguments.Contains("--no-secure", StringComparison.Ordinal))
        {
            args.Add("--secure-aggregation");
        }

        CliResult result = await CliRunner.RunAsync(args, timeout: TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, result.Stdout + result.Stderr);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)).TrimEnd('\r');
        Assert.StartsWith("fededge coordinator: " + expected, line, StringComparison.Ordinal);
        Assert.Empty(result.Stdout.Trim());
    }

    /// <summary>
    /// Relays POST /cosign from 127.0.0.1:<paramref name="port"/> to the validator on <paramref name="target"/>, adding 1
    /// to the first value of any <c>secure_sum</c> on the way: a coordinator (or a network) that lies about the sum.
    /// </summary>
    private static async Task TamperingRelayAsync(int port, int target, CancellationToken cancellationToken)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using CancellationTokenRegistration stop = cancellationToken.Register(listener.Stop);
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            JsonNode request = JsonNode.Parse(await reader.ReadToEndAsync(cancellationToken))!;
            if (request["secure_sum"] is JsonNode sum)
            {
                float[] values = MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(sum.GetValue<string>())).ToArray();
                values[0] += 1f;
                request["secure_sum"] = Convert.ToBase64String(MemoryMarshal.AsBytes(values.AsSpan()));
            }

            using var content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json");
            using HttpResponseMessage answer = await client.PostAsync(new Uri($"http://127.0.0.1:{target}/cosign"), content, cancellationToken);
            byte[] body = await answer.Content.ReadAsByteArrayAsync(cancellationToken);
            context.Response.StatusCode = (int)answer.StatusCode;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body, cancellationToken);
            context.Response.Close();
        }
    }
}
