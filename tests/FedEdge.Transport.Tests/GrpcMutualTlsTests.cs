using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Grpc;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The gRPC coordinator with mutual TLS: the device id comes from the verified client certificate, and each refusal
/// (another device's certificate, expired, revoked, another CA, no certificate, plain text) is typed and recorded.
/// </summary>
public sealed class GrpcMutualTlsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("grpc mtls tests", Now.AddDays(-30), TimeSpan.FromDays(60));
    private readonly RecordingCoordinator _handler = new();
    private X509Certificate2 _revoked = null!;
    private GrpcCoordinatorTransport _coordinator = null!;
    private CertificateValidator _validator = null!;

    public async Task InitializeAsync()
    {
        _revoked = Device("revoked-1");
        var options = new GrpcCoordinatorOptions
        {
            Port = 0,
            ServerCertificate = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(_ca, "127.0.0.1", Now, TimeSpan.FromDays(10))),
            ClientCertificateValidator = _validator = new CertificateValidator(_ca, FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1))),
        };
        _coordinator = new GrpcCoordinatorTransport(options);
        await _coordinator.StartAsync(_handler);
    }

    public async Task DisposeAsync()
    {
        await _coordinator.DisposeAsync();
        _revoked.Dispose();
        _ca.Dispose();
    }

    private CertificateValidator ValidatorOf() => _validator;

    private X509Certificate2 Device(string id, X509Certificate2? ca = null, DateTimeOffset? issued = null, TimeSpan? validity = null)
        => KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id, Validity = validity ?? TimeSpan.FromDays(10) }, issued ?? Now));

    private GrpcWorkerTransport Worker(string id, X509Certificate2? cert, Uri? address = null) => new(new GrpcWorkerOptions
    {
        Address = address ?? _coordinator.Address,
        DeviceId = id,
        Token = cert is null ? "no-certificate" : string.Empty,
        ClientCertificate = cert,
        TrustedRoot = _ca,
        SendTimeout = TimeSpan.FromSeconds(2),
        CallDeadline = TimeSpan.FromSeconds(10),
    });

    /// <summary>The worker's join is refused; the coordinator recorded <paramref name="expected"/> (when given); a valid device still joins.</summary>
    private async Task RefusedAsync(string id, X509Certificate2? cert, CertificateRefusal? expected, Uri? address = null)
    {
        await using (GrpcWorkerTransport worker = Worker(id, cert, address))
        {
            await Assert.ThrowsAsync<TransportException>(async () => await worker.JoinAsync(new JoinRequest { DeviceId = id }));
        }

        Assert.Empty(_handler.Updates);
        if (expected is { } refusal)
        {
            // The worker retries within its send timeout: every attempt is refused for the same reason.
            Assert.NotEmpty(_coordinator.RefusedCertificates);
            Assert.All(_coordinator.RefusedCertificates, r => Assert.Equal(refusal, r.Refusal));
            Assert.All(_coordinator.RefusedCertificates, r => Assert.False(string.IsNullOrWhiteSpace(r.Reason)));
        }

        // The control: a valid certificate joins on the same listener, so the refusal was the certificate's.
        using X509Certificate2 valid = Device("control-1");
        await using GrpcWorkerTransport control = Worker("control-1", valid);
        Assert.True((await control.JoinAsync(new JoinRequest { DeviceId = "control-1" })).Accepted);
    }

    [Fact]
    public async Task ValidCertificate_JoinsAndSendsUpdate_IdentityFromCertificate()
    {
        using X509Certificate2 cert = Device("cam-1");
        await using GrpcWorkerTransport worker = Worker("cam-1", cert);
        Assert.Equal("https", _coordinator.Address!.Scheme);
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "cam-1", CertificateDer = cert.RawData })).Accepted);
        await worker.SendUpdateAsync(TestData.Update("cam-1", 1, TestData.RandomSet(4, 7)));
        (ModelUpdate update, InboundContext context) = await _handler.NextAsync<ModelUpdate>();
        Assert.Equal("cam-1", context.AuthenticatedId);
        Assert.Equal("cam-1", update.SenderId);
        Assert.Empty(_coordinator.RefusedCertificates);
    }

    [Fact]
    public Task DeviceACertificate_UsedAsDeviceB_RefusedAsIdentityMismatch() => RefusedAsync("dev-b", Device("dev-a"), CertificateRefusal.IdentityMismatch);

    [Fact]
    public Task ExpiredCertificate_Refused() => RefusedAsync("old-1", Device("old-1", issued: Now.AddDays(-20), validity: TimeSpan.FromDays(1)), CertificateRefusal.Expired);

    [Fact]
    public Task RevokedCertificate_Refused() => RefusedAsync("revoked-1", _revoked, CertificateRefusal.Revoked);

    [Fact]
    public Task CertificateFromAnotherCa_Refused()
    {
        using X509Certificate2 other = FederationPki.CreateCertificateAuthority("grpc mtls tests", Now, TimeSpan.FromDays(10));
        return RefusedAsync("dev-x", Device("dev-x", other), CertificateRefusal.UntrustedIssuer);
    }

    [Fact]
    public Task NoClientCertificate_Refused() => RefusedAsync("dev-a", null, expected: null);

    [Fact]
    public Task PlainText_ToTlsOnlyListener_Refused()
        => RefusedAsync("dev-a", null, expected: null, new UriBuilder(_coordinator.Address!) { Scheme = "http" }.Uri);

    [Fact]
    public async Task CrlReloadedWithoutRestart_RefusesTheNextCallOfAnOpenConnection()
    {
        using X509Certificate2 cert = Device("late-1");
        await using GrpcWorkerTransport worker = Worker("late-1", cert);
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "late-1" })).Accepted);

        // The administrator revokes the device; the coordinator reloads its CRL (no restart, same connection).
        byte[] crl = FederationPki.Revoke(_ca, FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1)), cert, Now, TimeSpan.FromDays(1));
        ValidatorOf().ReloadCrl(crl);

        await Assert.ThrowsAsync<TransportException>(async () => await worker.SendUpdateAsync(TestData.Update("late-1", 1, TestData.RandomSet(4, 3))));
        Assert.Contains(_coordinator.RefusedCertificates, r => r.Refusal == CertificateRefusal.Revoked && r.DeviceId == "late-1");
        Assert.Empty(_handler.Updates);
    }

    [Fact]
    public async Task RevokedWhileConnected_CrlReloaded_StreamsEndedOthersKeepTheirs()
    {
        using X509Certificate2 cert = Device("turncoat-1");
        using X509Certificate2 controlCert = Device("loyal-1");
        await using GrpcWorkerTransport worker = Worker("turncoat-1", cert);
        await using GrpcWorkerTransport control = Worker("loyal-1", controlCert);
        var inbox = new RecordingWorker();
        var controlInbox = new RecordingWorker();
        await worker.ConnectAsync(inbox);
        await control.ConnectAsync(controlInbox);
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "turncoat-1" })).Accepted);
        Assert.True((await control.JoinAsync(new JoinRequest { DeviceId = "loyal-1" })).Accepted);

        // Both inbox streams are live: each device gets a receipt.
        await _coordinator.SendReceiptAsync("turncoat-1", new UpdateReceipt { Round = 1, Accepted = true });
        await _coordinator.SendReceiptAsync("loyal-1", new UpdateReceipt { Round = 1, Accepted = true });
        await inbox.NextAsync<UpdateReceipt>(r => r.Round == 1);
        await controlInbox.NextAsync<UpdateReceipt>(r => r.Round == 1);

        // Revoked while connected: the coordinator reloads its CRL and ends that device's streams at once.
        ValidatorOf().ReloadCrl(FederationPki.Revoke(_ca, FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1)), cert, Now, TimeSpan.FromDays(1)));
        CertificateValidation ended = Assert.Single(_coordinator.RefusedCertificates, r => r.Reason.Contains("streams were ended", StringComparison.Ordinal));
        Assert.Equal(CertificateRefusal.Revoked, ended.Refusal);
        Assert.Equal("turncoat-1", ended.DeviceId);

        // The other device's stream is untouched; the revoked one's next call is refused.
        await _coordinator.SendReceiptAsync("loyal-1", new UpdateReceipt { Round = 2, Accepted = true });
        await controlInbox.NextAsync<UpdateReceipt>(r => r.Round == 2);
        await Assert.ThrowsAsync<TransportException>(async () => await worker.SendUpdateAsync(TestData.Update("turncoat-1", 2, TestData.RandomSet(4, 3))));
        Assert.DoesNotContain(_handler.Updates, u => u.SenderId == "turncoat-1");
        Assert.DoesNotContain(_coordinator.RefusedCertificates, r => r.DeviceId == "loyal-1");
    }

    [Fact]
    public async Task CrlReloaded_WhileTheStatusStreamIsOpen_TheNextStatusIsRefused()
    {
        using X509Certificate2 cert = Device("stream-1");
        await using GrpcWorkerTransport worker = Worker("stream-1", cert);
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "stream-1" })).Accepted);
        await worker.PublishStatusAsync(TestData.Status("stream-1", Devices.DeviceIntent.Training));
        Assert.Equal("stream-1", (await _handler.NextAsync<Devices.DeviceStatus>()).Context.AuthenticatedId);

        byte[] crl = FederationPki.Revoke(_ca, FederationPki.Revoke(_ca, [], _revoked, Now, TimeSpan.FromDays(1)), cert, Now, TimeSpan.FromDays(1));
        ValidatorOf().ReloadCrl(crl);

        // The stream opened before the reload: the status written into it is refused by the per-message check, which ends
        // the stream; the next status opens a new stream, and that is refused too.
        await Assert.ThrowsAsync<TransportException>(async () =>
        {
            for (int i = 0; i < 100; i++)
            {
                await worker.PublishStatusAsync(TestData.Status("stream-1", Devices.DeviceIntent.Training));
                await Task.Delay(100);
            }
        });
        Assert.Contains(_coordinator.RefusedCertificates, r => r.Refusal == CertificateRefusal.Revoked && r.DeviceId == "stream-1");
    }

    [Fact]
    public void CrlReload_NotSignedByTheCa_KeepsTheOldList()
    {
        using X509Certificate2 other = FederationPki.CreateCertificateAuthority("grpc mtls tests", Now, TimeSpan.FromDays(10));
        using X509Certificate2 cert = Device("x-1");
        Assert.Throws<CredentialException>(() => ValidatorOf().ReloadCrl(FederationPki.Revoke(other, [], cert, Now, TimeSpan.FromDays(1))));
        Assert.True(ValidatorOf().IsRevoked(_revoked));
        Assert.False(ValidatorOf().IsRevoked(cert));
    }

    [Fact]
    public void PlainTextListener_IsOptIn()
    {
        var error = Assert.Throws<ArgumentException>(() => new GrpcCoordinatorOptions { Port = 0 }.Validate());
        Assert.Contains("TLS-only", error.Message, StringComparison.Ordinal);
        new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true }.Validate();
    }

    [Fact]
    public void MutualTls_WithTokens_IsRejected()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, ServerCertificate = _ca, ClientCertificateValidator = new CertificateValidator(_ca) };
        options.DeviceTokens["d"] = "t";
        Assert.Throws<ArgumentException>(options.Validate);
    }
}
