using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using FsCheck;
using FsCheck.Xunit;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Signed messages without framing digests: a signed federation's chunked updates and global models travel without the
/// per-chunk and whole-message SHA-256 (the signature check covers them), over gRPC mutual TLS and the embedded broker's
/// TLS listener; a receiver that verifies no signature refuses such frames with a typed error; a flipped byte in a
/// digest-less signed update is caught by the signature check and never aggregated.
/// </summary>
public sealed class SignedFramingTests() : FederationPkiFixture("signed framing tests")
{
    private const int Chunk = 1024;

    // 1,024 float32 values: about 4 KB per update or model, five chunks of 1 KB each.
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", 1024));

    private Coordinator SignedCoordinator(ICoordinatorTransport transport, string federation, int rounds, int participants, int window) => new(
        Options.Create(new CoordinatorOptions { Federation = federation, MaxRounds = rounds, MinParticipants = participants, WindowSize = window, WindowDuration = TimeSpan.FromSeconds(5), RoundTimeout = TimeSpan.FromSeconds(20), Seed = 1 }),
        transport,
        AggregationStrategies.FedAvg(),
        new AdmitAll(),
        credentials: new FederationCredentials(new CertificateValidator(Ca), Server));

    private Worker SignedWorker(string id, IWorkerTransport wire, X509Certificate2 certificate) => new(
        Options.Create(new WorkerOptions { DeviceId = id }),
        wire,
        new ShiftTrainer(0.25f, 0.5, Layout),
        new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)),
        credentials: new FederationCredentials(new CertificateValidator(Ca), certificate, Server));

    private static async Task WaitForModelAsync(Worker worker, long version)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (worker.LatestGlobalModel?.Version != version)
        {
            await Task.Delay(20, wait.Token);
        }
    }

    [Fact]
    public async Task Grpc_MutualTlsSignedFederation_UpdatesAndModelsTravelWithoutDigests()
    {
        var transport = new GrpcCoordinatorTransport(new GrpcCoordinatorOptions { Port = 0, ServerCertificate = Server, ClientCertificateValidator = new CertificateValidator(Ca), ChunkSize = Chunk });
        await using Coordinator coordinator = SignedCoordinator(transport, "digestless-grpc", rounds: 2, participants: 2, window: 2);
        await coordinator.StartAsync(new ParameterSet(Layout));
        await RunSignedFederationAsync(coordinator, () => transport.DigestlessMessagesReceived, ["g-a", "g-b"], (id, cert) =>
        {
            var wire = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = id, ClientCertificate = cert, TrustedRoot = Ca, ChunkSize = Chunk });
            return (wire, () => wire.DigestlessMessagesReceived);
        });
    }

    [Fact]
    public async Task Grpc_FlippedByteInDigestlessSignedUpdate_RefusedBySignature_NeverAggregated()
    {
        var transport = new GrpcCoordinatorTransport(new GrpcCoordinatorOptions { Port = 0, ServerCertificate = Server, ClientCertificateValidator = new CertificateValidator(Ca), ChunkSize = Chunk });
        await using Coordinator coordinator = SignedCoordinator(transport, "digestless-flip", rounds: 1, participants: 2, window: 3);
        await coordinator.StartAsync(new ParameterSet(Layout));
        using X509Certificate2 a = Device("f-a"), b = Device("f-b"), t = Device("f-flip");
        var workers = new List<Worker>();
        int flipped = 0;
        try
        {
            foreach ((string id, X509Certificate2 cert) in new[] { ("f-a", a), ("f-b", b), ("f-flip", t) })
            {
                var wire = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = id, ClientCertificate = cert, TrustedRoot = Ca, ChunkSize = Chunk });
                if (id == "f-flip")
                {
                    // Corruption in transit after framing: one bit of the middle chunk's data (inside the values) flips.
                    wire.FramesOut = (message, frames) =>
                    {
                        if (message.Body is ModelUpdate && frames.Count >= 3)
                        {
                            (ReadOnlyMemory<byte> _, ChunkView? chunk) = WireFraming.Read(frames[frames.Count / 2]);
                            Assert.True(chunk!.IsDigestless);
                            byte[] frame = frames[frames.Count / 2];
                            frame[frame.Length - (chunk.Data.Length / 2)] ^= 0x10;
                            Interlocked.Increment(ref flipped);
                        }
                    };
                }

                Worker worker = SignedWorker(id, wire, cert);
                workers.Add(worker);
                await worker.StartAsync();
            }

            List<RoundResult> results = await TestData.RunAllRoundsAsync(coordinator);

            RoundResult round = Assert.Single(results);
            Assert.True(round.Completed, round.FailureReason);
            Assert.True(flipped >= 1);
            Assert.Equal(["f-a", "f-b"], round.Contributors.Order());
            RefusedUpdate refused = Assert.Single(round.Refused, r => r.DeviceId == "f-flip");
            Assert.Contains($"({SignatureCheck.Invalid})", refused.Reason, StringComparison.Ordinal);
            Assert.DoesNotContain(round.Signatures, s => s.DeviceId == "f-flip");
            Assert.True(transport.DigestlessMessagesReceived >= 3, $"{transport.DigestlessMessagesReceived} digest-less updates");
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
    public async Task EmbeddedBrokerTls_SignedFederation_UpdatesAndModelsTravelWithoutDigests()
    {
        var validator = new CertificateValidator(Ca);
        var broker = new EmbeddedMqttBrokerOptions { Port = 0, Tls = new EmbeddedBrokerTlsOptions { ServerCertificate = Server, Validator = validator, Port = 0 } };
        var host = new EmbeddedMqttBrokerHost(broker);
        var transport = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "digestless-mqtt", ChunkSize = Chunk }, brokerHost: host);
        await using Coordinator coordinator = SignedCoordinator(transport, "digestless-mqtt", rounds: 2, participants: 2, window: 2);
        await coordinator.StartAsync(new ParameterSet(Layout));
        await RunSignedFederationAsync(coordinator, () => transport.DigestlessMessagesReceived, ["m-a", "m-b"], (id, cert) =>
        {
            var wire = new MqttWorkerTransport(new MqttWorkerOptions
            {
                Federation = "digestless-mqtt",
                DeviceId = id,
                BrokerUri = host.Broker!.TlsUri("127.0.0.1"),
                Tls = new MqttTlsSettings { ClientCertificate = cert, TrustedRoot = Ca },
                ChunkSize = Chunk,
            });
            return (wire, () => wire.DigestlessMessagesReceived);
        });
    }

    /// <summary>
    /// Runs two signed rounds with one worker per id over the wires <paramref name="wireFor"/> makes, then checks that the
    /// two signed updates per round reached the coordinator as digest-less chunks and that each worker received the
    /// signed models the same way (the workers' tasks, unsigned, still travel with digests and were accepted).
    /// </summary>
    private async Task RunSignedFederationAsync(Coordinator coordinator, Func<long> coordinatorDigestless, string[] ids, Func<string, X509Certificate2, (IWorkerTransport Wire, Func<long> Digestless)> wireFor)
    {
        var certificates = ids.Select(Device).ToList();
        var digestless = new List<Func<long>>();
        var workers = new List<Worker>();
        try
        {
            for (int i = 0; i < ids.Length; i++)
            {
                (IWorkerTransport wire, Func<long> count) = wireFor(ids[i], certificates[i]);
                digestless.Add(count);
                Worker worker = SignedWorker(ids[i], wire, certificates[i]);
                workers.Add(worker);
                await worker.StartAsync();
            }

            List<RoundResult> results = await TestData.RunAllRoundsAsync(coordinator);

            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
            Assert.All(results, r => Assert.Equal(ids.Order(), r.Signatures.Select(s => s.DeviceId).Order()));
            foreach (Worker worker in workers)
            {
                await WaitForModelAsync(worker, 2);
            }

            Assert.True(coordinatorDigestless() >= 2 * ids.Length, $"{coordinatorDigestless()} digest-less updates");
            Assert.All(digestless, count => Assert.True(count() >= 1, $"{count()} digest-less models"));
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }

            certificates.ForEach(c => c.Dispose());
        }
    }

    private static ModelUpdate SignedLookingUpdate(string sender) =>
        TestData.Update(sender, 1, TestData.RandomSet(3, 2048)) with { Signature = Enumerable.Repeat((byte)7, 64).ToArray() };

    [Fact]
    public async Task PlainGrpcCoordinator_RefusesDigestlessUpdate_WithTypedError()
    {
        var handler = new RecordingCoordinator();
        var options = new GrpcCoordinatorOptions { Port = 0, ChunkSize = Chunk, AllowPlainText = true };
        options.DeviceTokens["p-1"] = "token-1";
        await using var coordinator = new GrpcCoordinatorTransport(options);
        await coordinator.StartAsync(handler);
        await using var wire = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = coordinator.Address, DeviceId = "p-1", Token = "token-1", ChunkSize = Chunk });
        await wire.ConnectAsync(new RecordingWorker());

        // A sender that signs leaves the digests out; a coordinator without credentials verifies no signature.
        await Assert.ThrowsAsync<TransportException>(() => wire.SendUpdateAsync(SignedLookingUpdate("p-1")).AsTask());

        Assert.Contains(handler.Malformed, m => m.Error is MissingChunkDigestException);
        Assert.Empty(handler.Updates);
        Assert.Equal(0, coordinator.DigestlessMessagesReceived);
    }

    [Fact]
    public async Task PlainMqttCoordinator_RefusesDigestlessUpdate_WithTypedError_AndKeepsTakingDigestedOnes()
    {
        var handler = new RecordingCoordinator();
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["p-2"] = "pw-p-2";
        await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "plain-digests", ChunkSize = Chunk }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(handler);
        await using var wire = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "plain-digests", DeviceId = "p-2", Password = "pw-p-2", BrokerUri = coordinator.BrokerUri, ChunkSize = Chunk });
        await wire.ConnectAsync(new RecordingWorker());

        await wire.SendUpdateAsync(SignedLookingUpdate("p-2"));
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (!handler.Malformed.Any(m => m.Error is MissingChunkDigestException))
            {
                await Task.Delay(20, wait.Token);
            }
        }

        Assert.Empty(handler.Updates);

        // The same update from a sender configured for an older receiver carries digests, and is delivered.
        await using var digested = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "plain-digests", DeviceId = "p-2", Password = "pw-p-2", BrokerUri = coordinator.BrokerUri, ChunkSize = Chunk, OmitDigestsWhenSigned = false });
        await wire.DisposeAsync();
        await digested.ConnectAsync(new RecordingWorker());
        await digested.SendUpdateAsync(SignedLookingUpdate("p-2"));
        (ModelUpdate update, _) = await handler.NextAsync<ModelUpdate>();
        Assert.Equal(2048, update.Values.Length);
        Assert.Equal(0, coordinator.DigestlessMessagesReceived);
    }

    [Fact]
    public async Task VerifyingMqttCoordinator_TakesDigestlessOnlyForSignedUpdates()
    {
        var recorder = new RecordingCoordinator();
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["v-1"] = "pw-v-1";
        await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "verifying", ChunkSize = Chunk }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(new VerifyingHandler(recorder));
        await using RawMqttClient device = await RawMqttClient.ConnectAsync(coordinator.BrokerUri!, "v-1", "pw-v-1", MqttTopicScheme.DeviceClientId("verifying", "v-1"));

        async Task PublishDigestlessAsync(string topic, object body)
        {
            byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), SenderId = "v-1", Body = body });
            foreach (byte[] frame in WireFraming.Split(envelope, 256, digests: false))
            {
                await device.PublishAsync(topic, frame);
            }
        }

        // An unsigned update and a status without digests: no signature check covers them.
        await PublishDigestlessAsync(MqttTopicScheme.Update("verifying", "v-1"), TestData.Update("v-1", 1, TestData.RandomSet(4, 300)));
        await PublishDigestlessAsync(MqttTopicScheme.Status("verifying", "v-1"), TestData.Status("v-1", DeviceIntent.Training) with { Reason = new string('x', 600) });
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (recorder.Malformed.Count(m => m.Error is MissingChunkDigestException) < 2)
            {
                await Task.Delay(20, wait.Token);
            }
        }

        // A signed update without digests goes on to the engine, which verifies its signature before using it.
        await PublishDigestlessAsync(MqttTopicScheme.Update("verifying", "v-1"), SignedLookingUpdate("v-1"));
        (ModelUpdate update, _) = await recorder.NextAsync<ModelUpdate>();
        Assert.False(update.Signature.IsEmpty);
        Assert.Equal(1, coordinator.DigestlessMessagesReceived);
        Assert.Single(recorder.Updates);
    }

    [Fact]
    public async Task MqttWorkers_TakeDigestlessSignedModel_OnlyWhenTheyVerifyModelSignatures()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["w-plain"] = "pw-plain";
        broker.DevicePasswords["w-verify"] = "pw-verify";
        await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "models", ChunkSize = Chunk }, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(new RecordingCoordinator());
        var plain = new RecordingWorker();
        var verifying = new RecordingWorker();
        await using var plainWire = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "models", DeviceId = "w-plain", Password = "pw-plain", BrokerUri = coordinator.BrokerUri, ChunkSize = Chunk });
        await using var verifyingWire = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "models", DeviceId = "w-verify", Password = "pw-verify", BrokerUri = coordinator.BrokerUri, ChunkSize = Chunk });
        await plainWire.ConnectAsync(plain);
        await verifyingWire.ConnectAsync(new VerifyingWorker(verifying));

        // A model carrying a signature goes out without chunk digests (the transport does not judge the signature: the
        // worker engine does, before it uses the model).
        ParameterSet parameters = TestData.RandomSet(8, 2048);
        await coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = parameters.ComputeHash(), Parameters = parameters, Metadata = new Dictionary<string, string> { [UpdateSigning.ModelSignatureKey] = "c2lnbmVk" } });

        GlobalModel taken = await verifying.NextAsync<GlobalModel>();
        Assert.Equal(1, taken.Version);
        Assert.Equal(1, verifyingWire.DigestlessMessagesReceived);
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (plainWire.Statistics.Malformed == 0)
            {
                await Task.Delay(20, wait.Token);
            }
        }

        Assert.False(plain.TryTake(out GlobalModel? refused), $"the worker without credentials took model {refused?.Version}");

        // An unsigned model keeps its digests and reaches both.
        await coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 2, Hash = parameters.ComputeHash(), Parameters = parameters });
        Assert.Equal(2, (await plain.NextAsync<GlobalModel>()).Version);
        Assert.Equal(2, (await verifying.NextAsync<GlobalModel>(m => m.Version == 2)).Version);
        Assert.Equal(0, plainWire.DigestlessMessagesReceived);
    }

    [Property(MaxTest = 200)]
    public bool Split_WithOrWithoutDigests_ReassemblesInAnyOrder_AndDigestlessNeedsPermission(NonEmptyArray<byte> payload, PositiveInt chunk, bool digests, int seed)
    {
        // Repeated so that most cases span several chunks (the generated arrays are short).
        byte[] envelope = [.. Enumerable.Repeat(payload.Get, 1 + (chunk.Get % 40)).SelectMany(b => b)];
        int chunkSize = 64 + (chunk.Get % 300);
        List<byte[]> frames = [.. WireFraming.Split(envelope, chunkSize, digests)];
        bool chunked = frames.Count > 1;
        var views = frames.Select(f => WireFraming.Read(f).Chunk).ToList();
        bool carried = !chunked || views.All(v => v!.ChunkSha256.Length == 32 && v.TotalSha256.Length == 32);
        bool omitted = !chunked || views.All(v => v!.IsDigestless);

        var random = new Random(seed);
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        ReadOnlyMemory<byte> result = default;
        bool flagged = false;
        int completions = 0;
        // A chunk delivered twice (at-least-once) completes nothing the second time.
        foreach (byte[] frame in frames.OrderBy(_ => random.Next()).Concat(chunked ? frames.Take(1) : []))
        {
            if (reassembler.TryAccept("src", frame, frameIsOwned: false, allowDigestless: true, out ReadOnlyMemory<byte> done, out bool digestless))
            {
                result = done;
                flagged = digestless;
                completions++;
            }
        }

        // The public entry point never takes a chunk without digests.
        bool refusedWithoutPermission = true;
        if (chunked && !digests)
        {
            try
            {
                new FrameReassembler(new FakeTimeProvider()).TryAccept("src", frames[0], out _);
                refusedWithoutPermission = false;
            }
            catch (MissingChunkDigestException)
            {
            }
        }

        return completions == 1 && result.Span.SequenceEqual(envelope) && flagged == (chunked && !digests)
            && (digests ? carried : omitted) && refusedWithoutPermission;
    }

    [Fact]
    public void DigestlessAndDigestedChunks_OfOneTransfer_AreRefusedAsInconsistent()
    {
        byte[] envelope = new byte[1000];
        new Random(5).NextBytes(envelope);
        IReadOnlyList<byte[]> withDigests = WireFraming.Split(envelope, 256, digests: true);
        IReadOnlyList<byte[]> without = WireFraming.Split(envelope, 256, digests: false);

        // Graft the digest-less second chunk onto the first chunk's transfer id: siblings must agree on their digest.
        ChunkView first = WireFraming.Read(withDigests[0]).Chunk!;
        ChunkView second = WireFraming.Read(without[1]).Chunk!;
        var grafted = new Wire.Proto.Frame { Chunk = new Wire.Proto.Chunk { TransferId = first.TransferId, Index = second.Index, Count = second.Count, TotalLength = second.TotalLength, Data = Google.Protobuf.ByteString.CopyFrom(second.Data.Span) } };
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        Assert.False(reassembler.TryAccept("src", withDigests[0], out _));
        Assert.Throws<ChunkIntegrityException>(() => reassembler.TryAccept("src", grafted, allowDigestless: true, out _, out _));
    }

    /// <summary>A worker recorder that says it verifies model signatures, as a worker with federation credentials does.</summary>
    private sealed class VerifyingWorker(RecordingWorker inner) : IWorkerHandler
    {
        public bool VerifiesModelSignatures => true;

        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) => inner.OnTaskAsync(task, cancellationToken);

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => inner.OnGlobalModelAsync(model, cancellationToken);

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) => inner.OnReceiptAsync(receipt, cancellationToken);
    }

    /// <summary>A recorder that says it verifies update signatures, as a coordinator with federation credentials does.</summary>
    private sealed class VerifyingHandler(RecordingCoordinator inner) : ICoordinatorHandler
    {
        public bool VerifiesUpdateSignatures => true;

        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) => inner.OnJoinAsync(request, context, cancellationToken);

        public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => inner.OnStatusAsync(status, context, cancellationToken);

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) => inner.OnUpdateAsync(update, context, cancellationToken);

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => inner.OnMalformedAsync(source, error, cancellationToken);
    }
}
