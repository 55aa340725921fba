using FedEdge.Audit;
using FedEdge.Checkpoints;
using FedEdge.Coordination;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge audit verify</c> run as a process on logs written by <see cref="FileAuditLog"/>.</summary>
public sealed class AuditCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-cli-audit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static RoundResult Round(long round)
    {
        var parameters = new ParameterSet(new ParameterLayout(new TensorSpec("w", 2)), [round, 1f]);
        return new RoundResult { Round = round, Completed = true, Contributors = ["d1", "d2"], SampleCount = 8, GlobalParameters = parameters, GlobalHash = parameters.ComputeHash() };
    }

    /// <summary>Writes a log of <paramref name="entries"/> rounds and a checkpoint in DIR/ckpt that recorded its head.</summary>
    private async Task<(string Log, string CheckpointDir, AuditLogHead Head)> WriteLogAndCheckpointAsync(int entries)
    {
        string log = Path.Combine(_dir, "audit.log");
        var audit = new FileAuditLog(log);
        for (int r = 1; r <= entries; r++)
        {
            await audit.AppendAsync(Round(r));
        }

        string checkpointDir = Path.Combine(_dir, "ckpt");
        await new FileCheckpointStore(checkpointDir).SaveAsync(new CoordinatorCheckpoint { Round = entries, Parameters = Round(entries).GlobalParameters, AuditLog = audit.Head });
        return (log, checkpointDir, audit.Head);
    }

    [Fact]
    public async Task AuditVerify_IntactLog_PrintsOkWithEntriesAndHeadExitsZero()
    {
        (string log, string checkpointDir, AuditLogHead head) = await WriteLogAndCheckpointAsync(3);

        CliResult chainOnly = await CliRunner.RunAsync(["audit", "verify", "--log", log]);
        CliResult anchored = await CliRunner.RunAsync(["audit", "verify", "--log", log, "--checkpoint", checkpointDir]);

        foreach (CliResult result in new[] { chainOnly, anchored })
        {
            Assert.Equal(0, result.ExitCode);
            Assert.Equal($"audit log OK: 3 entries, head {head.HeadHash}", result.Stdout.Trim());
            Assert.Equal(string.Empty, result.Stderr);
        }
    }

    [Fact]
    public async Task AuditVerify_LastLineDeleted_PassesWithoutCheckpointButIsTamperedAgainstItExitsOne()
    {
        (string log, string checkpointDir, _) = await WriteLogAndCheckpointAsync(3);
        string[] lines = await File.ReadAllLinesAsync(log);
        await File.WriteAllTextAsync(log, lines[0] + "\n" + lines[1] + "\n");

        CliResult chainOnly = await CliRunner.RunAsync(["audit", "verify", "--log", log]);
        Assert.Equal(0, chainOnly.ExitCode);
        Assert.StartsWith("audit log OK: 2 entries, head ", chainOnly.Stdout, StringComparison.Ordinal);

        CliResult anchored = await CliRunner.RunAsync(["audit", "verify", "--log", log, "--checkpoint", checkpointDir]);
        Assert.Equal(1, anchored.ExitCode);
        Assert.Equal("audit log TAMPERED: truncated: the log has 2 entries but the checkpoint recorded 3", anchored.Stdout.Trim());
    }

    [Fact]
    public async Task AuditVerify_EditedLine_IsTamperedNamingTheLineExitsOne()
    {
        (string log, _, _) = await WriteLogAndCheckpointAsync(2);
        string[] lines = await File.ReadAllLinesAsync(log);
        await File.WriteAllTextAsync(log, lines[0] + "\n" + lines[1].Replace("\"d2\"", "\"d3\"", StringComparison.Ordinal) + "\n");

        CliResult result = await CliRunner.RunAsync(["audit", "verify", "--log", log]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("audit log TAMPERED: line 2: ", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("missing-log")]
    [InlineData("missing-checkpoint")]
    [InlineData("checkpoint-without-head")]
    [InlineData("no-log-option")]
    [InlineData("unknown-option")]
    public async Task AuditVerify_BadArgumentsOrMissingFiles_OneLineErrorExitsTwo(string scenario)
    {
        (string log, _, _) = await WriteLogAndCheckpointAsync(1);
        string oldCheckpoint = Path.Combine(_dir, "old-ckpt");
        await new FileCheckpointStore(oldCheckpoint).SaveAsync(new CoordinatorCheckpoint { Round = 1, Parameters = Round(1).GlobalParameters });
        string[] arguments = scenario switch
        {
            "missing-log" => ["audit", "verify", "--log", Path.Combine(_dir, "nope.log")],
            "missing-checkpoint" => ["audit", "verify", "--log", log, "--checkpoint", Path.Combine(_dir, "nope")],
            "checkpoint-without-head" => ["audit", "verify", "--log", log, "--checkpoint", oldCheckpoint],
            "no-log-option" => ["audit", "verify"],
            _ => ["audit", "verify", "--log", log, "--bogus"],
        };

        CliResult result = await CliRunner.RunAsync(arguments);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(string.Empty, result.Stdout);
        string error = result.Stderr.Trim();
        Assert.StartsWith("fededge audit verify: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
        Assert.False(Directory.Exists(Path.Combine(_dir, "nope")), "verify must not create a missing checkpoint folder");
    }
}
