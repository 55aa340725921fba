using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The codec a coordinator announces in its round tasks (<see cref="CoordinatorOptions.UpdateCodec"/>) over the embedded
/// MQTT broker and gRPC: Core's real workers encode with it, sign the encoded bytes, and the coordinator verifies what
/// arrived; an update whose encoded bytes changed after signing is refused.
/// </summary>
public sealed class CodecRoundTests : IDisposable
{
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", 20, 10), new TensorSpec("b", 20));
    private static readonly string[] Devices = ["c-1", "c-2", "c-3"];
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("codec round tests", Now.AddDays(-1), TimeSpan.FromDays(10));
    private readonly X509Certificate2 _server;
    private readonly Dictionary<string, X509Certificate2> _devices = [];

    public CodecRoundTests()
    {
        _server = FederationPki.IssueServer(_ca, "127.0.0.1", Now.AddDays(-1), TimeSpan.FromDays(5));
        foreach (string id in Devices)
        {
            _devices[id] = FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = id }, Now.AddDays(-1));
        }
    }

    public void Dispose()
    {
        foreach (X509Certificate2 c in _devices.Values)
        {
            c.Dispose();
        }

        _server.Dispose();
        _ca.Dispose();
    }

    [Theory]
    [InlineData("mqtt", "f16", "f16")]
    [InlineData("mqtt", "int8", "int8")]
    [InlineData("mqtt", "topk:0.05", "topk")]
    [InlineData("grpc", "int8", "int8")]
    [InlineData("grpc", "topk:0.05", "topk")]
    public async Task AnnouncedCodec_WorkersEncodeAndSignWithIt_CoordinatorVerifiesTheBytes(string transport, string codec, string wireName)
    {
        (RoundResult round, UpdateTap tap, ParameterSet global) = await RunRoundAsync(transport, codec, tamperedDevice: null);

        Assert.True(round.Completed, round.FailureReason);
        Assert.Equal(Devices, round.Contributors.Order());
        Assert.Equal(Devices, round.Signatures.Select(s => s.DeviceId).Order());
        // A re-sent update (its receipt was late under load) reaches the tap again: count the devices, not the copies.
        Assert.Equal(Devices, tap.Senders.Distinct().Order());
        Assert.All(tap.Codecs, c => Assert.Equal(wireName, c));
        Assert.All(tap.Kinds, k => Assert.Equal(UpdateKind.Delta, k));

        // Every worker moved every parameter by 0.25: float16 and int8 carry that constant exactly; top-k keeps 5 % of
        // each delta (the first indices on ties), so only those parameters moved.
        float[] values = global.Values.ToArray();
        if (wireName == "topk")
        {
            int kept = (int)Math.Ceiling(Layout.TotalLength * 0.05);
            Assert.Equal(kept, values.Count(v => v != 0));
            Assert.All(values.Where(v => v != 0), v => Assert.Equal(0.25f, v, 1e-6f));
        }
        else
        {
            Assert.All(values, v => Assert.Equal(0.25f, v, 1e-6f));
        }
    }

    [Theory]
    [InlineData("mqtt")]
    [InlineData("grpc")]
    public async Task EncodedBytesChangedAfterSigning_AreRefusedAsInvalid(string transport)
    {
        (RoundResult round, _, _) = await RunRoundAsync(transport, "int8", tamperedDevice: "c-3");

        Assert.True(round.Completed, round.FailureReason);
        Assert.Equal(["c-1", "c-2"], round.Contributors.Order());
        RefusedUpdate refused = Assert.Single(round.Refused, r => r.DeviceId == "c-3");
        Assert.Contains($"({SignatureCheck.Invalid})", refused.Reason, StringComparison.Ordinal);
    }

    private async Task<(RoundResult Round, UpdateTap Tap, ParameterSet Global)> RunRoundAsync(string transport, string codec, string? tamperedDevice)
    {
        ICoordinatorTransport inner;
        Func<string, IWorkerTransport> workerTransport;
        if (transport == "mqtt")
        {
            var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
            foreach (string device in Devices)
            {
                broker.DevicePasswords[device] = "pw-" + device;
            }

            var mqtt = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "codec" }, brokerHost: new EmbeddedMqttBrokerHost(broker));
            inner = mqtt;
            workerTransport = device => new MqttWorkerTransport(new MqttWorkerOptions { Federation = "codec", DeviceId = device, Password = "pw-" + device, BrokerUri = mqtt.BrokerUri });
        }
        else
        {
            var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true };
            foreach (string device in Devices)
            {
                options.DeviceTokens[device] = "tok-" + device;
            }

            var grpc = new GrpcCoordinatorTransport(options);
            inner = grpc;
            workerTransport = device => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = grpc.Address, DeviceId = device, Token = "tok-" + device });
        }

        var tap = new UpdateTap(inner);
        var validator = new CertificateValidator(_ca);
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = "codec", MaxRounds = 1, MinParticipants = 2, WindowSize = 3, WindowDuration = TimeSpan.FromSeconds(3), RoundTimeout = TimeSpan.FromSeconds(tamperedDevice is null ? 30 : 6), Seed = 1, UpdateCodec = codec }),
            tap,
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            credentials: new FederationCredentials(validator, _server));
        await coordinator.StartAsync(new ParameterSet(Layout));

        var workers = new List<Worker>();
        try
        {
            foreach (string id in Devices)
            {
                IWorkerTransport wire = workerTransport(id);
                var worker = new Worker(
                    Options.Create(new WorkerOptions { DeviceId = id }),
                    id == tamperedDevice ? new FlipEncodedBit(wire) : wire,
                    new ShiftTrainer(0.25f, 0.5, Layout),
                    new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)),
                    credentials: new FederationCredentials(validator, _devices[id], _server));
                workers.Add(worker);
                await worker.StartAsync();
            }

            List<RoundResult> results = await TestData.RunAllRoundsAsync(coordinator);

            return (Assert.Single(results), tap, coordinator.GlobalParameters.Clone());
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    /// <summary>Records how each update arrived (its codec and kind) before the coordinator sees it.</summary>
    private sealed class UpdateTap(ICoordinatorTransport inner) : ICoordinatorTransport
    {
        public ConcurrentQueue<string> Codecs { get; } = new();

        public ConcurrentQueue<string> Senders { get; } = new();

        public ConcurrentQueue<UpdateKind> Kinds { get; } = new();

        public TransportStatistics Statistics => inner.Statistics;

        public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

        public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default) => inner.StartAsync(new Tapped(handler, this), cancellationToken);

        public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) => inner.SendTaskAsync(deviceId, task, cancellationToken);

        public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => inner.SendReceiptAsync(deviceId, receipt, cancellationToken);

        public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) => inner.PublishGlobalModelAsync(model, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private sealed class Tapped(ICoordinatorHandler handler, UpdateTap tap) : ICoordinatorHandler
        {
            public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) => handler.OnJoinAsync(request, context, cancellationToken);

            public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => handler.OnStatusAsync(status, context, cancellationToken);

            public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
            {
                tap.Codecs.Enqueue(update.Encoded?.Codec ?? "f32");
                tap.Senders.Enqueue(update.SenderId);
                tap.Kinds.Enqueue(update.Kind);
                return handler.OnUpdateAsync(update, context, cancellationToken);
            }

            public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => handler.OnMalformedAsync(source, error, cancellationToken);

            public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) => handler.OnProtocolAsync(deviceId, payload, context, cancellationToken);
        }
    }

    /// <summary>Encodes through the real transport, then flips one bit of the encoded values after the worker signed them.</summary>
    private sealed class FlipEncodedBit(IWorkerTransport inner) : IWorkerTransport, IUpdateEncoder
    {
        public TransportStatistics Statistics => inner.Statistics;

        public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

        public ModelUpdate Encode(ModelUpdate update, RoundTask task) => ((IUpdateEncoder)inner).Encode(update, task);

        public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default) => inner.ConnectAsync(handler, cancellationToken);

        public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default) => inner.JoinAsync(request, cancellationToken);

        public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) => inner.PublishStatusAsync(status, cancellationToken);

        public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) => inner.SendProtocolAsync(payload, cancellationToken);

        public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
        {
            EncodedValues encoded = update.Encoded ?? throw new InvalidOperationException("The worker did not encode the update.");
            byte[] bytes = encoded.Data.ToArray();
            bytes[^1] ^= 0x01; // an int8 value byte: the bytes still decode, but not to what was signed
            return inner.SendUpdateAsync(update with { Encoded = encoded with { Data = bytes } }, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
