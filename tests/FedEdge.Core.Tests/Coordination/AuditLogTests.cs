using FedEdge.Aggregation;
using FedEdge.Audit;
using FedEdge.Coordination;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Coordination;

public sealed class AuditLogTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-audit-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private async Task<string> RunRounds(int rounds)
    {
        string path = Path.Combine(_dir, "audit.log");
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions { MaxRounds = rounds, HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 0.5f } };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission(), audit: new FileAuditLog(path));
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", 2))));
        await using var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = "d" }), network.CreateWorkerTransport("d"), new MeanTrainer(2), new InMemoryDataSource(TestData.Constant(4, 2, 3f)));
        await worker.StartAsync();
        await foreach (RoundResult _ in coordinator.RunAsync())
        {
        }

        return path;
    }

    [Fact]
    public async Task AppendAsync_EveryCompletedRound_FormsAValidChainNamingTheModelHash()
    {
        string path = await RunRounds(3);
        AuditVerification verification = FileAuditLog.Verify(path);
        Assert.True(verification.IsValid, verification.Problem);
        Assert.Equal(3, verification.Entries);
        Assert.Contains("\"contributors\":[\"d\"]", File.ReadAllLines(path)[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_EditedOrRemovedLine_ReportsTheBrokenLine()
    {
        string path = await RunRounds(3);
        string[] lines = await File.ReadAllLinesAsync(path);
        await File.WriteAllLinesAsync(path, [lines[0], lines[1].Replace("\"samples\":4", "\"samples\":400", StringComparison.Ordinal), lines[2]]);
        AuditVerification edited = FileAuditLog.Verify(path);
        Assert.False(edited.IsValid);
        Assert.Equal(2, edited.BrokenLine);
        Assert.Contains("edited", edited.Problem, StringComparison.Ordinal);

        await File.WriteAllLinesAsync(path, [lines[0], lines[2]]);
        AuditVerification removed = FileAuditLog.Verify(path);
        Assert.False(removed.IsValid);
        Assert.Equal(2, removed.BrokenLine);
        Assert.Throws<InvalidDataException>(() => new FileAuditLog(path));
    }
}
