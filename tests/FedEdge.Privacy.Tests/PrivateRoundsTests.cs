using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;
using FedEdge.Rounds;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Privacy.Tests;

/// <summary>
/// Differential privacy and secure aggregation inside real rounds of the coordinator and worker engines
/// over the in-process transport, with the real FedEdge.Privacy implementations.
/// </summary>
public sealed class PrivateRoundsTests
{
    private const int Features = 6;

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    /// <summary>Device i has 20 + 10i rows around a per-device centre, so the deltas are large (norm ≫ 1) and distinct.</summary>
    private static Dataset DeviceData(int device)
    {
        var random = new Random(100 + device);
        int rows = 20 + (10 * device);
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

    /// <summary>The secure aggregate's sender id (<c>SecureAggregationRound.AggregateSenderId</c>).</summary>
    private const string SecureAggregateSenderId = "fededge.secure-aggregate";

    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(200);

    private static readonly TimeSpan Resend = TimeSpan.FromMilliseconds(150);

    /// <summary>Fast liveness settings so a lost message or a failed device is noticed within a test's time.</summary>
    private static CoordinatorOptions Fast(CoordinatorOptions options)
    {
        options.HeartbeatInterval = Heartbeat;

        // Lost only after 3 s of silence: a loaded 2-core CI machine can stall a process for well over 0.6 s.
        options.MissedHeartbeats = 15;
        options.ResendDelay = Resend;
        options.MaxResendDelay = TimeSpan.FromSeconds(1);
        return options;
    }

    private static WorkerOptions Fast(WorkerOptions options)
    {
        options.HeartbeatInterval = Heartbeat;
        options.ResendDelay = Resend;
        options.MaxResendDelay = TimeSpan.FromSeconds(1);
        return options;
    }

    private static Coordinator NewCoordinator(
        InProcessNetwork network,
        CoordinatorOptions options,
        IAggregationStrategy strategy,
        IRoundProtocol? protocol = null,
        IAggregateTransform? aggregateTransform = null,
        IPrivacyAccountant? accountant = null) =>
        new(
            Options.Create(Fast(options)),
            network.CreateCoordinatorTransport(),
            strategy,
            new AdmitAll(),
            roundProtocol: protocol,
            aggregateTransforms: aggregateTransform is null ? null : [aggregateTransform],
            accountant: accountant);

    private static Worker NewWorker(InProcessNetwork network, WorkerOptions options, ITrainer trainer, Dataset data, IWorkerRoundProtocol? protocol = null, IUpdateTransform? transform = null) =>
        new(
            Options.Create(Fast(options)),
            network.CreateWorkerTransport(options.DeviceId),
            trainer,
            new InMemoryDataSource(data),
            roundProtocol: protocol,
            updateTransforms: transform is null ? null : [transform]);

    private static async Task<List<RoundResult>> RunAll(Coordinator coordinator)
    {
        var results = new List<RoundResult>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await foreach (RoundResult r in coordinator.RunAsync(timeout.Token))
        {
            results.Add(r);
        }

        return results;
    }

    [Fact]
    public async Task RunAsync_ClippingCentralNoiseAndAccountant_EpsilonGrowsClipsUpdatesAndStopsAtBudget()
    {
        const double clip = 1.0;
        const double sigma = 3.0;
        const double budget = 3.0;
        const int devices = 5;
        var network = new InProcessNetwork();
        var recorder = new RecordingStrategy(AggregationStrategies.FedAvg());
        var accountant = new RdpAccountant(1e-5, budget);
        var options = new CoordinatorOptions
        {
            MaxRounds = 60,
            MinParticipants = 3,
            MaxParticipants = 3,
            SelectionFraction = 0.6,
            RoundTimeout = TimeSpan.FromSeconds(60),
            WindowDuration = TimeSpan.FromSeconds(20),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
            DpNoiseMultiplier = sigma,
            Seed = 7,
        };
        await using Coordinator coordinator = NewCoordinator(network, options, recorder, aggregateTransform: new GaussianAggregateNoise(sigma, clip, new GaussianNoise(seed: 7)), accountant: accountant);
        await coordinator.StartAsync(Zero());
        var workers = new List<Worker>();
        for (int i = 0; i < devices; i++)
        {
            var workerOptions = new WorkerOptions { DeviceId = "d" + i, UniformAggregationWeight = true };
            var clipping = new DpUpdateTransform(new DifferentialPrivacyOptions { ClipNorm = clip, NoiseMultiplier = sigma, Placement = NoisePlacement.Central });
            workers.Add(NewWorker(network, workerOptions, new MeanTrainer(), DeviceData(i), transform: clipping));
        }

        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            List<RoundResult> results = await RunAll(coordinator);

            // Every round completed with 3 of 5 devices, and ε grew every round.
            Assert.True(results.Count >= 2, $"only {results.Count} rounds ran");
            Assert.All(results, r => Assert.True(r.Completed, r.FailureReason + ": " + string.Join("; ", r.Failed.Select(f => f.DeviceId + " " + f.Reason))));
            Assert.All(results, r => Assert.Equal(3, r.Participants));
            double[] eps = results.Select(r => r.Epsilon ?? double.NaN).ToArray();
            for (int i = 1; i < eps.Length; i++)
            {
                Assert.True(eps[i] > eps[i - 1], $"ε did not grow: {string.Join(", ", eps)}");
            }

            // The accountant was stepped once per round with the actual sampling rate 3/5.
            var reference = new RdpAccountant(1e-5, budget);
            foreach (RoundResult _ in results)
            {
                reference.RecordRound(3.0 / devices, sigma);
            }

            Assert.Equal(reference.Spent.Epsilon, results[^1].Epsilon!.Value, 9);
            Assert.Equal(results.Count, results[^1].Privacy!.Rounds);

            // Training stopped at the budget: within it, and one more round would exceed it.
            Assert.True(results[^1].IsLast);
            Assert.Contains("privacy budget", results[^1].StopReason, StringComparison.Ordinal);
            Assert.True(results.Count < options.MaxRounds);
            Assert.True(results[^1].Epsilon <= budget);
            Assert.True(accountant.Preview(3.0 / devices, sigma, 1).ExceedsBudget);
            Assert.All(results, r => Assert.Equal(sigma * clip / 3, r.PrivacyMetrics["dp.noise_stddev"], 9));

            // Each update the coordinator aggregated was a delta clipped to the norm, though the raw deltas were far larger.
            Assert.Equal(3 * results.Count, recorder.Updates.Count);
            Assert.All(recorder.Updates, u => Assert.Equal(UpdateKind.Delta, u.Kind));
            Assert.All(recorder.Updates, u => Assert.Equal(1, u.SampleCount));
            Assert.All(recorder.Updates, u => Assert.True(u.Values.L2Norm() <= clip + 1e-5, $"norm {u.Values.L2Norm()} > {clip}"));
            Assert.All(recorder.Updates, u => Assert.True(u.Metrics["dp.l2_norm"] > 2 * clip));
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RunAsync_SecureAggregationWithTwentyPercentDropouts_MatchesPlainFedAvgWithinBound()
    {
        const int devices = 10;
        var network = new InProcessNetwork();
        using ServiceProvider services = new ServiceCollection()
            .AddSecureAggregation(o =>
            {
                o.Threshold = 3;
                o.ClipRange = 5000f;
                o.AdvertiseKeysTimeout = TimeSpan.FromSeconds(20);
                o.ShareKeysTimeout = TimeSpan.FromSeconds(20);
                o.MaskedInputTimeout = TimeSpan.FromSeconds(3);
                o.UnmaskingTimeout = TimeSpan.FromSeconds(20);
            })
            .BuildServiceProvider();
        var recorder = new RecordingStrategy(AggregationStrategies.FedAvg());
        var options = new CoordinatorOptions
        {
            MaxRounds = 3,
            MinParticipants = 3,
            RoundTimeout = TimeSpan.FromSeconds(90),
            WindowDuration = TimeSpan.FromSeconds(20),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using Coordinator coordinator = NewCoordinator(network, options, recorder, services.GetRequiredService<IRoundProtocol>());
        await coordinator.StartAsync(Zero());

        // Round r: devices 2r−2 and 2r−1 (20 % of the first round's 10) drop out after sharing their keys.
        var workers = new List<Worker>();
        var data = new Dataset[devices];
        for (int i = 0; i < devices; i++)
        {
            data[i] = DeviceData(i);
            var secure = new ObservedSecureWorker(services.GetRequiredService<ISecureAggregationWorker>());
            var trainer = new MeanTrainer { DropInRound = (i / 2) + 1, KeysShared = secure };
            workers.Add(NewWorker(network, new WorkerOptions { DeviceId = "d" + i }, trainer, data[i], new SecureAggregationParticipant(secure)));
        }

        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            List<RoundResult> results = await RunAll(coordinator);

            Assert.Equal(3, results.Count);
            for (int r = 0; r < 3; r++)
            {
                RoundResult result = results[r];
                Assert.True(result.Completed, result.FailureReason);
                Assert.True(result.SecureAggregation);
                string[] dropped = [$"d{2 * r}", $"d{(2 * r) + 1}"];
                Assert.Equal(devices - (2 * r), result.Selected.Count);
                Assert.Equal(result.Selected.Except(dropped).Order(), result.Contributors.Order());
                Assert.Equal(dropped, result.Failed.Select(f => f.DeviceId).Order());
                Assert.Equal(dropped, result.RecoveredDropouts.Order());

                // Plain FedAvg of the contributors' trained models (the local means, learning rate 1).
                var expected = new double[Features];
                double total = 0;
                foreach (string id in result.Contributors)
                {
                    Dataset d = data[int.Parse(id.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture)];
                    float[] mean = DatasetMeans.Of(d);
                    for (int f = 0; f < Features; f++)
                    {
                        expected[f] += mean[f] * d.Count;
                    }

                    total += d.Count;
                }

                double bound = result.SecureAggregationErrorBound!.Value;
                Assert.InRange(bound, 0, 1e-3);
                float[] actual = result.GlobalParameters.Values.ToArray();
                for (int f = 0; f < Features; f++)
                {
                    // The stated quantisation bound plus float32 rounding of sums of magnitude ≈ 10⁴.
                    Assert.True(Math.Abs((expected[f] / total) - actual[f]) <= bound + 2e-5, $"round {r + 1} coordinate {f}: {actual[f]} vs {expected[f] / total} (bound {bound})");
                }

                Assert.NotNull(result.TrainingLoss);
            }

            // The coordinator never saw an individual update: only one securely aggregated delta per round.
            Assert.Equal(3, recorder.Updates.Count);
            Assert.All(recorder.Updates, u => Assert.Equal(SecureAggregateSenderId, u.SenderId));
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RunAsync_SecureAggregationWithDistributedNoise_UniformMeanWithinNoiseOfPlainMean()
    {
        // Each of 6 devices clips its delta to C = 100 (no clipping bites) and adds N(0, (σC)²/6) before masking; weights are uniform.
        const int devices = 6;
        const double sigma = 0.003;
        const double clip = 100;
        var network = new InProcessNetwork();
        using ServiceProvider services = new ServiceCollection().AddSecureAggregation(o => { o.Threshold = 4; o.ClipRange = 100f; }).BuildServiceProvider();
        var options = new CoordinatorOptions
        {
            MaxRounds = 2,
            MinParticipants = devices,
            RoundTimeout = TimeSpan.FromSeconds(90),
            WindowDuration = TimeSpan.FromSeconds(20),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
            DpNoiseMultiplier = sigma,
        };
        await using Coordinator coordinator = NewCoordinator(network, options, AggregationStrategies.FedAvg(), services.GetRequiredService<IRoundProtocol>(), accountant: new RdpAccountant(1e-5));
        await coordinator.StartAsync(Zero());
        var workers = new List<Worker>();
        var data = Enumerable.Range(0, devices).Select(DeviceData).ToArray();
        for (int i = 0; i < devices; i++)
        {
            var workerOptions = new WorkerOptions { DeviceId = "d" + i, UniformAggregationWeight = true };
            var noise = new DpUpdateTransform(new DifferentialPrivacyOptions { ClipNorm = clip, NoiseMultiplier = sigma, Placement = NoisePlacement.Distributed, ExpectedClientsPerRound = devices });
            workers.Add(NewWorker(network, workerOptions, new MeanTrainer(), data[i], services.GetRequiredService<IWorkerRoundProtocol>(), noise));
        }

        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            List<RoundResult> results = await RunAll(coordinator);

            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.True(r.Completed && r.SecureAggregation && r.Participants == devices, r.FailureReason));
            Assert.True(results[1].Epsilon > results[0].Epsilon);

            // The uniform (not sample-weighted) mean of the local means, plus noise of std σC/n = 0.05 per coordinate; the sample-weighted mean differs by ≈ 0.65.
            float[] actual = coordinator.GlobalParameters.Values.ToArray();
            for (int f = 0; f < Features; f++)
            {
                double uniform = data.Average(d => DatasetMeans.Of(d)[f]);
                Assert.True(Math.Abs(actual[f] - uniform) < 6 * sigma * clip / devices, $"coordinate {f}: {actual[f]} vs {uniform}");
            }
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RunRoundAsync_SecureAggregationBelowThreshold_FailsCleanlyWithReason()
    {
        var network = new InProcessNetwork();
        using ServiceProvider services = new ServiceCollection()
            .AddSecureAggregation(o =>
            {
                o.Threshold = 3;
                o.ClipRange = 5000f;
                o.MaskedInputTimeout = TimeSpan.FromSeconds(2);
            })
            .BuildServiceProvider();
        var options = new CoordinatorOptions
        {
            MaxRounds = 1,
            MinParticipants = 2,
            RoundTimeout = TimeSpan.FromSeconds(90),
            WindowDuration = TimeSpan.FromSeconds(20),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using Coordinator coordinator = NewCoordinator(network, options, AggregationStrategies.FedAvg(), services.GetRequiredService<IRoundProtocol>());
        await coordinator.StartAsync(Zero());
        var workers = new List<Worker>();
        for (int i = 0; i < 4; i++)
        {
            var secure = new ObservedSecureWorker(services.GetRequiredService<ISecureAggregationWorker>());
            var trainer = new MeanTrainer { DropInRound = i < 2 ? 1 : 0, KeysShared = secure };
            workers.Add(NewWorker(network, new WorkerOptions { DeviceId = "d" + i }, trainer, DeviceData(i), new SecureAggregationParticipant(secure)));
        }

        try
        {
            await Task.WhenAll(workers.Select(w => w.StartAsync().AsTask()));
            string before = coordinator.GlobalParameters.ComputeHash();
            RoundResult result = await coordinator.RunRoundAsync();

            Assert.False(result.Completed);
            Assert.Contains("secure aggregation aborted", result.FailureReason, StringComparison.Ordinal);
            Assert.Contains(nameof(SecAggAbortReason.TooFewClients), result.FailureReason, StringComparison.Ordinal);
            Assert.Equal(before, result.GlobalHash);
            Assert.Equal(0, coordinator.CompletedRounds);
            Assert.Equal(4, result.Failed.Count);
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task StartAsync_SecureAggregationOverTransportWithoutProtocolChannel_ThrowsTypedError()
    {
        using ServiceProvider services = new ServiceCollection().AddSecureAggregation().BuildServiceProvider();
        await using var coordinator = new Coordinator(Options.Create(new CoordinatorOptions()), new PlainTransport(), AggregationStrategies.FedAvg(), new AdmitAll(), services.GetRequiredService<IRoundProtocol>());

        var error = await Assert.ThrowsAsync<ProtocolMessagesNotSupportedException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Equal(nameof(PlainTransport), error.Transport);
        await Assert.ThrowsAsync<ProtocolMessagesNotSupportedException>(() => ((ICoordinatorTransport)new PlainTransport()).SendProtocolAsync("x", new byte[] { 1 }).AsTask());
    }

    [Fact]
    public async Task StartAsync_AccountantWithoutNoiseMultiplier_ThrowsNamingTheSetting()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, new CoordinatorOptions(), AggregationStrategies.FedAvg(), accountant: new RdpAccountant(1e-5, 1));

        var error = await Assert.ThrowsAsync<CoordinatorConfigurationException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains(nameof(CoordinatorOptions.DpNoiseMultiplier), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NonPositiveNoiseMultiplier_ThrowsNamingTheSetting()
    {
        var options = new CoordinatorOptions { DpNoiseMultiplier = 0 };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(nameof(CoordinatorOptions.DpNoiseMultiplier), error.Message, StringComparison.Ordinal);
    }

    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(AdmissionDecision.Admit());
    }

    /// <summary>Moves the model to the mean of the local rows (learning rate 1: exactly there); optionally fails in one round after its keys were shared.</summary>
    private sealed class MeanTrainer : ITrainer
    {
        private int _round;

        public ParameterLayout Layout { get; } = new(new TensorSpec("w", Features));

        public int DropInRound { get; init; }

        public ObservedSecureWorker? KeysShared { get; init; }

        public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            int round = Interlocked.Increment(ref _round);
            if (round == DropInRound)
            {
                // Drop only after the device's shares are out, so the coordinator must recover its masks.
                await KeysShared!.WaitForSharedKeysAsync(round, cancellationToken);
                throw new InvalidDataException("simulated device failure after sharing keys");
            }

            float[] mean = DatasetMeans.Of(request.Data);
            ParameterSet p = request.GlobalParameters.Clone();
            Span<float> w = p.Values;
            for (int i = 0; i < w.Length; i++)
            {
                w[i] += request.HyperParameters.LearningRate * (mean[i] - w[i]);
            }

            double loss = 0;
            for (int i = 0; i < w.Length; i++)
            {
                loss += (w[i] - mean[i]) * (w[i] - mean[i]);
            }

            return new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = 1, Loss = loss + 0.25 };
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = data.Count, Scores = new float[data.Count] });

    }

    /// <summary>The real secure-aggregation worker, observed: signals when a round's client has answered the roster (its key shares are on their way).</summary>
    private sealed class ObservedSecureWorker(ISecureAggregationWorker inner) : ISecureAggregationWorker
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<long, TaskCompletionSource> _shared = new();

        public ISecureAggregationClientRound BeginRound(string clientId, long round, string nonce) => new Round(inner.BeginRound(clientId, round, nonce), Signal(round));

        public Task WaitForSharedKeysAsync(long round, CancellationToken ct) => Signal(round).Task.WaitAsync(TimeSpan.FromSeconds(60), ct);

        private TaskCompletionSource Signal(long round) => _shared.GetOrAdd(round, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        private sealed class Round(ISecureAggregationClientRound inner, TaskCompletionSource shared) : ISecureAggregationClientRound
        {
            public SecAggPhase Phase => inner.Phase;

            public SecAggAdvertiseKeys AdvertiseKeys() => inner.AdvertiseKeys();

            public SecAggMessage? Respond(SecAggMessage message, ReadOnlySpan<float> update)
            {
                SecAggMessage? reply = inner.Respond(message, update);
                if (reply is SecAggShareKeys)
                {
                    // The worker sends the reply right after this returns; give it a moment before the trainer fails.
                    _ = Task.Delay(200).ContinueWith(_ => shared.TrySetResult(), TaskScheduler.Default);
                }

                return reply;
            }

            public void Dispose() => inner.Dispose();
        }
    }

    /// <summary>FedAvg that records every update folded into it.</summary>
    private sealed class RecordingStrategy(IAggregationStrategy inner) : IAggregationStrategy
    {
        public List<ModelUpdate> Updates { get; } = [];

        public string Name => inner.Name;

        public bool IsStreaming => inner.IsStreaming;

        public TrainingHyperParameters ConfigureTraining(TrainingHyperParameters hyperParameters) => inner.ConfigureTraining(hyperParameters);

        public IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null) => new Round(inner.BeginRound(globalParameters, options), this);

        public StrategyState? ExportState() => inner.ExportState();

        public void ImportState(StrategyState state) => inner.ImportState(state);

        private sealed class Round(IAggregationRound inner, RecordingStrategy owner) : IAggregationRound
        {
            public int Count => inner.Count;

            public void Add(ModelUpdate update)
            {
                lock (owner.Updates)
                {
                    owner.Updates.Add(update with { Values = update.Values.Clone() });
                }

                inner.Add(update);
            }

            public AggregationResult Complete() => inner.Complete();

            public void Dispose() => inner.Dispose();
        }
    }

    /// <summary>A transport without a protocol channel (relies on the interface defaults).</summary>
    private sealed class PlainTransport : ICoordinatorTransport
    {
        public TransportStatistics Statistics { get; } = new();

        public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
