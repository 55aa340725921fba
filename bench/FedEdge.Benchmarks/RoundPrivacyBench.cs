using System.Globalization;
using System.Text.Json;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging.InProcess;
using FedEdge.Privacy;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Rounds;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>round-privacy --workers 20 --params 100000 [--rounds 3] --json</c>: the wall time of one round of Core's
/// coordinator and workers over the in-process transport, plain vs differential privacy (clipping + central
/// noise + accountant) vs secure aggregation vs both (distributed noise before masking). Training is a cheap
/// deterministic step, so the figures are the cost of coordination, privacy and transfer. Prints the median
/// round time per mode (the first round of each federation is excluded as warm-up).
/// </summary>
internal static class RoundPrivacyBench
{
    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(AdmissionDecision.Admit());
    }

    /// <summary>Moves each parameter by a small device-specific amount: a real delta at negligible cost.</summary>
    private sealed class StepTrainer(ParameterLayout layout, int device) : ITrainer
    {
        public ParameterLayout Layout => layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            ParameterSet p = request.GlobalParameters.Clone();
            Span<float> w = p.Values;
            for (int i = 0; i < w.Length; i++)
            {
                w[i] += 1e-3f * (((i + device) % 7) - 3);
            }

            return ValueTask.FromResult(new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = 1, Loss = 0.5 });
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
    }

    public static async Task<int> RunAsync(string[] args)
    {
        int workers = 20;
        int count = 100_000;
        int rounds = 3;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--workers": workers = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--params": count = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--json": break;
                default:
                    await Console.Error.WriteLineAsync($"round-privacy: unknown argument '{args[i]}'.").ConfigureAwait(false);
                    return 2;
            }
        }

        if (workers < 3 || count < 1 || rounds < 1)
        {
            await Console.Error.WriteLineAsync("round-privacy: needs --workers ≥ 3, --params ≥ 1 and --rounds ≥ 1.").ConfigureAwait(false);
            return 2;
        }

        var layout = new ParameterLayout(new TensorSpec("w", count));
        var result = new Dictionary<string, object>
        {
            ["mode"] = "round-privacy",
            ["transport"] = "inproc",
            ["workers"] = workers,
            ["params"] = count,
            ["rounds"] = rounds,
        };
        foreach (string mode in new[] { "plain", "dp", "secagg", "secagg_dp" })
        {
            (double seconds, long bytesUp) = await MeasureAsync(mode, workers, layout, rounds).ConfigureAwait(false);
            result[mode + "_seconds"] = Math.Round(seconds, 4);
            result[mode + "_bytes_up"] = bytesUp;
        }

        result["dp_slowdown"] = Math.Round((double)result["dp_seconds"] / (double)result["plain_seconds"], 2);
        result["secagg_slowdown"] = Math.Round((double)result["secagg_seconds"] / (double)result["plain_seconds"], 2);
        result["secagg_dp_slowdown"] = Math.Round((double)result["secagg_dp_seconds"] / (double)result["plain_seconds"], 2);
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private static async Task<(double Seconds, long BytesUp)> MeasureAsync(string mode, int workers, ParameterLayout layout, int rounds)
    {
        bool dp = mode is "dp" or "secagg_dp";
        bool secure = mode is "secagg" or "secagg_dp";
        const double sigma = 1.0;
        const double clip = 1.0;
        using ServiceProvider services = new ServiceCollection()
            .AddSecureAggregation(o =>
            {
                o.Threshold = Math.Max(2, (workers / 2) + 1);
                o.ClipRange = 1000f;
            })
            .BuildServiceProvider();
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions
        {
            MaxRounds = rounds + 1,
            MinParticipants = workers,
            WindowSize = workers,
            RoundTimeout = TimeSpan.FromMinutes(5),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1 },
            DpNoiseMultiplier = dp ? sigma : null,
        };

        // Central noise is added to the aggregate; distributed noise (with secure aggregation) by each worker.
        IAggregateTransform[] aggregateTransforms = dp && !secure ? [new GaussianAggregateNoise(sigma, clip)] : [];
        await using var coordinator = new Coordinator(
            Options.Create(options),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            roundProtocol: secure ? services.GetRequiredService<IRoundProtocol>() : null,
            aggregateTransforms: aggregateTransforms,
            accountant: dp ? new RdpAccountant(1e-5) : null);
        await coordinator.StartAsync(new ParameterSet(layout)).ConfigureAwait(false);
        var data = new Dataset(new float[100], new float[100], 1);
        var list = new List<Worker>();
        try
        {
            for (int i = 0; i < workers; i++)
            {
                var workerOptions = new WorkerOptions { DeviceId = $"w{i}" };
                IUpdateTransform[] updateTransforms = dp
                    ? [new DpUpdateTransform(new DifferentialPrivacyOptions
                    {
                        ClipNorm = clip,
                        NoiseMultiplier = sigma,
                        Placement = secure ? NoisePlacement.Distributed : NoisePlacement.Central,
                        ExpectedClientsPerRound = workers,
                    })]
                    : [];
                var worker = new Worker(
                    Options.Create(workerOptions),
                    network.CreateWorkerTransport($"w{i}"),
                    new StepTrainer(layout, i),
                    new InMemoryDataSource(data),
                    roundProtocol: secure ? services.GetRequiredService<IWorkerRoundProtocol>() : null,
                    updateTransforms: updateTransforms);
                list.Add(worker);
                await worker.StartAsync().ConfigureAwait(false);
            }

            var seconds = new List<double>();
            long bytesUp = 0;
            await foreach (RoundResult r in coordinator.RunAsync().ConfigureAwait(false))
            {
                if (!r.Completed)
                {
                    throw new InvalidOperationException($"round-privacy: a {mode} round failed: {r.FailureReason}");
                }

                if (r.Round > 1)
                {
                    seconds.Add(r.Duration.TotalSeconds);
                    bytesUp = r.BytesUp;
                }
            }

            seconds.Sort();
            return (seconds[seconds.Count / 2], bytesUp);
        }
        finally
        {
            foreach (Worker w in list)
            {
                await w.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
