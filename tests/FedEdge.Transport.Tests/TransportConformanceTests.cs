using System.Collections.Concurrent;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Testing;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using Grpc.Core;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>FedEdge.Testing's transport conformance suite against every shipped transport, as a third party would run it.</summary>
public sealed class TransportConformanceTests
{
    private static readonly byte[] Garbage = [0xFF, 0xFF, 0xFF, 0x0F, 0x13, 0x37, 0x00, 0xAB, 0xCD, 0xEF, 0x01, 0x02];

    [Fact]
    public async Task InProcess_PassesTransportConformance()
    {
        IReadOnlyList<string> ran = await new InProcessConformance().RunAllAsync();
        Assert.DoesNotContain(nameof(TransportConformance.UndecodableUpdateIsReportedAsync), ran);
        Assert.Equal(6, ran.Count);
    }

    [Fact]
    public async Task EmbeddedMqtt_PassesTransportConformance()
    {
        IReadOnlyList<string> ran = await new EmbeddedMqttConformance().RunAllAsync();
        Assert.Equal(7, ran.Count);
    }

    [Fact]
    public async Task Mosquitto_PassesTransportConformance()
    {
        await using MosquittoBroker? probe = await MosquittoBroker.StartAsync(new MosquittoConfig());
        if (probe is null)
        {
            return;
        }

        IReadOnlyList<string> ran = await new MosquittoConformance().RunAllAsync();
        Assert.Equal(7, ran.Count);
    }

    [Fact]
    public async Task Grpc_PassesTransportConformance()
    {
        IReadOnlyList<string> ran = await new GrpcConformance().RunAllAsync();
        Assert.Equal(7, ran.Count);
    }

    /// <summary>The suite must be able to fail: a transport that hands every update over under another sender's name breaks it.</summary>
    [Fact]
    public async Task Suite_OnATransportThatRenamesSenders_FailsNamingTheCheck()
    {
        var error = await Assert.ThrowsAsync<ConformanceException>(() => new RenamingConformance().UpdateArrivesWithSenderAsync());
        Assert.Equal("UpdateArrivesWithSender", error.Check);
        Assert.Contains("impostor", error.Message, StringComparison.Ordinal);
    }

    private sealed class InProcessConformance : TransportConformance
    {
        private readonly ConcurrentDictionary<string, InProcessNetwork> _networks = new();

        protected override ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_networks.GetOrAdd(federation, _ => new InProcessNetwork()).CreateCoordinatorTransport());

