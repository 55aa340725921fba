using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>round --workers 100 --params 100000 --transport inproc|mqtt|mosquitto|grpc [--rounds 3] [--broker mqtt://host:port] --json</c>:
/// Core's coordinator and workers with training replaced by a no-op, so a round costs only coordination and
/// transfer. Each repetition is a fresh one-round federation (join excluded); prints the median round time.
/// <c>mosquitto</c> needs <c>--broker</c> pointing at a broker that allows anonymous clients.
/// </summary>
internal static class RoundBench
{
    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(AdmissionDecision.Admit());
    }

    private sealed class NoOpTrainer(ParameterLayout layout) : ITrainer
    {
        public ParameterLayout Layout => layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new TrainingResult { Parameters = request.GlobalParameters.Clone(), SampleCount = request.Data.Count, Steps = 0, Loss = 0 });

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
    }

    public static async Task<int> RunAsync(string[] args)
    {
        int workers = 100;
        int count = 100_000;
        int rounds = 3;
        string transport = "inproc";
        Uri? broker = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--workers": workers = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--params": count = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--transport": transport = args[++i]; break;
                case "--broker": broker = new Uri(args[++i]); break;
                case "--json": break;
                default:
                    await Console.Error.WriteLineAsync($"round: unknown argument '{args[i]}'.").ConfigureAwait(false);
                    return 2;
            }
        }

        if (transport == "mosquitto" && broker is null)
        {
            await Console.Error.WriteLineAsync("round: --transport mosquitto needs --broker mqtt://host:port (anonymous access).").ConfigureAwait(false);
            return 2;
        }

        var layout = new ParameterLayout(new TensorSpec("w", count));
        var seconds = new List<double>();
        long bytesUp = 0;
        long bytesDown = 0;
        for (int r = 0; r < rounds; r++)
        {
            RoundResult result = await RunOnceAsync(transport, broker, workers, layout).ConfigureAwait(false);
            if (!result.Completed)
            {
                await Console.Error.WriteLineAsync($"round: the round did not complete: {result.FailureReason}").ConfigureAwait(false);
                return 1;
            }

            seconds.Add(result.Duration.TotalSeconds);
            bytesUp = result.BytesUp;
            bytesDown = result.BytesDown;
        }

        seconds.Sort();
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["mode"] = "round",
            ["transport"] = transport,
            ["workers"] = workers,
            ["params"] = count,
            ["rounds"] = rounds,
            ["seconds_per_round"] = Math.Round(seconds[seconds.Count / 2], 4),
            ["seconds_min"] = Math.Round(seconds[0], 4),
            ["seconds_max"] = Math.Round(seconds[^1], 4),
            ["bytes_up"] = bytesUp,
            ["bytes_down"] = bytesDown,
        }));
        return 0;
    }

    private static async Task<RoundResult> RunOnceAsync(string transport, Uri? broker, int workers, ParameterLayout layout)
    {
        string federation = "bench" + Guid.NewGuid().ToString("N")[..8];
        string[] devices = Enumerable.Range(0, workers).Select(i => $"w{i}").ToArray();
        ICoordinatorTransport coordinatorTransport;
        Func<string, IWorkerTransport> workerTransport;
        switch (transport)
        {
            case "inproc":
                var network = new InProcessNetwork();
                coordinatorTransport = network.CreateCoordinatorTransport();
                workerTransport = network.CreateWorkerTransport;
                break;
            case "mqtt":
                var embedded = new EmbeddedMqttBrokerOptions { Port = 0 };
                foreach (string device in devices)
                {
                    embedded.DevicePasswords[device] = "pw-" + device;
                }

                var mqtt = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, EmbeddedBroker = embedded });
                coordinatorTransport = mqtt;
                workerTransport = device => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, Password = "pw-" + device, BrokerUri = mqtt.BrokerUri });
                break;
            case "mosquitto":
                coordinatorTransport = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, BrokerUri = broker });
                workerTransport = device => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, BrokerUri = broker });
                break;
            case "grpc":
                var grpcOptions = new GrpcCoordinatorOptions { Port = 0 };
                foreach (string device in devices)
                {
                    grpcOptions.DeviceTokens[device] = "tok-" + device;
                }

                var grpc = new GrpcCoordinatorTransport(grpcOptions);
                coordinatorTransport = grpc;
                workerTransport = device => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = grpc.Address, DeviceId = device, Token = "tok-" + device, CallDeadline = TimeSpan.FromSeconds(120) });
                break;
            default:
                throw new ArgumentException($"Unknown transport '{transport}'; use inproc, mqtt, mosquitto or grpc.");
        }

        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions
            {
                Federation = federation,
                MaxRounds = 1,
                MinParticipants = workers,
                WindowSize = workers,
                WindowDuration = TimeSpan.FromMinutes(2),
                RoundTimeout = TimeSpan.FromMinutes(5),
                ResumeFromCheckpoint = false,
                Seed = 1,
            }),
            coordinatorTransport,
            AggregationStrategies.FedAvg(),
            new AdmitAll());
        await coordinator.StartAsync(new ParameterSet(layout)).ConfigureAwait(false);
        var data = new Dataset(new float[2], new float[1], 2);
        var started = new List<Worker>();
        try
        {
            foreach (string device in devices)
            {
                var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = device }), workerTransport(device), new NoOpTrainer(layout), new InMemoryDataSource(data));
                started.Add(worker);
                await worker.StartAsync().ConfigureAwait(false);
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            RoundResult? last = null;
            var clock = Stopwatch.StartNew();
            await foreach (RoundResult result in coordinator.RunAsync(timeout.Token).ConfigureAwait(false))
            {
                last = result;
            }

            return last ?? throw new InvalidOperationException($"No round ran in {clock.Elapsed.TotalSeconds:0} s.");
        }
        finally
        {
            foreach (Worker worker in started)
            {
                await worker.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
