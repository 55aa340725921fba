using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Testing;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Tests;

public sealed class TlsTests
{
    [Fact]
    public async Task Grpc_OverTlsWithPrivateRoot_Works_AndUntrustedRootFails()
    {
        using X509Certificate2Holder pki = new();
        var options = new GrpcCoordinatorOptions { Port = 0, ServerCertificate = pki.Server };
        options.DeviceTokens["t-1"] = "tok";
        var handler = new RecordingCoordinator();
        await using var coordinator = new GrpcCoordinatorTransport(options);
        await coordinator.StartAsync(handler);
        Assert.Equal("https", coordinator.Address!.Scheme);

        await using var worker = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = new UriBuilder(coordinator.Address) { Host = "localhost" }.Uri, DeviceId = "t-1", Token = "tok", TrustedRoot = pki.Ca });
        await worker.ConnectAsync(new RecordingWorker());
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "t-1" })).Accepted);

        using var otherCa = TestCertificates.CreateCa("Other CA");
        await using var stranger = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = new UriBuilder(coordinator.Address) { Host = "localhost" }.Uri, DeviceId = "t-1", Token = "tok", TrustedRoot = otherCa, SendTimeout = TimeSpan.FromMilliseconds(300) });
        await Assert.ThrowsAsync<TransportException>(async () => await stranger.PublishStatusAsync(TestData.Status("t-1", DeviceIntent.Training)));
    }

    [Fact]
    public async Task Mosquitto_TlsListenerWithClientCertificates_AuthenticatesDevicesByCertificate()
    {
        using X509Certificate2Holder pki = new();
        string dir = Directory.CreateTempSubdirectory("fededge-pki-").FullName;
        try
        {
            TestCertificates.WriteCertificatePem(pki.Ca, Path.Combine(dir, "ca.pem"));
            TestCertificates.WriteCertificatePem(pki.Server, Path.Combine(dir, "server.pem"));
            TestCertificates.WriteKeyPem(pki.Server, Path.Combine(dir, "server.key"));
            var config = new MosquittoConfig { Acl = MqttTopicScheme.MosquittoAcl("tls", "coordinator"), Tls = (Path.Combine(dir, "ca.pem"), Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.key")) };
            config.Users["coordinator"] = "coord-secret";
            await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(config);
            if (broker is null)
            {
                return;
            }

            var handler = new RecordingCoordinator();
            await using var coordinator = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = "tls", BrokerUri = broker.Uri, Username = "coordinator", Password = "coord-secret" });
            await coordinator.StartAsync(handler);

            using var deviceCert = TestCertificates.CreateSigned(pki.Ca, "cam-9", server: false);
            await using var worker = new MqttWorkerTransport(new MqttWorkerOptions
            {
                Federation = "tls",
                DeviceId = "cam-9",
                BrokerUri = broker.TlsUri,
                Tls = new MqttTlsSettings { ClientCertificate = deviceCert, TrustedRoot = pki.Ca },
            });
            await worker.ConnectAsync(new RecordingWorker());
            Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "cam-9" })).Accepted);
            await worker.SendUpdateAsync(TestData.Update("cam-9", 1, TestData.RandomSet(4, 100)));
            var (_, context) = await handler.NextAsync<ModelUpdate>();
            Assert.Equal("cam-9", context.AuthenticatedId);

            // Without a client certificate the TLS listener refuses the device.
            await using var anonymous = new MqttWorkerTransport(new MqttWorkerOptions { Federation = "tls", DeviceId = "cam-9", BrokerUri = broker.TlsUri, Tls = new MqttTlsSettings { TrustedRoot = pki.Ca } });
            await Assert.ThrowsAnyAsync<Exception>(async () => await anonymous.ConnectAsync(new RecordingWorker()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class X509Certificate2Holder : IDisposable
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Ca { get; } = TestCertificates.CreateCa();

        public System.Security.Cryptography.X509Certificates.X509Certificate2 Server { get; }

        public X509Certificate2Holder()
        {
            Server = TestCertificates.CreateSigned(Ca, "localhost", server: true);
        }

        public void Dispose()
        {
            Ca.Dispose();
            Server.Dispose();
        }
    }
}