        protected override IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId) =>
            _networks[federation].CreateWorkerTransport(deviceId);
    }

    /// <summary>The in-process transport behind a coordinator transport that renames every update's sender.</summary>
    private sealed class RenamingConformance : TransportConformance
    {
        private readonly InProcessNetwork _network = new();

        protected override ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken) =>
            ValueTask.FromResult<ICoordinatorTransport>(new Renaming(_network.CreateCoordinatorTransport()));

        protected override IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId) =>
            _network.CreateWorkerTransport(deviceId);

        private sealed class Renaming(ICoordinatorTransport inner) : ICoordinatorTransport, ICoordinatorHandler
        {
            private ICoordinatorHandler _handler = null!;

            public TransportStatistics Statistics => inner.Statistics;

            public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
            {
                _handler = handler;
                return inner.StartAsync(this, cancellationToken);
            }

            public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) => inner.SendTaskAsync(deviceId, task, cancellationToken);

            public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) => inner.SendReceiptAsync(deviceId, receipt, cancellationToken);

            public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) => inner.PublishGlobalModelAsync(model, cancellationToken);

            public ValueTask DisposeAsync() => inner.DisposeAsync();

            public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) => _handler.OnJoinAsync(request, context, cancellationToken);

            public ValueTask OnStatusAsync(FedEdge.Devices.DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => _handler.OnStatusAsync(status, context, cancellationToken);

            public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) =>
                _handler.OnUpdateAsync(update with { SenderId = "impostor" }, context, cancellationToken);

            public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => _handler.OnMalformedAsync(source, error, cancellationToken);
        }
    }

    private sealed class EmbeddedMqttConformance : TransportConformance
    {
        protected override ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken)
        {
            var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
            foreach (string device in DeviceIds)
            {
                broker.DevicePasswords[device] = "pw-" + device;
            }

            return ValueTask.FromResult<ICoordinatorTransport>(new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, ChunkSize = 16 * 1024 }, brokerHost: new EmbeddedMqttBrokerHost(broker)));
        }

        protected override IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId) =>
            new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = deviceId, Password = "pw-" + deviceId, BrokerUri = ((MqttCoordinatorTransport)coordinator).BrokerUri, ChunkSize = 16 * 1024 });

        protected override async ValueTask<bool> SendUndecodableUpdateAsync(ICoordinatorTransport coordinator, string federation, string deviceId, CancellationToken cancellationToken)
        {
            using IMqttClient client = await RawMqttDevice.ConnectAsync((MqttCoordinatorTransport)coordinator, federation, deviceId, "pw-" + deviceId);
            await client.PublishBinaryAsync(MqttTopicScheme.Update(federation, deviceId), Garbage, MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: cancellationToken);
            await client.DisconnectAsync(cancellationToken: cancellationToken);
            return true;
        }
    }

    private sealed class MosquittoConformance : TransportConformance
    {
        private readonly ConcurrentDictionary<string, MosquittoBroker> _brokers = new();

        protected override async ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken)
        {
            var config = new MosquittoConfig { Acl = MqttTopicScheme.MosquittoAcl(federation, "coordinator") };
            config.Users["coordinator"] = "coord-secret";
            foreach (string device in DeviceIds)
            {
                config.Users[device] = "pw-" + device;
            }

            MosquittoBroker broker = await MosquittoBroker.StartAsync(config) ?? throw new InvalidOperationException("Mosquitto is not installed.");
            _brokers[federation] = broker;
            return new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation, BrokerUri = broker.Uri, Username = "coordinator", Password = "coord-secret", ChunkSize = 16 * 1024 });
        }

        protected override IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId) =>
            new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = deviceId, Password = "pw-" + deviceId, BrokerUri = _brokers[federation].Uri, ChunkSize = 16 * 1024 });

        protected override async ValueTask<bool> SendUndecodableUpdateAsync(ICoordinatorTransport coordinator, string federation, string deviceId, CancellationToken cancellationToken)
        {
            using IMqttClient client = await RawMqttDevice.ConnectAsync((MqttCoordinatorTransport)coordinator, federation, deviceId, "pw-" + deviceId);
            await client.PublishBinaryAsync(MqttTopicScheme.Update(federation, deviceId), Garbage, MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: cancellationToken);
            await client.DisconnectAsync(cancellationToken: cancellationToken);
            return true;
        }

        protected override async ValueTask ReleaseAsync(string federation)
        {
            if (_brokers.TryRemove(federation, out MosquittoBroker? broker))
            {
                await broker.DisposeAsync();
            }
        }
    }

    private sealed class GrpcConformance : TransportConformance
    {
        protected override ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken)
        {
            var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true, ChunkSize = 16 * 1024 };
            foreach (string device in DeviceIds)
            {
                options.DeviceTokens[device] = "tok-" + device;
            }

            return ValueTask.FromResult<ICoordinatorTransport>(new GrpcCoordinatorTransport(options));
        }

        protected override IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId) =>
            new GrpcWorkerTransport(new GrpcWorkerOptions { Address = ((GrpcCoordinatorTransport)coordinator).Address, DeviceId = deviceId, Token = "tok-" + deviceId, ChunkSize = 16 * 1024 });

        protected override async ValueTask<bool> SendUndecodableUpdateAsync(ICoordinatorTransport coordinator, string federation, string deviceId, CancellationToken cancellationToken)
        {
            // A well-formed frame whose envelope has no message id: receivers could not drop its repeats, so it is refused.
            var update = new ModelUpdate { SenderId = deviceId, Round = 6, Nonce = "n", SampleCount = 1, Values = new ParameterSet(new ParameterLayout(new TensorSpec("w", 4))) };
            Envelope envelope = Envelope.Parser.ParseFrom(WireSerializer.Serialize(new WireMessage { MessageId = "m", SenderId = deviceId, Body = update }));
            envelope.MessageId = string.Empty;
            using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(((GrpcCoordinatorTransport)coordinator).Address!);
            var client = new FederationService.FederationServiceClient(channel);
            var headers = new Metadata { { "fededge-device", deviceId }, { "authorization", "Bearer tok-" + deviceId } };
            using AsyncDuplexStreamingCall<Frame, Frame> call = client.Send(headers, cancellationToken: cancellationToken);
            try
            {
                await call.RequestStream.WriteAsync(new Frame { Envelope = envelope }, cancellationToken);
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(cancellationToken))
                {
                }
            }
            catch (RpcException)
            {
                // The coordinator ends the call with InvalidArgument; the report to the handler is what the suite checks.
            }

            return true;
        }
    }
}
