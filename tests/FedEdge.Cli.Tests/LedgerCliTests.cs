using System.Text;
using System.Text.Json;
using FedEdge.Transparency;

namespace FedEdge.Cli.Tests;

/// <summary>One attacked simulation's transparency log, written by the built CLI, shared by <see cref="LedgerCliTests"/>.</summary>
public sealed class LedgerRunFixture : IAsyncLifetime
{
    public string Out { get; } = Path.Combine(Path.GetTempPath(), "fededge-ledger-run-" + Guid.NewGuid().ToString("N"));

    public string Ledger => Path.Combine(Out, "ledger");

    public string Ca => Path.Combine(Out, "federation-ca.pem");

    public string Coordinator => Path.Combine(Out, "coordinator.pem");

    public CliResult Simulate { get; private set; } = new(-1, string.Empty, string.Empty);

    public async Task InitializeAsync()
    {
        Simulate = await CliRunner.RunAsync(
            ["simulate", "--split-devices", "4", "--attack", "scale:10", "--attackers", "3", "--strategy", "median", "--rounds", "3", "--thermal", "off", "--out", Out, "--runs", Path.Combine(Out, "runs")],
            workingDirectory: RepoPaths.Root,
            timeout: TimeSpan.FromMinutes(5));
    }

    public Task DisposeAsync()
    {
        if (Directory.Exists(Out))
        {
            Directory.Delete(Out, recursive: true);
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// <c>fededge simulate</c> then <c>fededge ledger verify</c>, as a user runs them: the clean log verifies with every
/// proof and device signature; a truncated copy, a copy with a rewritten entry (every hash recomputed), forged
/// signatures and an entry removed from under its head each fail with exit code 1 and name the damage.
/// </summary>
public sealed class LedgerCliTests(LedgerRunFixture run) : IClassFixture<LedgerRunFixture>, IDisposable
{
    private readonly string _copy = Path.Combine(Path.GetTempPath(), "fededge-ledger-copy-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_copy))
        {
            Directory.Delete(_copy, recursive: true);
        }
    }

    [Fact]
    public async Task Verify_CleanRun_PassesEveryCheckAgainstTheCaAndThePinnedCoordinatorKey()
    {
        Assert.True(run.Simulate.ExitCode == 0, run.Simulate.Stdout + run.Simulate.Stderr);
        Assert.Contains("fededge ledger verify --log", run.Simulate.Stdout, StringComparison.Ordinal);
        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(run.Out, "report.json")));
        Assert.Equal(3, report.RootElement.GetProperty("attackers").GetArrayLength());

        CliResult text = await Verify(run.Ledger, "--ca", run.Ca, "--log-key", run.Coordinator);
        Assert.True(text.ExitCode == 0, text.Stdout + text.Stderr);
        Assert.StartsWith("ledger OK: ", text.Stdout, StringComparison.Ordinal);

        JsonElement json = await VerifyJson(run.Ledger, 0, "--ca", run.Ca, "--log-key", run.Coordinator);
        string[] lines = await File.ReadAllLinesAsync(Path.Combine(run.Ledger, "entries.jsonl"));
        int updates = lines.Count(l => l.Contains("\"kind\":\"update\"", StringComparison.Ordinal));
        string[] records = [.. lines.Where(l => l.Contains("\"kind\":\"round\"", StringComparison.Ordinal))];
        Assert.Equal(3, records.Length);
        Assert.All(records, r => Assert.Contains("\"strategy\":\"median\",\"mixing\":\"nnm\"", r, StringComparison.Ordinal));
        Assert.True(updates >= 16, $"round 1 alone accepts all 16 devices' updates, but the log holds {updates}");
        Assert.Equal(lines.Length, json.GetProperty("entries").GetInt32());
        Assert.Equal(3, json.GetProperty("heads").GetInt32());
        Assert.Equal(lines.Length, json.GetProperty("inclusion_proofs_checked").GetInt32());
        Assert.Equal(2, json.GetProperty("consistency_proofs_checked").GetInt32());
        Assert.Equal(updates, json.GetProperty("device_signatures_checked").GetInt32());
        Assert.Equal(updates, json.GetProperty("certificates_checked").GetInt32());
        Assert.True(json.GetProperty("log_key_pinned").GetBoolean());
        Assert.Equal(report.RootElement.GetProperty("ledger").GetProperty("root").GetString(), json.GetProperty("root").GetString());
    }

    [Fact]
    public async Task Verify_TruncatedCopy_NamesTheFirstMissingEntry()
    {
        string[] lines = CopyLog();
        await File.WriteAllLinesAsync(Path.Combine(_copy, "entries.jsonl"), lines[..^5]);

        JsonElement json = await VerifyJson(_copy, 1);
        Assert.Equal("truncated", json.GetProperty("failure").GetString());
        Assert.Equal(lines.Length - 5, json.GetProperty("first_bad_entry").GetInt32());
    }

    [Fact]
    public async Task Verify_RewrittenEntryWithEveryHashRecomputed_NamesThatEntry()
    {
        string[] lines = CopyLog();
        int k = Array.FindIndex(lines, l => l.Contains("\"kind\":\"round\"", StringComparison.Ordinal));
        lines[k] = lines[k].Replace("\"completed\":true", "\"completed\":true,\"note\":\"x\"", StringComparison.Ordinal).Replace("\"model\":\"", "\"model\":\"0", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(Path.Combine(_copy, "entries.jsonl"), lines);

        // The forger recomputes the Merkle root of every head; only the log key could sign them again.
        var tree = new MerkleTree();
        foreach (string line in lines)
        {
            tree.Append(Encoding.UTF8.GetBytes(line));
        }

        string headsPath = Path.Combine(_copy, "heads.jsonl");
        string[] heads = [.. (await File.ReadAllLinesAsync(headsPath)).Select(h =>
        {
            SignedTreeHead head = SignedTreeHead.Parse(h);
            return (head with { RootHash = tree.RootHash((int)head.Size) }).ToJson();
        })];
        await File.WriteAllLinesAsync(headsPath, heads);

        JsonElement json = await VerifyJson(_copy, 1);
        Assert.Equal("rewritten", json.GetProperty("failure").GetString());
        Assert.Equal(k, json.GetProperty("first_bad_entry").GetInt32());
        CliResult text = await Verify(_copy);
        Assert.Contains($"entry {k} (round 1, round)", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ForgedDeviceSignature_NamesTheEntryAndDevice()
    {
        string[] lines = CopyLog();
        int k = Array.FindLastIndex(lines, l => l.Contains("\"kind\":\"update\"", StringComparison.Ordinal));
        using JsonDocument entry = JsonDocument.Parse(lines[k]);
        string signature = entry.RootElement.GetProperty("signature").GetString()!;
        byte[] forged = Convert.FromBase64String(signature);
        forged[10] ^= 0x01;
        lines[k] = lines[k].Replace(signature, Convert.ToBase64String(forged), StringComparison.Ordinal);
        await File.WriteAllLinesAsync(Path.Combine(_copy, "entries.jsonl"), lines);

        JsonElement json = await VerifyJson(_copy, 1, "--ca", run.Ca);
        Assert.Equal("forged-device-signature", json.GetProperty("failure").GetString());
        Assert.Equal(k, json.GetProperty("first_bad_entry").GetInt32());
        Assert.Contains(entry.RootElement.GetProperty("device").GetString()!, json.GetProperty("problem").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ForgedHeadSignature_NamesTheHead()
    {
        CopyLog();
        string headsPath = Path.Combine(_copy, "heads.jsonl");
        string[] heads = await File.ReadAllLinesAsync(headsPath);
        SignedTreeHead second = SignedTreeHead.Parse(heads[1]);
        byte[] forged = second.Signature.ToArray();
        forged[^1] ^= 0x80;
        heads[1] = (second with { Signature = forged }).ToJson();
        await File.WriteAllLinesAsync(headsPath, heads);

        JsonElement json = await VerifyJson(_copy, 1);
        Assert.Equal("forged-head-signature", json.GetProperty("failure").GetString());
        Assert.Equal(2, json.GetProperty("bad_head").GetInt32());
    }

    [Fact]
    public async Task Verify_EntryRemovedFromUnderItsHead_NamesTheGap()
    {
        string[] lines = CopyLog();
        int k = lines.Length / 2;
        string[] receipts = await File.ReadAllLinesAsync(Path.Combine(_copy, "receipts.jsonl"));
        await File.WriteAllLinesAsync(Path.Combine(_copy, "entries.jsonl"), lines.Where((_, i) => i != k));
        await File.WriteAllLinesAsync(Path.Combine(_copy, "receipts.jsonl"), receipts.Where((_, i) => i != k));

        JsonElement json = await VerifyJson(_copy, 1);
        Assert.Equal("missing-entry", json.GetProperty("failure").GetString());
        Assert.Equal(k, json.GetProperty("first_bad_entry").GetInt32());
        Assert.Contains("1 entry is missing before it", json.GetProperty("problem").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_LogResignedWithAnotherKey_FailsAgainstThePinnedCoordinatorKey()
    {
        string[] lines = CopyLog();
        foreach (string file in new[] { "entries.jsonl", "receipts.jsonl", "heads.jsonl", "log-key.pem" })
        {
            File.Delete(Path.Combine(_copy, file));
        }

        // A forger rebuilds the whole log under a key of its own, dropping the last round.
        using var forger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var log = new FileTransparencyLog(_copy, forger);
        int keep = lines.Length - 10;
        await log.AppendAsync([.. lines.Take(keep).Select(l => LedgerEntry.Parse(Encoding.UTF8.GetBytes(l)).Entry)]);

        Assert.Equal(0, (await Verify(_copy)).ExitCode);
        JsonElement json = await VerifyJson(_copy, 1, "--log-key", run.Coordinator);
        Assert.Equal("rewritten", json.GetProperty("failure").GetString());
        Assert.Contains("not signed by the pinned key", json.GetProperty("problem").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "--log DIR is required")]
    [InlineData(new[] { "--log", "/nonexistent/fededge-ledger" }, "was not found")]
    [InlineData(new[] { "--log", ".", "--bogus" }, "unexpected argument")]
    public async Task Verify_BadArguments_ExitTwoWithOneLine(string[] args, string expected)
    {
        CliResult result = await CliRunner.RunAsync(["ledger", "verify", .. args], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(2, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    private string[] CopyLog()
    {
        Assert.True(run.Simulate.ExitCode == 0, run.Simulate.Stdout + run.Simulate.Stderr);
        Directory.CreateDirectory(_copy);
        foreach (string file in Directory.GetFiles(run.Ledger))
        {
            File.Copy(file, Path.Combine(_copy, Path.GetFileName(file)));
        }

        return File.ReadAllLines(Path.Combine(_copy, "entries.jsonl"));
    }

    private static Task<CliResult> Verify(string dir, params string[] more) =>
        CliRunner.RunAsync(["ledger", "verify", "--log", dir, .. more], workingDirectory: RepoPaths.Root, timeout: TimeSpan.FromMinutes(1));

    private static async Task<JsonElement> VerifyJson(string dir, int exit, params string[] more)
    {
        CliResult result = await Verify(dir, ["--json", .. more]);
        Assert.True(result.ExitCode == exit, $"exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.Clone();
    }
}
