using FedEdge.Aggregation;
using FedEdge.Core.Tests.Coordination;
using FedEdge.Core.Tests.Data;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Hierarchy;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace FedEdge.Core.Tests.Hierarchy;

public sealed class HierFavgTests(ITestOutputHelper output)
{
    private const int K1 = 20;
    private const int K2 = 2;
    private const int CloudRounds = 5;
    private const int Seed = 7;

    [Fact]
    public async Task HierFavg_TwoEdgesOverNbaiotDevices_ConvergesWithinOnePointOfFlatFedAvg()
    {
        (IReadOnlyList<(string Id, Dataset Train)> devices, Dataset test) = Prepare();

        double flat = await FlatF1Async(devices, test);
        (double hier, int edgeRounds) = await HierarchicalF1Async(devices, test);

        output.WriteLine($"flat FedAvg F1 {flat:F4}, HierFAVG (k1={K1}, k2={K2}, {CloudRounds} cloud rounds) F1 {hier:F4}");
        Assert.Equal(CloudRounds * K2, edgeRounds);
        Assert.True(flat >= 0.95, $"flat FedAvg F1 {flat:F4}");
        Assert.True(Math.Abs(flat - hier) <= 0.01, $"HierFAVG F1 {hier:F4} vs flat FedAvg F1 {flat:F4}");
    }

    // SGD with momentum: Adam renormalises the steps of devices whose data are one class, which destabilises FedAvg on this non-IID partition.
    private static ModelBundle Mlp() => ModelCatalog.Create("mlp", Seed, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9f });

    private static (IReadOnlyList<(string Id, Dataset Train)> Devices, Dataset Test) Prepare()
    {
        var splits = NbaiotFixture.Devices.Select(d => (d.ClientId, Split: DataSplits.StratifiedSplit(d.Data, 0.2, Seed))).ToList();
        MinMaxNormalizer normalizer = MinMaxNormalizer.Fit(Dataset.Concat(splits.Select(s => s.Split.Train).ToList()), clip: true);
        var devices = splits.Select(s => (s.ClientId, normalizer.Transform(s.Split.Train))).ToList();
        Dataset test = normalizer.Transform(Dataset.Concat(splits.Select(s => s.Split.Test).ToList()));
        return (devices, test);
    }

    private static CoordinatorOptions Options(int rounds, int participants) => new()
    {
        MaxRounds = rounds,
        WindowSize = participants,
        RoundTimeout = TimeSpan.FromMinutes(2),
        Seed = Seed,
        HyperParameters = new TrainingHyperParameters { LocalIterations = K1, BatchSize = 64, LearningRate = 0.1f, Seed = Seed },
    };

    private static async Task<double> F1Async(ParameterSet parameters, Dataset test)
    {
        EvaluationResult eval = await Mlp().Trainer.EvaluateAsync(parameters, test);
        return eval.Metrics["f1"];
    }

    private static async Task<double> FlatF1Async(IReadOnlyList<(string Id, Dataset Train)> devices, Dataset test)
    {
        var network = new InProcessNetwork();
        await using var cloud = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options(CloudRounds * K2, devices.Count)), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
        await cloud.StartAsync(Mlp().InitialParameters);
        var workers = new List<Worker>();
        foreach (var (id, train) in devices)
        {
            var w = new Worker(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), Mlp().Trainer, new InMemoryDataSource(train));
            await w.StartAsync();
            workers.Add(w);
        }

        await foreach (RoundResult r in cloud.RunAsync())
        {
            Assert.True(r.Completed, r.FailureReason);
        }

        double f1 = await F1Async(cloud.GlobalParameters, test);
        foreach (Worker w in workers)
        {
            await w.DisposeAsync();
        }

        return f1;
    }

    private static async Task<(double F1, int EdgeRounds)> HierarchicalF1Async(IReadOnlyList<(string Id, Dataset Train)> devices, Dataset test)
    {
        // Two edges, each with a mix of benign-rich and attack-only devices; the cloud aggregates the edges.
        string[][] groups = [[devices[0].Id, devices[2].Id], [devices[1].Id, devices[3].Id]];
        var cloudNetwork = new InProcessNetwork();
        await using var cloud = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options(CloudRounds, groups.Length)), cloudNetwork.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
        ParameterSet initial = Mlp().InitialParameters;
        await cloud.StartAsync(initial);

        var owned = new List<IAsyncDisposable>();
        var edges = new List<EdgeAggregator>();
        for (int e = 0; e < groups.Length; e++)
        {
            var edgeNetwork = new InProcessNetwork();
            var edgeCoordinator = new Coordinator(Microsoft.Extensions.Options.Options.Create(Options(int.MaxValue, groups[e].Length)), edgeNetwork.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
            owned.Add(edgeCoordinator);
            await edgeCoordinator.StartAsync(initial);
            foreach (string id in groups[e])
            {
                Dataset train = devices.Single(d => d.Id == id).Train;
                var device = new Worker(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id }), edgeNetwork.CreateWorkerTransport(id), Mlp().Trainer, new InMemoryDataSource(train));
                await device.StartAsync();
                owned.Add(device);
            }

            var edge = new EdgeAggregator(edgeCoordinator, Mlp().Trainer, new EdgeAggregatorOptions { EdgeRoundsPerCloudRound = K2 });
            edges.Add(edge);
            var edgeWorker = new Worker(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = "edge-" + e }), cloudNetwork.CreateWorkerTransport("edge-" + e), edge, dataSource: null);
            await edgeWorker.StartAsync();
            owned.Insert(0, edgeWorker);
        }

        try
        {
            await foreach (RoundResult r in cloud.RunAsync())
            {
                Assert.True(r.Completed, r.FailureReason);
                Assert.Equal(2, r.Participants);
            }

            Assert.All(edges, e => Assert.All(e.EdgeRounds, r => Assert.Equal(2, r.Participants)));

            // Every edge round is tied to its cloud round: k2 of them per cloud round, in order, whatever a poller saw.
            Assert.All(edges, e => Assert.Equal(
                Enumerable.Range(1, e.CloudRoundsStarted).SelectMany(c => Enumerable.Repeat(c, K2)),
                e.EdgeRoundEntries.Select(x => x.CloudRoundOrdinal)));
            Assert.All(edges, e => Assert.Equal(e.EdgeRounds, e.EdgeRoundEntries.Select(x => x.Result)));
            return (await F1Async(cloud.GlobalParameters, test), edges[0].EdgeRounds.Count);
        }
        finally
        {
            foreach (IAsyncDisposable d in owned)
            {
                await d.DisposeAsync();
            }
        }
    }
}
