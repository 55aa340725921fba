// A whole federation composed in code from FedEdge.Core's ports: real N-BaIoT rows, one worker per
// device file, the in-process transport, an aggregation strategy chosen by name, the managed
// trainer (no libtorch needed: this runs on a Raspberry Pi), and a third-party admission policy.
//
//   dotnet run -c Release --project samples/FedEdge.Samples.InProcess -- [DATA_DIR] [ROUNDS]
using FedEdge;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging.InProcess;
using FedEdge.Metrics;
using FedEdge.Training;
using Microsoft.Extensions.Options;

string dataDir = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "data");
int rounds = args.Length > 1 && int.TryParse(args[1], out int r) ? r : 10;
const int seed = 42;

// 1. Local data: one partition per device file; the normaliser is fitted on training rows only.
IReadOnlyList<DataPartition> devices = NbaiotReader.ReadDirectory(dataDir);
var splits = devices.Select(d => (d.ClientId, Split: DataSplits.StratifiedSplit(d.Data, 0.2, seed))).ToList();
MinMaxNormalizer normalizer = MinMaxNormalizer.Fit(Dataset.Concat(splits.Select(s => s.Split.Train).ToList()), clip: true);
Dataset heldOut = normalizer.Transform(Dataset.Concat(splits.Select(s => s.Split.Test).ToList()));

// 2. The coordinator: ports in, options validated at start.
ModelBundle model = ModelCatalog.Create("mlp", seed, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9f });
var network = new InProcessNetwork();
var options = new CoordinatorOptions
{
    Federation = "sample",
    MaxRounds = rounds,
    WindowSize = devices.Count,
    Seed = seed,
    HyperParameters = new TrainingHyperParameters { LocalIterations = 20, BatchSize = 64, LearningRate = 0.05f, Seed = seed },
};
// Any strategy by name: fedavg, fedadam, median, krum, ... (robust ones need more than four devices to help).
IAggregationStrategy strategy = AggregationStrategies.Create("fedavg");
var admission = new AllowListAdmission(devices.Select(d => d.ClientId).ToHashSet(StringComparer.Ordinal));
await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), strategy, admission);
await coordinator.StartAsync(model.InitialParameters);

// 3. One worker per device, each with its own trainer and only its own rows.
var workers = new List<Worker>();
foreach (var (id, split) in splits)
{
    var worker = new Worker(
        Options.Create(new WorkerOptions { DeviceId = id, Model = "mlp" }),
        network.CreateWorkerTransport(id),
        ModelCatalog.Create("mlp", seed).Trainer,
        new InMemoryDataSource(normalizer.Transform(split.Train)));
    await worker.StartAsync();
    workers.Add(worker);
}

// 4. Rounds stream out as they complete.
await foreach (RoundResult result in coordinator.RunAsync())
{
    Console.WriteLine($"round {result.Round}: {result.Participants} participants, loss {result.TrainingLoss:0.0000}, model {result.GlobalHash[..12]}");
}

// 5. Score the final global model on the held-out rows of every device.
EvaluationResult evaluation = await model.Trainer.EvaluateAsync(coordinator.GlobalParameters, heldOut);
ClassificationMetrics metrics = ClassificationMetrics.Compute(evaluation.Scores, heldOut.Labels);
Console.WriteLine($"held-out F1 {metrics.F1:0.0000}, accuracy {metrics.Accuracy:0.0000}, FPR {metrics.FalsePositiveRate:0.0000}");
foreach (Worker worker in workers)
{
    await worker.DisposeAsync();
}

return metrics.F1 >= 0.9 ? 0 : 1;

/// <summary>A third-party admission policy: plugging in is implementing Core's port.</summary>
internal sealed class AllowListAdmission(IReadOnlySet<string> allowed) : IAdmissionPolicy
{
    public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(allowed.Contains(request.DeviceId)
            ? AdmissionDecision.Admit("on the allow list")
            : AdmissionDecision.Refuse($"device '{request.DeviceId}' is not on the allow list"));
}
