using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 19: an update whose content cannot be decoded (here a negative sample count, produced by a hostile trainer
/// behind a real worker) is refused with a receipt to its authenticated sender and a reason, and the round does not
/// wait out its deadline for it. Before, it was dropped in silence and the round waited the full timeout.
/// </summary>
public sealed class UndecodableUpdateTests
{
    private const string Good = "u-good";
    private const string Bad = "u-bad";

    [Fact]
    public async Task NegativeSampleCount_OverEmbeddedMqtt_RefusedWithReceiptAndTheRoundGoesOn()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords[Good] = "pw-good";
        broker.DevicePasswords[Bad] = "pw-bad";
        var transport = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "undecodable" }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await RunAsync(transport, () => transport.BrokerUri, (device, uri) =>
            new MqttWorkerTransport(new MqttWorkerOptions { Federation = "undecodable", DeviceId = device, Password = device == Good ? "pw-good" : "pw-bad", BrokerUri = uri }));
    }

    [Fact]
    public async Task NegativeSampleCount_OverGrpc_RefusedWithReceiptAndTheRoundGoesOn()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true };
        options.DeviceTokens[Good] = "tok-good";
        options.DeviceTokens[Bad] = "tok-bad";
        var transport = new GrpcCoordinatorTransport(options);
        await RunAsync(transport, () => null, (device, _) =>
            new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = device, Token = device == Good ? "tok-good" : "tok-bad" }));
    }

    [Theory]
    [InlineData("wrong length")]
    [InlineData("negative samples")]
    [InlineData("unknown kind")]
    public void Deserialize_UpdateWithUnusableContent_NamesTheRound(string fault)
    {
        var layout = new ParameterLayout(new TensorSpec("w", 4));
        var update = new ModelUpdate { SenderId = Bad, Round = 7, Nonce = "n", SampleCount = 3, Kind = UpdateKind.Parameters, Values = new ParameterSet(layout) };
        var envelope = Envelope.Parser.ParseFrom(WireSerializer.Serialize(new WireMessage { MessageId = "m", Body = update }));
        switch (fault)
        {
            case "wrong length":
                envelope.ModelUpdate.Values.Data = ByteString.CopyFrom(new byte[10]);
                break;
            case "negative samples":
                envelope.ModelUpdate.SampleCount = -5;
                break;
            default:
                envelope.ModelUpdate.Kind = (UpdateKindMessage)42;
                break;
        }

        byte[] bytes = envelope.ToByteArray();
        UpdateFormatException named = Assert.Throws<UpdateFormatException>(() => WireSerializer.Deserialize(bytes));
        Assert.Equal(7, named.Round);
        Assert.Contains("round 7 cannot be decoded", named.Message, StringComparison.Ordinal);
    }

    private static async Task RunAsync(ICoordinatorTransport transport, Func<Uri?> brokerUri, Func<string, Uri?, IWorkerTransport> workerTransport)
    {
        var layout = new ParameterLayout(new TensorSpec("w", 8), new TensorSpec("b", 2));

        // A long deadline: if the refused participant were still awaited, the round would outlast the test's bound.
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = "undecodable", MaxRounds = 1, MinParticipants = 1, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(10), RoundTimeout = TimeSpan.FromMinutes(5), Seed = 3 }),
            transport,
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            logger: NullLogger<Coordinator>.Instance);
        Assert.False(await coordinator.StartAsync(new ParameterSet(layout)));

        var data = new Dataset(new float[20], new float[10], 2);
        await using var good = new Worker(Options.Create(new WorkerOptions { DeviceId = Good }), workerTransport(Good, brokerUri()), new ShiftTrainer(0.5f, 0.1, layout), new InMemoryDataSource(data));
        await using var bad = new Worker(Options.Create(new WorkerOptions { DeviceId = Bad }), workerTransport(Bad, brokerUri()), new NegativeSamplesTrainer(layout), new InMemoryDataSource(data));
        await good.StartAsync();
        await bad.StartAsync();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        RoundResult result = await coordinator.RunRoundAsync(cts.Token);

        Assert.True(result.Completed, result.FailureReason);
        Assert.Equal([Good], result.Contributors);
        RefusedUpdate refused = Assert.Single(result.Refused, r => r.DeviceId == Bad);
        Assert.Contains("negative", refused.Reason, StringComparison.Ordinal);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0.5f, v, 1e-6f));

        // The hostile device hears why (its receipt), so it stops re-sending.
        while (bad.Receipts.Count == 0)
        {
            await Task.Delay(20, cts.Token);
        }

        UpdateReceipt receipt = Assert.Single(bad.Receipts);
        Assert.False(receipt.Accepted);
        Assert.Equal(result.Round, receipt.Round);
        Assert.Contains("cannot be decoded", receipt.Reason, StringComparison.Ordinal);
    }

    /// <summary>A trainer that claims a negative number of samples: the worker sends it, the coordinator cannot decode it.</summary>
    private sealed class NegativeSamplesTrainer(ParameterLayout layout) : ITrainer
    {
        public ParameterLayout Layout => layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new TrainingResult { Parameters = request.GlobalParameters.Clone(), SampleCount = -5, Steps = 1, Loss = 0.1 });

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
    }
}
