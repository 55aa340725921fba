using FedEdge.Audit;
using FedEdge.Coordination;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using static FedEdge.Core.Tests.Audit.AuditLogFiles;

namespace FedEdge.Core.Tests.Audit;

/// <summary>
/// The hash chain alone accepts a log whose last lines were deleted, or one rewritten with every hash recomputed;
/// the head a checkpoint recorded catches both.
/// </summary>
public sealed class AuditLogAnchorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-audit-anchor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string NewPath() => Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".log");

    private FileAuditLog Open(string path) => new(path, new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000)) { AutoAdvanceAmount = TimeSpan.FromSeconds(1) });

    public static TheoryData<int, int> EntriesAndCount()
    {
        var data = new TheoryData<int, int>();
        for (int entries = 1; entries <= 5; entries++)
        {
            for (int count = 1; count <= entries; count++)
            {
                data.Add(entries, count);
            }
        }

        return data;
    }

    [Fact]
    public void Head_NewLog_IsTheEmptyHeadWithTheGenesisHash()
    {
        FileAuditLog log = Open(NewPath());
        Assert.Equal(0, log.Head.Entries);
        Assert.Equal(FileAuditLog.GenesisHash, log.Head.HeadHash);
        Assert.Equal(AuditLogHead.Empty, log.Head);
    }

    [Fact]
    public async Task Head_AfterEachAppend_IsTheLastLinesHashAndCount()
    {
        string path = NewPath();
        FileAuditLog log = Open(path);
        for (int round = 1; round <= 4; round++)
        {
            await log.AppendAsync(Round(round));
            string[] lines = await File.ReadAllLinesAsync(path);
            Assert.Equal(new AuditLogHead(round, HashOf(lines[^1])), log.Head);
            Assert.Equal(FileAuditLog.Verify(path).Head, log.Head);
        }
    }

    [Fact]
    public async Task Head_ReopenedExistingLog_ContinuesFromItsLastEntry()
    {
        string path = NewPath();
        AuditLogHead before = await AppendRoundsAsync(Open(path), 3);

        FileAuditLog reopened = Open(path);
        Assert.Equal(before, reopened.Head);

        AuditLogHead after = await AppendRoundsAsync(reopened, 1, first: 4);
        Assert.Equal(4, after.Entries);
        AuditVerification verification = FileAuditLog.Verify(path, after);
        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(after, verification.Head);
    }

    [Fact]
    public async Task Head_ConcurrentAppends_CountsEveryEntryAndMatchesTheFile()
    {
        string path = NewPath();
        FileAuditLog log = Open(path);
        long lastSeen = 0;
        bool monotonic = true;
        using var stop = new CancellationTokenSource();
        Task reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                long seen = log.Head.Entries;
                monotonic &= seen >= lastSeen;
                lastSeen = seen;
                await Task.Yield();
            }
        });

        await Task.WhenAll(Enumerable.Range(1, 24).Select(r => Task.Run(async () => await log.AppendAsync(Round(r)))));
        await stop.CancelAsync();
        await reader;

        Assert.True(monotonic, "Head.Entries went backwards while appends ran");
        Assert.Equal(24, log.Head.Entries);
        AuditVerification verification = FileAuditLog.Verify(path, log.Head);
        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(log.Head, verification.Head);
    }

    [Fact]
    public void Head_PortImplementationWithoutAHead_DefaultsToNull()
    {
        IRoundAuditLog custom = new AppendOnlyAudit();
        IRoundAuditLog file = Open(NewPath());
        Assert.Null(custom.Head);
        Assert.Equal(AuditLogHead.Empty, file.Head);
    }

    [Fact]
    public async Task Verify_IntactLogWithTheCheckpointsHead_IsValid()
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), 3);

        AuditVerification verification = FileAuditLog.Verify(path, head);

        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(AuditFailure.None, verification.Failure);
        Assert.Equal(3, verification.Entries);
        Assert.Equal(head.HeadHash, verification.LastHash);
    }

    [Fact]
    public async Task Verify_LogGrownByOneAfterTheCheckpoint_IsValid()
    {
        string path = NewPath();
        FileAuditLog log = Open(path);
        AuditLogHead checkpointed = await AppendRoundsAsync(log, 3);
        await log.AppendAsync(Round(4)); // crash after the audit append, before the checkpoint save

        AuditVerification verification = FileAuditLog.Verify(path, checkpointed);

        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(4, verification.Entries);
    }

    [Fact]
    public async Task Verify_EmptyLogsHeadAsAnchor_AcceptsAnyIntactLogButNotAnotherHash()
    {
        string path = NewPath();
        await AppendRoundsAsync(Open(path), 2);

        Assert.True(FileAuditLog.Verify(path, AuditLogHead.Empty).IsValid);
        AuditVerification forged = FileAuditLog.Verify(path, new AuditLogHead(0, new string('f', 64)));
        Assert.Equal(AuditFailure.Rewritten, forged.Failure);
        Assert.Null(forged.BrokenLine);
    }

    [Theory]
    [MemberData(nameof(EntriesAndCount))]
    public async Task Verify_LastLinesDeleted_PassesTheChainButIsTruncatedAgainstTheCheckpoint(int entries, int deleted)
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), entries);
        string[] lines = await File.ReadAllLinesAsync(path);
        Write(path, lines[..^deleted]);

        AuditVerification chainOnly = FileAuditLog.Verify(path);
        Assert.True(chainOnly.IsValid, chainOnly.Problem);
        Assert.Equal(entries - deleted, chainOnly.Entries);

        AuditVerification anchored = FileAuditLog.Verify(path, head);
        Assert.False(anchored.IsValid);
        Assert.Equal(AuditFailure.Truncated, anchored.Failure);
        Assert.Equal($"truncated: the log has {entries - deleted} entries but the checkpoint recorded {entries}", anchored.Problem);
        Assert.Equal(entries - deleted + 1, anchored.BrokenLine);
    }

    [Fact]
    public async Task Verify_LogFileDeleted_IsTruncatedAgainstTheCheckpoint()
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), 2);
        File.Delete(path);

        Assert.True(FileAuditLog.Verify(path).IsValid);
        AuditVerification anchored = FileAuditLog.Verify(path, head);
        Assert.Equal(AuditFailure.Truncated, anchored.Failure);
        Assert.Equal("truncated: the log has 0 entries but the checkpoint recorded 2", anchored.Problem);
    }

    [Theory]
    [MemberData(nameof(EntriesAndCount))]
    public async Task Verify_WholeLogRewrittenWithEveryHashRecomputed_PassesTheChainButIsRewrittenAgainstTheCheckpoint(int entries, int edited)
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), entries);
        List<AuditEntry> content = Read(path);
        content[edited - 1] = content[edited - 1] with { Contributors = ["mallory"] };
        Write(path, Chain(content));

        AuditVerification chainOnly = FileAuditLog.Verify(path);
        Assert.True(chainOnly.IsValid, chainOnly.Problem);
        Assert.Equal(entries, chainOnly.Entries);
        Assert.NotEqual(head.HeadHash, chainOnly.LastHash);

        AuditVerification anchored = FileAuditLog.Verify(path, head);
        Assert.False(anchored.IsValid);
        Assert.Equal(AuditFailure.Rewritten, anchored.Failure);
        Assert.Equal(entries, anchored.BrokenLine);
        Assert.Equal(
            $"rewritten: entry {entries}'s hash {chainOnly.LastHash} differs from the checkpoint's head {head.HeadHash} (the log was changed and its hashes recomputed)",
            anchored.Problem);
    }

    [Fact]
    public async Task Verify_RewrittenLogThatKeepsGrowing_IsStillRewrittenAgainstTheCheckpoint()
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), 3);
        List<AuditEntry> content = Read(path);
        content[0] = content[0] with { Samples = 1_000_000 };
        Write(path, Chain(content));
        await AppendRoundsAsync(Open(path), 2, first: 4); // the log opens (its chain is valid) and grows

        AuditVerification anchored = FileAuditLog.Verify(path, head);
        Assert.Equal(AuditFailure.Rewritten, anchored.Failure);
        Assert.Equal(5, anchored.Entries);
    }

    [Fact]
    public async Task Verify_BrokenChainWithAnchor_ReportsTheBrokenLineFirst()
    {
        string path = NewPath();
        AuditLogHead head = await AppendRoundsAsync(Open(path), 3);
        string[] lines = await File.ReadAllLinesAsync(path);
        Write(path, [lines[0], lines[1].Replace("\"samples\":20", "\"samples\":21", StringComparison.Ordinal), lines[2]]);

        AuditVerification anchored = FileAuditLog.Verify(path, head);
        Assert.Equal(AuditFailure.BrokenChain, anchored.Failure);
        Assert.Equal(2, anchored.BrokenLine);
        Assert.Contains("edited", anchored.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditLogHead_NegativeEntriesOrBlankHash_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AuditLogHead(-1, FileAuditLog.GenesisHash));
        Assert.Throws<ArgumentException>(() => new AuditLogHead(1, " "));
    }

    /// <summary>An attacker's edit of one entry before the rewrite and re-chain.</summary>
    public sealed record Edit(int Entry, int Kind);

    /// <summary>A log of <paramref name="Entries"/> entries checkpointed after <paramref name="Anchor"/>, then rewritten: edits, one entry dropped (0 = none), <paramref name="Grow"/> entries added, every hash recomputed.</summary>
    public sealed record Rewrite(int Entries, int Anchor, Edit[] Edits, int Drop, int Grow);

    private static readonly Gen<Rewrite> Rewrites =
        from entries in Gen.Choose(1, 6)
        from anchor in Gen.Choose(0, entries)
        from editCount in Gen.Choose(0, 3)
        from edits in Gen.ArrayOf(from e in Gen.Choose(1, entries) from k in Gen.Choose(0, 3) select new Edit(e, k), editCount)
        from drop in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, entries)))
        from grow in Gen.Choose(0, 2)
        select new Rewrite(entries, anchor, edits, drop, grow);

    [Property(MaxTest = 150)]
    public Property Verify_AnyRewriteWithRecomputedHashes_PassesTheChainAndFailsTheAnchorExactlyWhenItTouchesTheCheckpointedEntries() =>
        Prop.ForAll(Rewrites.ToArbitrary(), rewrite =>
        {
            AuditEntry[] original = Enumerable.Range(1, rewrite.Entries).Select(r => Entry(r)).ToArray();
            string checkpointed = NewPath();
            Write(checkpointed, Chain(original.Take(rewrite.Anchor)));
            AuditLogHead anchor = Open(checkpointed).Head;

            List<AuditEntry> content = [.. original];
            foreach (Edit edit in rewrite.Edits)
            {
                AuditEntry e = content[edit.Entry - 1];
                content[edit.Entry - 1] = edit.Kind switch
                {
                    0 => e with { Contributors = [.. e.Contributors, "mallory"] },
                    1 => e with { Samples = e.Samples + 1 },
                    2 => e with { Model = new string('e', 64) },
                    _ => e with { Round = e.Round + 100 },
                };
            }

            if (rewrite.Drop > 0)
            {
                content.RemoveAt(rewrite.Drop - 1);
            }

            content.AddRange(Enumerable.Range(rewrite.Entries + 1, rewrite.Grow).Select(r => Entry(r)));
            string path = NewPath();
            Write(path, Chain(content));

            AuditVerification chainOnly = FileAuditLog.Verify(path);
            AuditVerification anchored = FileAuditLog.Verify(path, anchor);
            bool touched = rewrite.Edits.Any(e => e.Entry <= rewrite.Anchor) || (rewrite.Drop > 0 && rewrite.Drop <= rewrite.Anchor);
            AuditFailure expected = content.Count < rewrite.Anchor ? AuditFailure.Truncated : touched ? AuditFailure.Rewritten : AuditFailure.None;
            return (chainOnly.IsValid && chainOnly.Entries == content.Count && anchored.Failure == expected && anchored.IsValid == (expected == AuditFailure.None))
                .Label($"entries {rewrite.Entries}, anchor {rewrite.Anchor}, edits [{string.Join(' ', rewrite.Edits.Select(e => $"{e.Entry}:{e.Kind}"))}], drop {rewrite.Drop}, grow {rewrite.Grow}: chain {chainOnly.IsValid}/{chainOnly.Entries}, anchored {anchored.Failure} ({anchored.Problem}), expected {expected}");
        });

    private sealed class AppendOnlyAudit : IRoundAuditLog
    {
        public ValueTask AppendAsync(RoundResult result, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
    }
}
