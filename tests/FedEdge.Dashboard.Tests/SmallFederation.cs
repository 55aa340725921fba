using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging.InProcess;
using FedEdge.Testing;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Dashboard.Tests;

/// <summary>
/// A real in-process federation over the shipped N-BaIoT sample: two devices on the allow list train, and an
/// intruder that is not on it is refused at admission with a reason.
/// </summary>
internal sealed class SmallFederation : IAsyncDisposable
{
    public const string Intruder = "Rogue_Camera";
    private readonly List<Worker> _workers = [];

    private SmallFederation(Coordinator coordinator) => Coordinator = coordinator;

    public Coordinator Coordinator { get; }

    public static async Task<SmallFederation> StartAsync(int rounds, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null)
    {
        const int seed = 7;
        IReadOnlyList<DataPartition> devices = [.. NbaiotReader.ReadDirectory(Path.Combine(RepoPaths.Root, "samples", "data")).Take(2)];
        MinMaxNormalizer normalizer = MinMaxNormalizer.Fit(Dataset.Concat(devices.Select(d => d.Data).ToList()), clip: true);
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions
        {
            Federation = "dashboard-test",
            MaxRounds = rounds,
            WindowSize = devices.Count,
            Seed = seed,
            HyperParameters = new TrainingHyperParameters { LocalIterations = 2, BatchSize = 32, LearningRate = 0.05f, Seed = seed },
        };
        var admission = new AllowList(devices.Select(d => d.ClientId).ToHashSet(StringComparer.Ordinal));
        var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.Create("fedavg"), admission, meterFactory: meterFactory);
        var federation = new SmallFederation(coordinator);
        await coordinator.StartAsync(ModelCatalog.Create("mlp", seed).InitialParameters);
        foreach (string id in devices.Select(d => d.ClientId).Append(Intruder))
        {
            Dataset rows = normalizer.Transform((devices.FirstOrDefault(d => d.ClientId == id) ?? devices[0]).Data);
            var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = id, Model = "mlp" }), network.CreateWorkerTransport(id), ModelCatalog.Create("mlp", seed).Trainer, new InMemoryDataSource(rows));
            await worker.StartAsync();
            federation._workers.Add(worker);
        }

        return federation;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (Worker w in _workers)
        {
            await w.DisposeAsync();
        }

        await Coordinator.DisposeAsync();
    }

    private sealed class AllowList(IReadOnlySet<string> allowed) : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(allowed.Contains(request.DeviceId)
                ? AdmissionDecision.Admit("on the allow list")
                : AdmissionDecision.Refuse($"device '{request.DeviceId}' is not on the allow list"));
    }
}
