using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FedEdge.Privacy.Tests;

/// <summary>
/// Coordinator and workers composed with the Generic Host exactly as the README shows it
/// (<c>AddFedEdgeCoordinator().AddDifferentialPrivacy...().AddSecureAggregation()</c>): the privacy ports reach the
/// engines through DI, noise is added and, with secure aggregation, the coordinator only ever sees the sum.
/// </summary>
public sealed class DiComposedPrivacyHostTests
{
    private const int Features = 6;
    private const int Devices = 4;
    private const int Rounds = 2;

    // C = 100: no device's delta (norm ≈ 10) is clipped, so the noise-free result is the plain uniform mean.
    private const double Clip = 100;
    private const double Sigma = 0.5;

    // Standard deviation of the noise on each coordinate of the uniform mean: σC/n = 12.5.
    private const double MeanNoiseStdDev = Sigma * Clip / Devices;

    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Resend = TimeSpan.FromMilliseconds(150);

    [Fact]
    public async Task RunAsync_HostComposedDistributedDpWithSecureAggregation_CoordinatorSeesOnlyTheNoisySum()
    {
        var network = new InProcessNetwork();
        var transport = new RecordingCoordinatorTransport(network.CreateCoordinatorTransport());
        IHost coordinatorHost = CoordinatorHost(transport, NoisePlacement.Distributed, secureAggregation: true);
        Dataset[] data = Enumerable.Range(0, Devices).Select(DeviceData).ToArray();
        List<IHost> workerHosts = Enumerable.Range(0, Devices).Select(i => WorkerHost(network, i, data[i], NoisePlacement.Distributed, secureAggregation: true)).ToList();

        try
        {
            List<RoundResult> results = await RunAsync(coordinatorHost, workerHosts);
            Coordinator coordinator = coordinatorHost.Services.GetRequiredService<Coordinator>();

            // (a) The round protocol came from AddSecureAggregation and every round was securely aggregated.
            Assert.Equal("secagg", coordinator.RoundProtocol.Name);
            Assert.Equal(Rounds, results.Count);
            Assert.All(results, r => Assert.True(r.Completed && r.SecureAggregation && r.Participants == Devices, r.FailureReason));

            // (b) No plaintext update ever reached the coordinator, while every device spoke the secure protocol.
            Assert.Equal(0, transport.Updates);
            Assert.Equal(Enumerable.Range(0, Devices).Select(i => "d" + i), transport.ProtocolSenders.Order());
            Assert.True(transport.ProtocolPayloads >= Rounds * Devices * 3, $"only {transport.ProtocolPayloads} protocol payloads");

            // (c) Each worker added its share of noise: the aggregate is far from the noise-free uniform mean, farther
            // than quantisation could explain, yet within what noise of std σC/n explains.
            double[] noiseFree = UniformMeanOfLocalMeans(data);
            foreach (RoundResult result in results)
            {
                double bound = result.SecureAggregationErrorBound!.Value;
                Assert.InRange(bound, 0, 1e-2);
                double largest = LargestDeviation(result.GlobalParameters, noiseFree);
                Assert.True(largest > 100 * (bound + 2e-5), $"round {result.Round}: largest deviation {largest} is within quantisation error {bound}: no noise was added");
                Assert.True(largest < 6 * MeanNoiseStdDev, $"round {result.Round}: largest deviation {largest} exceeds 6σ = {6 * MeanNoiseStdDev}");
            }

            // (d) The accountant from AddDifferentialPrivacyCoordinator was stepped once per round with σ.
            Assert.All(results, r => Assert.NotNull(r.Privacy));
            Assert.Equal(new[] { 1, 2 }, results.Select(r => r.Privacy!.Rounds));
            Assert.True(results[1].Epsilon > results[0].Epsilon);
            var reference = new RdpAccountant(1e-5);
            reference.RecordRound(1.0, Sigma);
            Assert.Equal(reference.Spent.Epsilon, results[0].Epsilon!.Value, 9);
        }
        finally
        {
            await StopAsync([.. workerHosts, coordinatorHost]);
        }
    }

