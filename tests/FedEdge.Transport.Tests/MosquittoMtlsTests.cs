using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Testing;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;
using MosquittoConfig = FedEdge.Transport.Mosquitto.MosquittoConfig;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Real Mosquitto with the configuration <see cref="MosquittoConfig"/> generates (mutual TLS, identity = certificate
/// CN, per-device ACL, CRL) and certificates from <see cref="FederationPki"/>.
/// </summary>
public sealed class MosquittoMtlsTests : IAsyncLifetime
{
    private const string Federation = "mtls";
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-mtls-").FullName;
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("mtls tests", Now.AddDays(-30), TimeSpan.FromDays(60));
    private X509Certificate2 _server = null!;
    private X509Certificate2 _revoked = null!;
    private MosquittoBroker? _broker;

    public async Task InitializeAsync()
    {
        _server = FederationPki.IssueServer(_ca, "localhost", Now, TimeSpan.FromDays(30));
        _revoked = Device("revoked-1");
        Write(_ca, "ca");
        Write(_server, "broker");
        File.WriteAllText(Path.Combine(_dir, "crl.pem"), PemEncoding.WriteString("X509 CRL", FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1))) + "\n");
        _broker = await MosquittoBroker.StartWithConfigAsync((port, dir) =>
        {
            var config = new MosquittoConfig
            {
                Federation = Federation,
                Port = port,
                CaFile = Path.Combine(_dir, "ca.crt"),
                CertFile = Path.Combine(_dir, "broker.crt"),
                KeyFile = Path.Combine(_dir, "broker.key"),
                CrlFile = Path.Combine(_dir, "crl.pem"),
                AclFile = Path.Combine(dir, "fededge.acl"),
                CoordinatorIdentity = "localhost",
            };
            File.WriteAllText(config.AclFile, config.RenderAcl());
            return config.RenderConfig();
        });
    }

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _server.Dispose();
        _revoked.Dispose();
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private void Write(X509Certificate2 cert, string name)
    {
        KeyFiles.WriteCertificate(Path.Combine(_dir, name + ".crt"), cert);
        using ECDsa key = cert.GetECDsaPrivateKey()!;
        KeyFiles.WritePrivateKey(Path.Combine(_dir, name + ".key"), key);
    }

    private X509Certificate2 Device(string id, X509Certificate2? ca = null, DateTimeOffset? issued = null, TimeSpan? validity = null)
        => KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id, Validity = validity ?? TimeSpan.FromDays(10) }, issued ?? Now));

    private Uri TlsUri => new($"mqtts://localhost:{_broker!.Port}");

    private MqttWorkerTransport Worker(string id, X509Certificate2? cert, Uri? uri = null) => new(new MqttWorkerOptions
    {
        Federation = Federation,
        DeviceId = id,
        BrokerUri = uri ?? TlsUri,
        Tls = new MqttTlsSettings { ClientCertificate = cert, TrustedRoot = _ca },
        PublishTimeout = TimeSpan.FromSeconds(3),
    });

    private async Task<(MqttCoordinatorTransport Transport, RecordingCoordinator Handler)> StartCoordinator()
    {
        var handler = new RecordingCoordinator();
        var transport = new MqttCoordinatorTransport(new MqttCoordinatorOptions
        {
            Federation = Federation,
            BrokerUri = TlsUri,
            Username = "localhost",
            Tls = new MqttTlsSettings { ClientCertificate = KeyFiles.MakeUsableForTls(new X509Certificate2(_server)), TrustedRoot = _ca },
        });
        await transport.StartAsync(handler);
        return (transport, handler);
    }

    /// <summary>The control: the same broker and client code accept a valid certificate, so a refusal above is the certificate's.</summary>
    private async Task AssertValidDeviceConnects()
    {
        using X509Certificate2 cert = Device("control-1");
        await using MqttWorkerTransport worker = Worker("control-1", cert);
        await worker.ConnectAsync(new RecordingWorker());
    }

    [Fact]
    public async Task ValidDeviceCertificate_JoinsAndSendsUpdate_IdentityFromCertificate()
    {
        if (_broker is null)
        {
            return;
        }

        (MqttCoordinatorTransport coordinator, RecordingCoordinator handler) = await StartCoordinator();
        await using (coordinator)
        {
            using X509Certificate2 cert = Device("cam-1");
            await using MqttWorkerTransport worker = Worker("cam-1", cert);
            await worker.ConnectAsync(new RecordingWorker());
            Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "cam-1", CertificateDer = cert.RawData })).Accepted);
            await worker.SendUpdateAsync(TestData.Update("cam-1", 1, TestData.RandomSet(4, 7)));
            (ModelUpdate _, InboundContext context) = await handler.NextAsync<ModelUpdate>();
            Assert.Equal("cam-1", context.AuthenticatedId);
        }
    }

    [Fact]
    public async Task DeviceACertificatePublishingAsB_DeniedByAclAndLogged()
    {
        if (_broker is null)
        {
            return;
        }

        (MqttCoordinatorTransport coordinator, RecordingCoordinator handler) = await StartCoordinator();
        await using (coordinator)
        {
            using X509Certificate2 certA = Device("dev-a");
            await using MqttWorkerTransport impostor = Worker("dev-b", certA);
            await impostor.ConnectAsync(new RecordingWorker());
            await Assert.ThrowsAnyAsync<Exception>(async () => await impostor.JoinAsync(new JoinRequest { DeviceId = "dev-b" }));
            await Task.Delay(300);
            Assert.DoesNotContain("dev-b", handler.Updates.Select(u => u.SenderId));
            Assert.Contains("Denied PUBLISH from", _broker.Log, StringComparison.Ordinal);
            Assert.Contains("fededge/mtls/devices/dev-b/join", _broker.Log, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AnonymousClient_NoCertificate_Refused()
    {
        if (_broker is null)
        {
            return;
        }

        await using MqttWorkerTransport anonymous = Worker("dev-a", null);
        await Assert.ThrowsAsync<TransportException>(async () => await anonymous.ConnectAsync(new RecordingWorker()));
    }

    [Fact]
    public async Task PlainTextConnection_ToTlsOnlyListener_Refused()
    {
        if (_broker is null)
        {
            return;
        }

        await using MqttWorkerTransport plain = Worker("dev-a", null, new Uri($"mqtt://127.0.0.1:{_broker.Port}"));
        await Assert.ThrowsAnyAsync<Exception>(async () => await plain.ConnectAsync(new RecordingWorker()));
    }

    [Fact]
    public async Task CertificateFromAnotherCa_Refused()
    {
        if (_broker is null)
        {
            return;
        }

        using X509Certificate2 otherCa = FederationPki.CreateCertificateAuthority("mtls tests", Now, TimeSpan.FromDays(30));
        using X509Certificate2 foreign = Device("dev-x", otherCa);
        await using MqttWorkerTransport worker = Worker("dev-x", foreign);
        await Assert.ThrowsAsync<TransportException>(async () => await worker.ConnectAsync(new RecordingWorker()));
        Assert.Contains("certificate verify failed", _broker.Log, StringComparison.Ordinal);
        await AssertValidDeviceConnects();
    }

    [Fact]
    public async Task RevokedCertificate_RefusedByCrl()
    {
        if (_broker is null)
        {
            return;
        }

        await using MqttWorkerTransport worker = Worker("revoked-1", KeyFiles.MakeUsableForTls(new X509Certificate2(_revoked)));
        await Assert.ThrowsAsync<TransportException>(async () => await worker.ConnectAsync(new RecordingWorker()));
        Assert.Contains("certificate verify failed", _broker.Log, StringComparison.Ordinal);
        await AssertValidDeviceConnects();
    }

    [Fact]
    public async Task ExpiredCertificate_Refused()
    {
        if (_broker is null)
        {
            return;
        }

        using X509Certificate2 expired = Device("old-1", issued: Now.AddDays(-20), validity: TimeSpan.FromDays(1));
        await using MqttWorkerTransport worker = Worker("old-1", expired);
        await Assert.ThrowsAsync<TransportException>(async () => await worker.ConnectAsync(new RecordingWorker()));
        Assert.Contains("certificate verify failed", _broker.Log, StringComparison.Ordinal);
        await AssertValidDeviceConnects();
    }

    [Fact]
    public void GeneratedConfig_NeverAllowsAnonymous_RequiresCertificates_AclKeyedByIdentity()
    {
        var config = new MosquittoConfig { Federation = "f1", CoordinatorIdentity = "coord.example", CrlFile = "/etc/fededge/crl.pem" };
        string text = config.RenderConfig();
        Assert.Contains("allow_anonymous false\n", text, StringComparison.Ordinal);
        Assert.Contains("require_certificate true\n", text, StringComparison.Ordinal);
        Assert.Contains("use_identity_as_username true\n", text, StringComparison.Ordinal);
        Assert.Contains("crlfile /etc/fededge/crl.pem\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("allow_anonymous true", text, StringComparison.Ordinal);
        string acl = config.RenderAcl();
        Assert.Contains("pattern write fededge/f1/devices/%u/update", acl, StringComparison.Ordinal);
        Assert.Contains("pattern read fededge/f1/model/#", acl, StringComparison.Ordinal);
        Assert.DoesNotContain("pattern write fededge/f1/model", acl, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new MosquittoConfig { CoordinatorIdentity = "a b" }.RenderConfig());
        Assert.Throws<ArgumentException>(() => new MosquittoConfig { CaFile = "x\nallow_anonymous true" }.RenderConfig());
    }

    [Fact]
    public async Task Engines_OverMutualTls_SignedUpdatesAcceptedAndSignedModelsTrusted()
    {
        if (_broker is null)
        {
            return;
        }

        var layout = new ParameterLayout(new TensorSpec("w", 8));
        var serverCredentials = new FederationCredentials(new CertificateValidator(_ca), KeyFiles.MakeUsableForTls(new X509Certificate2(_server)));
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = Federation, MaxRounds = 2, MinParticipants = 2, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(2), RoundTimeout = TimeSpan.FromSeconds(20), Seed = 1 }),
            new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, BrokerUri = TlsUri, Username = "localhost", Tls = new MqttTlsSettings { ClientCertificate = serverCredentials.Certificate, TrustedRoot = _ca } }),
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            credentials: serverCredentials);
        await coordinator.StartAsync(new ParameterSet(layout));
        var workers = new List<Worker>();
        try
        {
            foreach (string id in new[] { "dev-1", "dev-2" })
            {
                X509Certificate2 cert = Device(id);
                var worker = new Worker(
                    Options.Create(new WorkerOptions { DeviceId = id }),
                    Worker(id, cert),
                    new ShiftTrainer(0.25f, 0.5, layout),
                    new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)),
                    credentials: new FederationCredentials(new CertificateValidator(_ca), cert));
                workers.Add(worker);
                await worker.StartAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            List<RoundResult> results = await TestData.RunAllRoundsAsync(coordinator, cts.Token);

            Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
            Assert.All(results, r => Assert.Equal(2, r.Signatures.Count));
            while (workers.Any(w => w.LatestGlobalModel?.Version != 2))
            {
                await Task.Delay(20, cts.Token);
            }

            Assert.All(workers, w => Assert.Equal(SignatureCheck.Valid, UpdateSigning.VerifyModel(w.LatestGlobalModel!, _server)));
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }
}
