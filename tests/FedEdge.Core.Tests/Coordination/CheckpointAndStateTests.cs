using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Coordination;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using Microsoft.Extensions.DependencyInjection;

namespace FedEdge.Core.Tests.Coordination;

public sealed class CheckpointAndStateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-ckpt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static ParameterSet Params(float seed)
    {
        var layout = new ParameterLayout(new TensorSpec("fc.weight", 3, 2), new TensorSpec("fc.bias", 3));
        var p = new ParameterSet(layout);
        for (int i = 0; i < p.Length; i++)
        {
            p.Values[i] = seed + (i * 0.25f);
        }

        return p;
    }

    [Fact]
    public async Task SaveAsync_ThenLoadAsync_RoundTripsEveryField()
    {
        var store = new FileCheckpointStore(_dir);
        var checkpoint = new CoordinatorCheckpoint
        {
            Round = 7,
            Parameters = Params(1.5f),
            StrategyState = new StrategyState { Strategy = "fedadam", Arrays = new Dictionary<string, float[]> { ["m"] = [1f, -2f], ["v"] = [0.5f] }, Scalars = new Dictionary<string, double> { ["t"] = 7 } },
            CarriedOver = ["b", "a"],
            BestMetric = 0.97,
            RoundsWithoutImprovement = 2,
            SavedAt = DateTimeOffset.Parse("2026-11-22T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture),
        };
        await store.SaveAsync(checkpoint);
        await store.SaveAsync(checkpoint with { Round = 8 });
        CoordinatorCheckpoint loaded = (await store.LoadAsync())!;

        Assert.Equal(8, loaded.Round);
        Assert.Equal(checkpoint.Parameters.ComputeHash(), loaded.Parameters.ComputeHash());
        Assert.Equal([1f, -2f], loaded.StrategyState!.Arrays["m"]);
        Assert.Equal(7, loaded.StrategyState.Scalars["t"]);
        Assert.Equal(["b", "a"], loaded.CarriedOver);
        Assert.Equal(0.97, loaded.BestMetric);
        Assert.Equal(2, loaded.RoundsWithoutImprovement);
        Assert.Single(Directory.GetFiles(_dir)); // no temporary files left behind
    }

    [Fact]
    public async Task LoadAsync_TamperedValues_ThrowsCheckpointExceptionNamingTheIntegrityCheck()
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(new CoordinatorCheckpoint { Round = 1, Parameters = Params(0f) });
        string json = await File.ReadAllTextAsync(store.FilePath);
        string tampered = json.Replace("\"round\":1", "\"round\":1", StringComparison.Ordinal);
        int at = tampered.IndexOf("\"values\":\"", StringComparison.Ordinal) + 10;
        tampered = tampered[..at] + (tampered[at] == 'A' ? 'B' : 'A') + tampered[(at + 1)..];
        await File.WriteAllTextAsync(store.FilePath, tampered);
        CheckpointException error = await Assert.ThrowsAsync<CheckpointException>(() => store.LoadAsync().AsTask());
        Assert.Contains("integrity", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_TruncatedFile_ThrowsCheckpointException()
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(new CoordinatorCheckpoint { Round = 1, Parameters = Params(0f) });
        byte[] bytes = await File.ReadAllBytesAsync(store.FilePath);
        await File.WriteAllBytesAsync(store.FilePath, bytes[..(bytes.Length / 2)]);
        await Assert.ThrowsAsync<CheckpointException>(() => store.LoadAsync().AsTask());
    }

    [Fact]
    public async Task LoadAsync_NoCheckpoint_ReturnsNull()
    {
        Assert.Null(await new FileCheckpointStore(_dir).LoadAsync());
    }

    [Fact]
    public async Task StartAsync_CheckpointOfAnotherModel_ThrowsCheckpointException()
    {
        var store = new FileCheckpointStore(_dir);
        await store.SaveAsync(new CoordinatorCheckpoint { Round = 3, Parameters = Params(0f) });
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions()), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission(), checkpoints: store);
        var other = new ParameterSet(new ParameterLayout(new TensorSpec("w", 4)));
        CheckpointException error = await Assert.ThrowsAsync<CheckpointException>(() => coordinator.StartAsync(other).AsTask());
        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WorkerStateFile_WriteThenRead_RestoresStateReasonAndRounds()
    {
        string path = Path.Combine(_dir, "w.json");
        var record = new WorkerStateRecord { DeviceId = "d", State = WorkerState.Running, Reason = "round 4", LastRound = 4, GlobalVersion = 3, UpdatedAt = DateTimeOffset.UnixEpoch };
        WorkerStateFile.Write(path, record);
        Assert.Equal(record, WorkerStateFile.Read(path));
        File.WriteAllText(path, "{ not json");
        Assert.Throws<InvalidDataException>(() => WorkerStateFile.Read(path));
    }

    [Fact]
    public async Task AddFedEdgeCoordinator_WithPorts_ResolvesOneCoordinatorAndIsIdempotent()
    {
        var network = new InProcessNetwork();
        var services = new ServiceCollection();
        services.AddSingleton(network.CreateCoordinatorTransport());
        services.AddSingleton<IAggregationStrategy>(AggregationStrategies.FedAvg());
        services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new DenyListAdmission());
        services.AddFedEdgeCoordinator(o => o.MaxRounds = 3);
        services.AddFedEdgeCoordinator();
        Assert.Single(services, d => d.ServiceType == typeof(Coordinator));
        await using ServiceProvider provider = services.BuildServiceProvider();
        Coordinator coordinator = provider.GetRequiredService<Coordinator>();
        Assert.Same(coordinator, provider.GetRequiredService<Coordinator>());
        await coordinator.StartAsync(Params(0f));
        Assert.Equal(0, coordinator.CompletedRounds);
    }
}