    [Fact]
    public async Task RunAsync_HostComposedCentralDp_NoiseChangesTheFedAvgAndEpsilonIsReported()
    {
        var network = new InProcessNetwork();
        var transport = new RecordingCoordinatorTransport(network.CreateCoordinatorTransport());
        IHost coordinatorHost = CoordinatorHost(transport, NoisePlacement.Central, secureAggregation: false);
        Dataset[] data = Enumerable.Range(0, Devices).Select(DeviceData).ToArray();
        List<IHost> workerHosts = Enumerable.Range(0, Devices).Select(i => WorkerHost(network, i, data[i], NoisePlacement.Central, secureAggregation: false)).ToList();

        try
        {
            List<RoundResult> results = await RunAsync(coordinatorHost, workerHosts);
            Coordinator coordinator = coordinatorHost.Services.GetRequiredService<Coordinator>();

            Assert.Equal("plaintext", coordinator.RoundProtocol.Name);
            Assert.Equal(Rounds, results.Count);
            Assert.All(results, r => Assert.True(r.Completed && !r.SecureAggregation && r.Participants == Devices, r.FailureReason));

            // Without secure aggregation the coordinator does receive each device's update.
            Assert.True(transport.Updates >= Rounds * Devices, $"only {transport.Updates} updates");

            // The central noise transform ran with std σC/n, and moved the model away from the noise-free FedAvg
            // (uniform weights, as AddDifferentialPrivacyWorker sets with noise) by far more than float rounding.
            double[] noiseFree = UniformMeanOfLocalMeans(data);
            foreach (RoundResult result in results)
            {
                Assert.Equal(MeanNoiseStdDev, result.PrivacyMetrics["dp.noise_stddev"], 9);
                double largest = LargestDeviation(result.GlobalParameters, noiseFree);
                Assert.True(largest > 1e-2, $"round {result.Round}: largest deviation {largest}: no noise was added");
                Assert.True(largest < 6 * MeanNoiseStdDev, $"round {result.Round}: largest deviation {largest} exceeds 6σ = {6 * MeanNoiseStdDev}");
            }

            Assert.All(results, r => Assert.NotNull(r.Privacy));
            Assert.Equal(new[] { 1, 2 }, results.Select(r => r.Privacy!.Rounds));
            Assert.True(results[1].Epsilon > results[0].Epsilon);
        }
        finally
        {
            await StopAsync([.. workerHosts, coordinatorHost]);
        }
    }

