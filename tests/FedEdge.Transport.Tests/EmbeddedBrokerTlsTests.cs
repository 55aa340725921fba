using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Tests;

/// <summary>The embedded broker's mutual-TLS listener: identity from the verified client certificate, each refusal with its reason.</summary>
public sealed class EmbeddedBrokerTlsTests : IAsyncLifetime
{
    private const string Federation = "etls";
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("embedded tls tests", Now.AddDays(-30), TimeSpan.FromDays(60));
    private readonly RecordingCoordinator _handler = new();
    private X509Certificate2 _revoked = null!;
    private CertificateValidator _validator = null!;
    private byte[] _crl = [];
    private MqttCoordinatorTransport _coordinator = null!;
    private EmbeddedMqttBrokerHost _host = null!;

    public async Task InitializeAsync()
    {
        _revoked = Device("revoked-1");
        _crl = FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1));
        var validator = _validator = new CertificateValidator(_ca, _crl);
        var broker = new EmbeddedMqttBrokerOptions
        {
            Port = 0,
            Tls = new EmbeddedBrokerTlsOptions { ServerCertificate = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(_ca, "localhost", Now, TimeSpan.FromDays(10))), Validator = validator, Port = 0 },
        };
        broker.DevicePasswords["pw-dev"] = "secret";
        _host = new EmbeddedMqttBrokerHost(broker);
        _coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation }, brokerHost: _host);
        await _coordinator.StartAsync(_handler);
    }

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        _revoked.Dispose();
        _ca.Dispose();
    }

    private X509Certificate2 Device(string id, X509Certificate2? ca = null, DateTimeOffset? issued = null, TimeSpan? validity = null)
        => KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id, Validity = validity ?? TimeSpan.FromDays(10) }, issued ?? Now));

    private MqttWorkerTransport Worker(string id, X509Certificate2? cert, Uri? uri = null, string? password = null) => new(new MqttWorkerOptions
    {
        Federation = Federation,
        DeviceId = id,
        BrokerUri = uri ?? _host.Broker!.TlsUri("localhost"),
        Password = password,
        Tls = new MqttTlsSettings { ClientCertificate = cert, TrustedRoot = _ca },
        PublishTimeout = TimeSpan.FromSeconds(3),
    });

    private async Task RefusedAsync(MqttWorkerTransport worker)
    {
        await using (worker)
        {
            await Assert.ThrowsAnyAsync<Exception>(async () => await worker.ConnectAsync(new RecordingWorker()));
        }

        // The control: a valid certificate still connects, so the refusal was the certificate's.
        using X509Certificate2 cert = Device("control-1");
        await using MqttWorkerTransport control = Worker("control-1", cert);
        await control.ConnectAsync(new RecordingWorker());
    }

    [Fact]
    public async Task ValidCertificate_JoinsAndSendsUpdate_IdentityFromCertificate()
    {
        using X509Certificate2 cert = Device("cam-1");
        await using MqttWorkerTransport worker = Worker("cam-1", cert);
        await worker.ConnectAsync(new RecordingWorker());
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "cam-1", CertificateDer = cert.RawData })).Accepted);
        await worker.SendUpdateAsync(TestData.Update("cam-1", 1, TestData.RandomSet(4, 7)));
        (ModelUpdate update, InboundContext context) = await _handler.NextAsync<ModelUpdate>();
        Assert.Equal("cam-1", context.AuthenticatedId);
        Assert.Equal("cam-1", update.SenderId);
    }

    [Fact]
    public Task DeviceACertificate_ConnectingAsB_RefusedAsIdentityMismatch() => RefusedAsync(Worker("dev-b", Device("dev-a")));

    [Fact]
    public Task CertificateFromAnotherCa_Refused()
    {
        using X509Certificate2 other = FederationPki.CreateCertificateAuthority("embedded tls tests", Now, TimeSpan.FromDays(10));
        return RefusedAsync(Worker("dev-x", Device("dev-x", other)));
    }

    [Fact]
    public Task RevokedCertificate_Refused() => RefusedAsync(Worker("revoked-1", KeyFiles.MakeUsableForTls(new X509Certificate2(_revoked))));

    [Fact]
    public Task ExpiredCertificate_Refused() => RefusedAsync(Worker("old-1", Device("old-1", issued: Now.AddDays(-20), validity: TimeSpan.FromDays(1))));

    [Fact]
    public Task NoClientCertificate_Refused() => RefusedAsync(Worker("dev-a", null));

    [Fact]
    public Task PlainText_ToTlsListener_Refused() => RefusedAsync(Worker("dev-a", null, new Uri($"mqtt://127.0.0.1:{_host.Broker!.TlsPort}")));

    [Fact]
    public Task PlainTextDeviceWithPassword_OnPlainListener_RefusedUnlessOptedIn() => RefusedAsync(Worker("pw-dev", null, _host.Broker!.Uri, "secret"));

    [Fact]
    public async Task RevokedWhileConnected_CrlReloaded_SessionDroppedAndReconnectRefused_OthersStay()
    {
        using X509Certificate2 cert = Device("turncoat-2");
        using X509Certificate2 controlCert = Device("loyal-2");
        await using MqttWorkerTransport worker = Worker("turncoat-2", cert);
        await using MqttWorkerTransport control = Worker("loyal-2", controlCert);
        var controlInbox = new RecordingWorker();
        await worker.ConnectAsync(new RecordingWorker());
        await control.ConnectAsync(controlInbox);

        // The federation revokes the connected device; the broker drops its session as soon as the CRL is reloaded.
        _validator.ReloadCrl(FederationPki.Revoke(_ca, _crl, cert, Now, TimeSpan.FromDays(1)));
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!_host.Broker!.RefusedCertificates.Any(r => r.Refusal == CertificateRefusal.Revoked && r.Reason.Contains("CN=turncoat-2", StringComparison.Ordinal) && r.Reason.Contains("its connection was closed", StringComparison.Ordinal)))
        {
            await Task.Delay(20, patience.Token);
        }

        // Its client reconnects by itself and is refused in the TLS handshake (Revoked) from then on.
        while (_host.Broker.RefusedCertificates.Count(r => r.Refusal == CertificateRefusal.Revoked && r.Reason.Contains("CN=turncoat-2", StringComparison.Ordinal)) < 2)
        {
            await Task.Delay(20, patience.Token);
        }

        // The other device kept its session.
        await control.SendUpdateAsync(TestData.Update("loyal-2", 1, TestData.RandomSet(4, 5)));
        await _handler.NextAsync<ModelUpdate>(u => u.SenderId == "loyal-2");
        Assert.DoesNotContain(_host.Broker.RefusedCertificates, r => r.Reason.Contains("CN=loyal-2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RevokedWhileConnected_CrlReloaded_NextUpdateRefusedWithReason()
    {
        using X509Certificate2 cert = Device("turncoat-1");
        await using MqttWorkerTransport worker = Worker("turncoat-1", cert);
        await worker.ConnectAsync(new RecordingWorker());
        await worker.SendUpdateAsync(TestData.Update("turncoat-1", 1, TestData.RandomSet(4, 7)));
        (ModelUpdate first, _) = await _handler.NextAsync<ModelUpdate>();
        Assert.Equal(1, first.Round);

        // The federation revokes the connected device and the running broker reloads its CRL: the next message is refused.
        _validator.ReloadCrl(FederationPki.Revoke(_ca, _crl, cert, Now, TimeSpan.FromDays(1)));
        // Refused by the broker (NotAuthorized) if it gets there before the broker drops the session; otherwise never
        // delivered, as the reconnection is refused in the TLS handshake (the publish times out).
        Exception refused = await Assert.ThrowsAnyAsync<Exception>(async () => await worker.SendUpdateAsync(TestData.Update("turncoat-1", 2, TestData.RandomSet(4, 8))));
        Assert.True(refused is TransportException or TimeoutException, refused.ToString());
        Assert.Contains(_host.Broker!.RefusedCertificates, r => r.Refusal == CertificateRefusal.Revoked && r.Reason.Contains("CN=turncoat-1", StringComparison.Ordinal));
        Assert.DoesNotContain(_handler.Updates, u => u.SenderId == "turncoat-1" && u.Round == 2);
    }
}
