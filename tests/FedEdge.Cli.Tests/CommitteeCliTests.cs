using System.Text.Json;
using System.Text.Json.Nodes;
using FedEdge.Transparency;

namespace FedEdge.Cli.Tests;

/// <summary>
/// <c>fededge simulate --committee 4 --faulty-validator down|lying</c> then <c>fededge ledger verify --committee</c>, as a
/// user runs them: the federation keeps going with one faulty validator of four, every head carries a quorum, and a
/// copy with too few or forged co-signatures fails and names the head.
/// </summary>
public sealed class CommitteeCliTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "fededge-committee-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_out))
        {
            Directory.Delete(_out, recursive: true);
        }
    }

    [Fact]
    public async Task Simulate_CommitteeOfFourOneDown_EveryRoundPublishedAndVerifyChecksTheQuorum()
    {
        JsonNode report = await SimulateAsync("down");
        foreach (JsonNode? round in report["rounds"]!.AsArray())
        {
            Assert.Null(round!["failure"]);
            Assert.Equal(3, round["committee"]!["cosignatures"]!.GetValue<int>());
            Assert.StartsWith("down: validator-3 is down", round["committee"]!["witnesses"]![3]!["problem"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        string committee = Path.Combine(_out, "committee", "committee.json");
        Assert.Equal(committee, report["ledger"]!["committee"]!.GetValue<string>());
        CliResult clean = await VerifyAsync(Path.Combine(_out, "ledger"), committee);
        Assert.True(clean.ExitCode == 0, clean.Stdout + clean.Stderr);
        JsonNode ok = JsonNode.Parse(clean.Stdout)!;
        Assert.Equal(6, ok["cosignatures_checked"]!.GetValue<int>());

        // Too few: the second head keeps 2 of its 3 co-signatures.
        string fewer = CopyLedger("fewer");
        RewriteCoSignatures(fewer, 1, list => list.RemoveAt(0));
        CliResult tooFew = await VerifyAsync(fewer, committee);
        Assert.Equal(1, tooFew.ExitCode);
        JsonNode few = JsonNode.Parse(tooFew.Stdout)!;
        Assert.Equal("no-quorum", few["failure"]!.GetValue<string>());
        Assert.Equal(2, few["bad_head"]!.GetValue<int>());
        Assert.Contains("has 2 valid co-signatures of the 3", few["problem"]!.GetValue<string>(), StringComparison.Ordinal);

        // Forged: one byte of a co-signature on the first head changed.
        string forged = CopyLedger("forged");
        RewriteCoSignatures(forged, 0, list =>
        {
            byte[] signature = Convert.FromBase64String(list[1]!["signature"]!.GetValue<string>());
            signature[10] ^= 0x01;
            list[1]!["signature"] = Convert.ToBase64String(signature);
        });
        CliResult bad = await VerifyAsync(forged, committee);
        Assert.Equal(1, bad.ExitCode);
        JsonNode forgedResult = JsonNode.Parse(bad.Stdout)!;
        Assert.Equal(1, forgedResult["bad_head"]!.GetValue<int>());
        Assert.Contains("validator-1's co-signature does not verify (forged)", forgedResult["problem"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_CommitteeOfFourOneLying_ItsCoSignatureIsDiscardedAndEveryRoundPublished()
    {
        JsonNode report = await SimulateAsync("lying");
        foreach (JsonNode? round in report["rounds"]!.AsArray())
        {
            Assert.Null(round!["failure"]);
            Assert.Equal(3, round["committee"]!["cosignatures"]!.GetValue<int>());
            Assert.Equal("its co-signature does not verify with its configured key", round["committee"]!["witnesses"]![3]!["problem"]!.GetValue<string>());
        }

        CliResult verified = await VerifyAsync(Path.Combine(_out, "ledger"), Path.Combine(_out, "committee", "committee.json"));
        Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);
    }

    [Theory]
    [InlineData("--committee 3", "a committee has 3f + 1 validators")]
    [InlineData("--faulty-validator down", "--faulty-validator needs --committee N")]
    [InlineData("--committee 4 --dp-noise 1", "--committee recomputes each aggregate")]
    public async Task Simulate_BadCommitteeOptions_OneLineAndExitTwo(string options, string expected)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", .. options.Split(' '), "--rounds", "1", "--out", _out], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_MissingCommitteeFile_OneLineAndExitTwo()
    {
        Directory.CreateDirectory(_out);
        await File.WriteAllTextAsync(Path.Combine(_out, FileTransparencyLog.HeadsFile), string.Empty);
        CliResult result = await CliRunner.RunAsync(["ledger", "verify", "--log", _out, "--committee", Path.Combine(_out, "nope.json")], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("the committee file", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--secure-aggregation", "transcript")]
    [InlineData("--strategy fedadam", "state_before")]
    [InlineData("--strategy fedavgm", "state_before")]
    public async Task Simulate_CommitteeOfFourOnNewRoundKinds_EveryRoundCoSignedByAllFourAndVerifyPasses(string options, string logged)
    {
        // Secure aggregation: validators check the transcript and recompute from the unmasked sum. Stateful strategies:
        // they check the server-optimiser state sent against the round record's hash and recompute from it.
        CliResult run = await CliRunner.RunAsync(
            ["simulate", "--committee", "4", .. options.Split(' '), "--rounds", "2", "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        JsonNode report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")))!;
        JsonArray rounds = report["rounds"]!.AsArray();
        Assert.Equal(2, rounds.Count);
        foreach (JsonNode? round in rounds)
        {
            Assert.Null(round!["failure"]);
            JsonNode committeeResult = round["committee"]!;
            Assert.True(committeeResult["cosignatures"]!.GetValue<int>() == 4, committeeResult.ToJsonString());
        }

        string[] entries = await File.ReadAllLinesAsync(Path.Combine(_out, "ledger", FileTransparencyLog.EntriesFile));
        Assert.Equal(2, entries.Count(e => e.Contains($"\"{logged}\"", StringComparison.Ordinal)));
        CliResult verify = await CliRunner.RunAsync(
            ["ledger", "verify", "--log", Path.Combine(_out, "ledger"), "--committee", Path.Combine(_out, "committee", "committee.json"), .. report["ledger"]!["ca"] is { } ca ? new[] { "--ca", ca.GetValue<string>() } : [], "--json"],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(1));
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
    }

    private async Task<JsonNode> SimulateAsync(string fault)
    {
        CliResult run = await CliRunner.RunAsync(
            ["simulate", "--committee", "4", "--faulty-validator", fault, "--rounds", "2", "--thermal", "off", "--out", _out, "--runs", Path.Combine(_out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains("--committee " + Path.Combine(_out, "committee", "committee.json"), run.Stdout.ReplaceLineEndings(string.Empty), StringComparison.Ordinal);
        return JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_out, "report.json")))!;
    }

    private static Task<CliResult> VerifyAsync(string ledger, string committee) =>
        CliRunner.RunAsync(["ledger", "verify", "--log", ledger, "--committee", committee, "--json"], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(1));

    private string CopyLedger(string name)
    {
        string target = Path.Combine(_out, name);
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(Path.Combine(_out, "ledger")))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        return target;
    }

    private static void RewriteCoSignatures(string ledger, int line, Action<JsonArray> change)
    {
        string path = Path.Combine(ledger, FileTransparencyLog.CoSignaturesFile);
        string[] lines = File.ReadAllLines(path);
        JsonNode node = JsonNode.Parse(lines[line])!;
        change(node["cosignatures"]!.AsArray());
        lines[line] = node.ToJsonString(new JsonSerializerOptions());
        File.WriteAllLines(path, lines);
    }
}