    private static IHost CoordinatorHost(ICoordinatorTransport transport, NoisePlacement placement, bool secureAggregation)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddFedEdgeCoordinator(o =>
        {
            o.MaxRounds = Rounds;
            o.MinParticipants = Devices;
            o.RoundTimeout = TimeSpan.FromSeconds(60);
            o.WindowDuration = TimeSpan.FromSeconds(20);
            o.HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f };
            o.MissedHeartbeats = 15;
            o.HeartbeatInterval = Heartbeat;
            o.ResendDelay = Resend;
            o.MaxResendDelay = TimeSpan.FromSeconds(1);
            o.Seed = 11;
        });
        builder.Services.AddDifferentialPrivacyCoordinator(o => Configure(o, placement));
        if (secureAggregation)
        {
            builder.Services.AddSecureAggregation(o =>
            {
                o.Threshold = 3;
                o.ClipRange = 1000f;
            });
        }

        builder.Services.AddSingleton<ICoordinatorTransport>(transport);
        builder.Services.AddSingleton<IAggregationStrategy>(AggregationStrategies.FedAvg());
        builder.Services.AddSingleton<IAdmissionPolicy, AdmitAll>();
        return builder.Build();
    }

    private static IHost WorkerHost(InProcessNetwork network, int device, Dataset data, NoisePlacement placement, bool secureAggregation)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddFedEdgeWorker(o =>
        {
            o.DeviceId = "d" + device;
            o.HeartbeatInterval = Heartbeat;
            o.ResendDelay = Resend;
            o.MaxResendDelay = TimeSpan.FromSeconds(1);
        });
        builder.Services.AddDifferentialPrivacyWorker(o => Configure(o, placement));
        if (secureAggregation)
        {
            builder.Services.AddSecureAggregation(o =>
            {
                o.Threshold = 3;
                o.ClipRange = 1000f;
            });
        }

        builder.Services.AddSingleton<IWorkerTransport>(network.CreateWorkerTransport("d" + device));
        builder.Services.AddSingleton<ITrainer, MoveToMeanTrainer>();
        builder.Services.AddSingleton<ILocalDataSource>(new InMemoryDataSource(data));
        return builder.Build();
    }

    private static void Configure(DifferentialPrivacyOptions options, NoisePlacement placement)
    {
        options.NoiseMultiplier = Sigma;
        options.ClipNorm = Clip;
        options.Placement = placement;
        options.ExpectedClientsPerRound = Devices;
    }

    private static async Task<List<RoundResult>> RunAsync(IHost coordinatorHost, List<IHost> workerHosts)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        // Starting the hosts validates every registered option set (ValidateOnStart).
        await coordinatorHost.StartAsync(timeout.Token);
        Coordinator coordinator = coordinatorHost.Services.GetRequiredService<Coordinator>();
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))), timeout.Token);
        foreach (IHost host in workerHosts)
        {
            await host.StartAsync(timeout.Token);
            await host.Services.GetRequiredService<Worker>().StartAsync(timeout.Token);
        }

        var results = new List<RoundResult>();
        await foreach (RoundResult result in coordinator.RunAsync(timeout.Token))
        {
            results.Add(result);
        }

        return results;
    }

    private static async Task StopAsync(List<IHost> hosts)
    {
        foreach (IHost host in hosts)
        {
            // Workers first, then the coordinator; the engines are IAsyncDisposable singletons of the hosts' containers.
            await host.StopAsync();
            await ((IAsyncDisposable)host).DisposeAsync();
        }
    }

    /// <summary>
    /// Device i has 30 rows around a per-device centre. Equal row counts make the sample-weighted and the uniform mean
    /// the same, so any deviation from the noise-free mean can only come from noise (or quantisation).
    /// </summary>
    private static Dataset DeviceData(int device)
    {
        var random = new Random(300 + device);
        const int rows = 30;
        var features = new float[rows * Features];
        for (int r = 0; r < rows; r++)
        {
            for (int f = 0; f < Features; f++)
            {
                features[(r * Features) + f] = (float)(device + 1 + (0.5 * f) + random.NextDouble());
            }
        }

        return new Dataset(features, new float[rows], Features);
    }

    /// <summary>
    /// The noise-free result of every round: each device moves the model exactly to its local mean (learning rate 1),
    /// so the uniform mean of the deltas added to the global model is the uniform mean of the local means.
    /// </summary>
    private static double[] UniformMeanOfLocalMeans(Dataset[] data)
    {
        var expected = new double[Features];
        foreach (Dataset d in data)
        {
            float[] mean = DatasetMeans.Of(d);
            for (int f = 0; f < Features; f++)
            {
                expected[f] += mean[f] / (double)data.Length;
            }
        }

        return expected;
    }

    private static double LargestDeviation(ParameterSet actual, double[] expected)
    {
        ReadOnlySpan<float> values = actual.Values;
        double largest = 0;
        for (int f = 0; f < expected.Length; f++)
        {
            largest = Math.Max(largest, Math.Abs(values[f] - expected[f]));
        }

        return largest;
    }

    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(AdmissionDecision.Admit());
    }

    /// <summary>Moves the model towards the mean of the local rows by the learning rate (with rate 1: exactly there).</summary>
    private sealed class MoveToMeanTrainer : ITrainer
    {
        public ParameterLayout Layout { get; } = new(new TensorSpec("w", Features));

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            float[] mean = DatasetMeans.Of(request.Data);
            ParameterSet p = request.GlobalParameters.Clone();
            Span<float> w = p.Values;
            for (int i = 0; i < w.Length; i++)
            {
                w[i] += request.HyperParameters.LearningRate * (mean[i] - w[i]);
            }

            return ValueTask.FromResult(new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = 1, Loss = 0.5 });
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = data.Count, Scores = new float[data.Count] });

    }

    /// <summary>Decorates the coordinator's transport and counts what devices deliver to the coordinator.</summary>
    private sealed class RecordingCoordinatorTransport(ICoordinatorTransport inner) : ICoordinatorTransport
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _protocolSenders = new();
        private int _updates;
        private int _protocolPayloads;

        public int Updates => Volatile.Read(ref _updates);

        public int ProtocolPayloads => Volatile.Read(ref _protocolPayloads);

        public IReadOnlyCollection<string> ProtocolSenders => _protocolSenders.Keys.ToArray();

        public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

        public TransportStatistics Statistics => inner.Statistics;

        public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default) =>
            inner.StartAsync(new Handler(handler, this), cancellationToken);

        public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) =>
            inner.SendTaskAsync(deviceId, task, cancellationToken);

        public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) =>
            inner.SendReceiptAsync(deviceId, receipt, cancellationToken);

        public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) =>
            inner.PublishGlobalModelAsync(model, cancellationToken);

        public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
            inner.SendProtocolAsync(deviceId, payload, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private sealed class Handler(ICoordinatorHandler inner, RecordingCoordinatorTransport owner) : ICoordinatorHandler
        {
            public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
                inner.OnJoinAsync(request, context, cancellationToken);

            public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) =>
                inner.OnStatusAsync(status, context, cancellationToken);

            public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref owner._updates);
                return inner.OnUpdateAsync(update, context, cancellationToken);
            }

            public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) =>
                inner.OnMalformedAsync(source, error, cancellationToken);

            public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref owner._protocolPayloads);
                owner._protocolSenders.TryAdd(deviceId, 0);
                return inner.OnProtocolAsync(deviceId, payload, context, cancellationToken);
            }
        }
    }
}
