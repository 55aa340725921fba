using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Core.Tests.Coordination;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Security;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Security;

/// <summary>The coordinator and worker engines with <see cref="FederationCredentials"/>: certificate admission, signed updates, signed global models.</summary>
public sealed class SignedFederationTests : IDisposable
{
    private const int Features = 4;
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("engine tests", Now, TimeSpan.FromDays(30));
    private readonly X509Certificate2 _server;

    public SignedFederationTests() => _server = FederationPki.IssueServer(_ca, "localhost", Now, TimeSpan.FromDays(30));

    public void Dispose()
    {
        _server.Dispose();
        _ca.Dispose();
    }

    private X509Certificate2 Device(string id, X509Certificate2? ca = null) => FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id }, Now);

    private static CoordinatorOptions Options(int rounds, int minParticipants) => new()
    {
        MaxRounds = rounds,
        MinParticipants = minParticipants,
        WindowSize = 2,
        RoundTimeout = TimeSpan.FromSeconds(minParticipants == 2 ? 30 : 3),
        WindowDuration = TimeSpan.FromSeconds(10),
        HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
    };

    private Coordinator NewCoordinator(InProcessNetwork network, int rounds, byte[]? crl = null, int minParticipants = 2) =>
        new(Microsoft.Extensions.Options.Options.Create(Options(rounds, minParticipants)), network.CreateCoordinatorTransport(), FedEdge.Aggregation.AggregationStrategies.FedAvg(), new DenyListAdmission(),
            credentials: new FederationCredentials(new CertificateValidator(_ca, crl), _server));

    private Worker NewWorker(IWorkerTransport transport, string id, X509Certificate2 cert, float value) =>
        new(Microsoft.Extensions.Options.Options.Create(new WorkerOptions { DeviceId = id }), transport, new MeanTrainer(Features), new InMemoryDataSource(TestData.Constant(20, Features, value)),
            credentials: new FederationCredentials(new CertificateValidator(_ca), cert));

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    private static async Task<List<RoundResult>> RunAll(Coordinator coordinator)
    {
        var results = new List<RoundResult>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (RoundResult r in coordinator.RunAsync(cts.Token))
        {
            results.Add(r);
        }

        return results;
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, cts.Token);
        }
    }

    [Fact]
    public async Task Rounds_WithCertificates_SignedUpdatesAcceptedSignaturesKeptAndModelsSigned()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, rounds: 2);
        await coordinator.StartAsync(Zero());
        using X509Certificate2 certA = Device("a");
        using X509Certificate2 certB = Device("b");
        await using Worker a = NewWorker(network.CreateWorkerTransport("a"), "a", certA, 2f);
        await using Worker b = NewWorker(network.CreateWorkerTransport("b"), "b", certB, 6f);
        await a.StartAsync();
        await b.StartAsync();

        List<RoundResult> results = await RunAll(coordinator);

        Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
        Assert.All(results, r => Assert.Equal(["a", "b"], r.Signatures.Select(s => s.DeviceId).Order()));
        foreach (SignedUpdate s in results.SelectMany(r => r.Signatures))
        {
            using ECDsa key = (s.DeviceId == "a" ? certA : certB).GetECDsaPublicKey()!;
            Assert.True(key.VerifyHash(s.Digest.Span, s.Signature.Span, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        }

        await WaitFor(() => a.LatestGlobalModel?.Version == 2);
        Assert.Equal(SignatureCheck.Valid, UpdateSigning.VerifyModel(a.LatestGlobalModel!, _server));
    }

    [Fact]
    public async Task Join_OtherCaRevokedOrAnotherDevicesCertificate_RefusedWithTypedReason()
    {
        using X509Certificate2 otherCa = FederationPki.CreateCertificateAuthority("engine tests", Now, TimeSpan.FromDays(30));
        using X509Certificate2 foreign = Device("x", otherCa);
        using X509Certificate2 revoked = Device("r");
        using X509Certificate2 certB = Device("b");
        byte[] crl = FederationPki.Revoke(_ca, [], revoked, Now, TimeSpan.FromDays(1));
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, rounds: 1, crl);
        await coordinator.StartAsync(Zero());

        await using Worker x = NewWorker(network.CreateWorkerTransport("x"), "x", foreign, 1f);
        await using Worker r = NewWorker(network.CreateWorkerTransport("r"), "r", revoked, 1f);
        await using Worker a = NewWorker(network.CreateWorkerTransport("a"), "a", certB, 1f);
        await x.StartAsync();
        await r.StartAsync();
        await a.StartAsync();

        Assert.Contains($"({CertificateRefusal.UntrustedIssuer})", x.StateReason, StringComparison.Ordinal);
        Assert.Contains($"({CertificateRefusal.Revoked})", r.StateReason, StringComparison.Ordinal);
        Assert.Contains($"({CertificateRefusal.IdentityMismatch})", a.StateReason, StringComparison.Ordinal);
        Assert.Equal(WorkerState.NotReady, x.State);
    }

    [Fact]
    public async Task RevokedAfterJoining_CrlReloaded_UpdatesRefusedAsRevoked_RoundGoesOnWithoutIt()
    {
        var validator = new CertificateValidator(_ca);
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(
            Microsoft.Extensions.Options.Options.Create(Options(rounds: 2, minParticipants: 1)), network.CreateCoordinatorTransport(), FedEdge.Aggregation.AggregationStrategies.FedAvg(), new DenyListAdmission(),
            credentials: new FederationCredentials(validator, _server));
        await coordinator.StartAsync(Zero());
        using X509Certificate2 certA = Device("a");
        using X509Certificate2 certB = Device("b");
        await using Worker a = NewWorker(network.CreateWorkerTransport("a"), "a", certA, 2f);
        await using Worker b = NewWorker(network.CreateWorkerTransport("b"), "b", certB, 6f);
        await a.StartAsync();
        await b.StartAsync();

        var results = new List<RoundResult>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (RoundResult r in coordinator.RunAsync(cts.Token))
        {
            results.Add(r);
            if (r.Round == 1)
            {
                // Between the rounds the federation revokes b, which stays connected; the coordinator reloads its CRL.
                Assert.Equal(["a", "b"], r.Contributors.Order());
                validator.ReloadCrl(FederationPki.Revoke(_ca, [], certB, Now, TimeSpan.FromDays(1)));
            }
        }

        RoundResult second = results[1];
        Assert.True(second.Completed, second.FailureReason);
        Assert.Equal(["a"], second.Contributors);
        RefusedUpdate refusal = Assert.Single(second.Refused, x => x.DeviceId == "b");
        Assert.Contains($"({CertificateRefusal.Revoked})", refusal.Reason, StringComparison.Ordinal);
        Assert.Contains("revoked after the device joined", refusal.Reason, StringComparison.Ordinal);
        Assert.Contains(coordinator.RefusedDevices, d => d.DeviceId == "b" && d.Reasons.Any(x => x.Contains($"({CertificateRefusal.Revoked})", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Update_TamperedAfterSigning_RefusedAndRoundWithoutIt()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, rounds: 1, minParticipants: 1);
        await coordinator.StartAsync(Zero());
        using X509Certificate2 certA = Device("a");
        using X509Certificate2 certB = Device("b");
        await using Worker a = NewWorker(network.CreateWorkerTransport("a"), "a", certA, 2f);
        await using Worker b = NewWorker(new TamperingTransport(network.CreateWorkerTransport("b")), "b", certB, 6f);
        await a.StartAsync();
        await b.StartAsync();

        List<RoundResult> results = await RunAll(coordinator);

        RefusedUpdate refusal = Assert.Single(results[0].Refused, x => x.DeviceId == "b");
        Assert.Contains($"({SignatureCheck.Invalid})", refusal.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("b", results[0].Contributors);
    }

    [Fact]
    public async Task GlobalModel_ForgedOrUnsigned_IgnoredByWorker()
    {
        var network = new InProcessNetwork();
        await using Coordinator coordinator = NewCoordinator(network, rounds: 1);
        await coordinator.StartAsync(Zero());
        using X509Certificate2 certA = Device("a");
        using X509Certificate2 certB = Device("b");
        await using Worker a = NewWorker(network.CreateWorkerTransport("a"), "a", certA, 2f);
        await using Worker b = NewWorker(network.CreateWorkerTransport("b"), "b", certB, 6f);
        await a.StartAsync();
        await b.StartAsync();
        await RunAll(coordinator);
        await WaitFor(() => a.LatestGlobalModel?.Version == 1);
        GlobalModel genuine = a.LatestGlobalModel!;

        ParameterSet evil = Zero();
        evil.Values.Fill(1000f);
        var forged = new GlobalModel { Version = 999999, Hash = evil.ComputeHash(), Parameters = evil };
        await a.OnGlobalModelAsync(forged, CancellationToken.None);
        Assert.Same(genuine, a.LatestGlobalModel);

        // Signed by a device key (a client with a valid federation certificate but not the coordinator's).
        var signedByDevice = new FederationCredentials(new CertificateValidator(_ca), certB).SignGlobalModel(forged, 999999);
        await a.OnGlobalModelAsync(signedByDevice, CancellationToken.None);
        Assert.Same(genuine, a.LatestGlobalModel);

        // The coordinator's genuine signature replayed over other parameters.
        await a.OnGlobalModelAsync(genuine with { Parameters = evil }, CancellationToken.None);
        Assert.Same(genuine, a.LatestGlobalModel);
    }

    /// <summary>An attacker on the path: flips one value of each update after the worker signed it.</summary>
    private sealed class TamperingTransport(IWorkerTransport inner) : IWorkerTransport
    {
        public TransportStatistics Statistics => inner.Statistics;

        public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default) => inner.ConnectAsync(handler, cancellationToken);

        public ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default) => inner.JoinAsync(request, cancellationToken);

        public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) => inner.PublishStatusAsync(status, cancellationToken);

        public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
        {
            ParameterSet changed = update.Values.Clone();
            changed.Values[0] += 1f;
            return inner.SendUpdateAsync(update with { Values = changed }, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
