using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>Runs Core's real coordinator and worker engines over the MQTT and gRPC transports.</summary>
public sealed class EngineOverTransportTests
{
    private static readonly string[] Devices = ["e-1", "e-2", "e-3"];

    private static readonly ILoggerFactory Logs = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;

    private static async Task RunFederationAsync(ICoordinatorTransport coordinatorTransport, Func<string, IWorkerTransport> workerTransport)
    {
        var layout = new ParameterLayout(new TensorSpec("w", 64, 64), new TensorSpec("b", 64));
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = "engine", MaxRounds = 1, MinParticipants = 3, WindowSize = 3, WindowDuration = TimeSpan.FromSeconds(2), RoundTimeout = TimeSpan.FromSeconds(20), Seed = 1 }),
            coordinatorTransport,
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            logger: Logs.CreateLogger<Coordinator>());
        Assert.False(await coordinator.StartAsync(new ParameterSet(layout)));

        var data = new Dataset(new float[20], new float[10], 2);
        var workers = new List<Worker>();
        try
        {
            foreach (string device in Devices)
            {
                var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = device }), workerTransport(device), new ShiftTrainer(0.25f, 0.5, layout), new InMemoryDataSource(data), logger: Logs.CreateLogger<Worker>());
                workers.Add(worker);
                await worker.StartAsync();
            }

            var results = new List<RoundResult>();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            await foreach (RoundResult result in coordinator.RunAsync(cts.Token))
            {
                results.Add(result);
            }

            Assert.Equal(1, results.Count(r => r.Completed));
            Assert.All(results.Where(r => r.Completed), r => Assert.Equal(Devices.Order(), r.Contributors.Order()));

            // FedAvg of three updates that each add 0.25 moves every parameter by exactly 0.25.
            Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0.25f, v, 1e-6f));
            Assert.True(coordinatorTransport.Statistics.BytesReceived > 3 * layout.TotalLength * 4);
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task CoordinatorAndWorkers_OverEmbeddedMqtt_CompleteARound()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        foreach (string device in Devices)
        {
            broker.DevicePasswords[device] = "pw-" + device;
        }

        var transport = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "engine" }, Logs, brokerHost: new EmbeddedMqttBrokerHost(broker, Logs));
        Uri? uri = null;
        await RunFederationAsync(new StartHook(transport, () => uri = transport.BrokerUri), device =>
            new MqttWorkerTransport(new MqttWorkerOptions { Federation = "engine", DeviceId = device, Password = "pw-" + device, BrokerUri = uri }, Logs));
    }

    [Fact]
    public async Task CoordinatorAndWorkers_OverGrpc_CompleteARound()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true };
        foreach (string device in Devices)
        {
            options.DeviceTokens[device] = "tok-" + device;
        }

        var transport = new GrpcCoordinatorTransport(options);
        await RunFederationAsync(transport, device =>
            new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = device, Token = "tok-" + device }));
    }

    /// <summary>Lets the test read the embedded broker's address once the coordinator started the transport.</summary>
    private sealed class StartHook(MqttCoordinatorTransport inner, Action started) : ICoordinatorTransport
    {
        public TransportStatistics Statistics => inner.Statistics;

        public async ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
        {
            await inner.StartAsync(handler, cancellationToken);
            started();
        }

        public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) => inner.SendTaskAsync(deviceId, task, cancellationToken);

        public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => inner.SendReceiptAsync(deviceId, receipt, cancellationToken);

        public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) => inner.PublishGlobalModelAsync(model, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
