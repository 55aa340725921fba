using System.Text.Json.Nodes;
using FedEdge.Audit;
using FedEdge.Checkpoints;

namespace FedEdge.Core.Tests.Audit;

/// <summary>The checkpoint carries the audit log's head, and older checkpoints without it still load.</summary>
public sealed class CheckpointAuditAnchorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-ckpt-audit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CoordinatorCheckpoint Checkpoint(AuditLogHead? audit) => new()
    {
        Round = 4,
        Parameters = new ParameterSet(new ParameterLayout(new TensorSpec("w", 3)), [0.5f, -1f, 2f]),
        CarriedOver = ["a"],
        RoundsWithoutImprovement = 1,
        AuditLog = audit,
    };

    [Fact]
    public async Task SaveAsync_ThenLoadAsync_RoundTripsTheAuditLogHead()
    {
        string logPath = Path.Combine(_dir, "audit.log");
        AuditLogHead head = await AuditLogFiles.AppendRoundsAsync(new FileAuditLog(logPath), 4);
        var store = new FileCheckpointStore(Path.Combine(_dir, "ckpt"));

        await store.SaveAsync(Checkpoint(head));
        CoordinatorCheckpoint loaded = (await store.LoadAsync())!;

        Assert.Equal(head, loaded.AuditLog);
        Assert.True(FileAuditLog.Verify(logPath, loaded.AuditLog).IsValid);
    }

    [Fact]
    public async Task SaveAsync_WithoutAuditLog_WritesNoFieldAndLoadsNull()
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(Checkpoint(null));

        Assert.DoesNotContain("auditLog", await File.ReadAllTextAsync(store.FilePath), StringComparison.Ordinal);
        Assert.Null((await store.LoadAsync())!.AuditLog);
    }

    [Fact]
    public async Task LoadAsync_CheckpointWrittenBeforeTheField_LoadsWithNullAuditLogAndPassesTheIntegrityCheck()
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(Checkpoint(new AuditLogHead(4, new string('a', 64))));
        JsonObject json = JsonNode.Parse(await File.ReadAllTextAsync(store.FilePath))!.AsObject();
        Assert.True(json.Remove("auditLog"));
        await File.WriteAllTextAsync(store.FilePath, json.ToJsonString());

        CoordinatorCheckpoint loaded = (await store.LoadAsync())!;

        Assert.Null(loaded.AuditLog);
        Assert.Equal(4, loaded.Round);
        Assert.Equal(["a"], loaded.CarriedOver);
    }

    [Theory]
    [InlineData("{\"entries\":-1,\"head\":\"00\"}")]
    [InlineData("{\"entries\":2}")]
    [InlineData("{\"entries\":2,\"head\":null}")]
    [InlineData("{\"entries\":\"two\",\"head\":\"00\"}")]
    public async Task LoadAsync_MalformedAuditLogHead_ThrowsCheckpointException(string auditLog)
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(Checkpoint(new AuditLogHead(2, "00")));
        JsonObject json = JsonNode.Parse(await File.ReadAllTextAsync(store.FilePath))!.AsObject();
        json["auditLog"] = JsonNode.Parse(auditLog);
        await File.WriteAllTextAsync(store.FilePath, json.ToJsonString());

        CheckpointException error = await Assert.ThrowsAsync<CheckpointException>(() => store.LoadAsync().AsTask());
        Assert.Contains("unreadable", error.Message, StringComparison.Ordinal);
    }
}
