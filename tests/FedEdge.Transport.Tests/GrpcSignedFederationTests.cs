using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Core's engines over gRPC with mutual TLS and federation credentials: signed updates are accepted and kept, the
/// global model reaches the workers signed by the coordinator, and an update whose bytes changed after signing (a
/// valid signature over different bytes) is refused with a typed reason.
/// </summary>
public sealed class GrpcSignedFederationTests() : FederationPkiFixture("grpc signed tests")
{
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", 16));

    [Fact]
    public async Task Engines_OverGrpcMutualTls_SignedUpdatesKept_TamperedUpdateRefused_SignedModelTrusted()
    {
        var transport = new GrpcCoordinatorTransport(new GrpcCoordinatorOptions { Port = 0, ServerCertificate = Server, ClientCertificateValidator = new CertificateValidator(Ca) });
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = "signed", MaxRounds = 1, MinParticipants = 2, WindowSize = 3, WindowDuration = TimeSpan.FromSeconds(3), RoundTimeout = TimeSpan.FromSeconds(10), Seed = 1 }),
            transport,
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            credentials: new FederationCredentials(new CertificateValidator(Ca), Server));
        await coordinator.StartAsync(new ParameterSet(Layout));

        var workers = new List<Worker>();
        using X509Certificate2 a = Device("s-a"), b = Device("s-b"), t = Device("s-tamper");
        try
        {
            foreach ((string id, X509Certificate2 cert) in new[] { ("s-a", a), ("s-b", b), ("s-tamper", t) })
            {
                IWorkerTransport wire = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = id, ClientCertificate = cert, TrustedRoot = Ca });
                var worker = new Worker(
                    Options.Create(new WorkerOptions { DeviceId = id }),
                    id == "s-tamper" ? new TamperingTransport(wire) : wire,
                    new ShiftTrainer(0.25f, 0.5, Layout),
                    new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)),
                    credentials: new FederationCredentials(new CertificateValidator(Ca), cert, Server));
                workers.Add(worker);
                await worker.StartAsync();
            }

            // The round closes at its timeout: the tampering device never sends an update the coordinator accepts.
            List<RoundResult> results = await TestData.RunAllRoundsAsync(coordinator);

            RoundResult round = Assert.Single(results);
            Assert.True(round.Completed, round.FailureReason);
            Assert.Equal(["s-a", "s-b"], round.Contributors.Order());
            Assert.Equal(["s-a", "s-b"], round.Signatures.Select(s => s.DeviceId).Order());
            RefusedUpdate refused = Assert.Single(round.Refused, r => r.DeviceId == "s-tamper");
            Assert.Contains($"({SignatureCheck.Invalid})", refused.Reason, StringComparison.Ordinal);

            // The workers accept the global model only because the trusted coordinator signed it.
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (workers[0].LatestGlobalModel?.Version != 1)
            {
                await Task.Delay(20, wait.Token);
            }

            Assert.Equal(SignatureCheck.Valid, UpdateSigning.VerifyModel(workers[0].LatestGlobalModel!, Server));
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    /// <summary>Changes one value of every update after the worker signed it: the signature stays valid, but over other bytes.</summary>
    private sealed class TamperingTransport(IWorkerTransport inner) : IWorkerTransport
    {
        public TransportStatistics Statistics => inner.Statistics;

        public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

        public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default) => inner.ConnectAsync(handler, cancellationToken);

        public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default) => inner.JoinAsync(request, cancellationToken);

        public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) => inner.PublishStatusAsync(status, cancellationToken);

        public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) => inner.SendProtocolAsync(payload, cancellationToken);

        public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
        {
            ParameterSet changed = update.Values.Clone();
            changed.Values[0] += 1f;
            return inner.SendUpdateAsync(update with { Values = changed }, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
