using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Benchmarks;

/// <summary>
/// A federation PKI for <c>bench round --tls</c>: a CA, the coordinator's certificate and one certificate per worker;
/// gRPC transports over mutual TLS and the engines' credentials (signed updates, signed global models).
/// </summary>
internal sealed class BenchPki : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _server;
    private readonly Dictionary<string, X509Certificate2> _devices = new(StringComparer.Ordinal);
    private readonly CertificateValidator _validator;

    public BenchPki(IEnumerable<string> devices)
    {
        DateTimeOffset now = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        _ca = FederationPki.CreateCertificateAuthority("bench CA", now, TimeSpan.FromDays(1));
        _server = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(_ca, "127.0.0.1", now, TimeSpan.FromDays(1)));
        foreach (string device in devices)
        {
            _devices[device] = KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = device, Validity = TimeSpan.FromDays(1) }, now));
        }

        _validator = new CertificateValidator(_ca, FederationPki.CreateEmptyCrl(_ca, now, TimeSpan.FromDays(1)));
        Coordinator = new FederationCredentials(_validator, _server);
    }

    public FederationCredentials Coordinator { get; }

    public FederationCredentials Device(string id) => new(_validator, _devices[id], _server);

    public (ICoordinatorTransport Coordinator, Func<string, IWorkerTransport> Worker) CreateGrpcTransports()
    {
        var grpc = new GrpcCoordinatorTransport(new GrpcCoordinatorOptions { Port = 0, ServerCertificate = _server, ClientCertificateValidator = _validator });
        return (grpc, device => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = grpc.Address, DeviceId = device, ClientCertificate = _devices[device], TrustedRoot = _ca, CallDeadline = TimeSpan.FromSeconds(120) }));
    }

    /// <summary>
    /// The embedded broker with its mutual-TLS listener (the shared validator checks each device certificate in the
    /// handshake); workers connect over TLS with their certificates, the coordinator in process as in a deployment.
    /// </summary>
    public (ICoordinatorTransport Coordinator, Func<string, IWorkerTransport> Worker) CreateMqttTransports(string federation)
    {
        var broker = new EmbeddedMqttBrokerOptions
        {
            Port = 0,
            Tls = new EmbeddedBrokerTlsOptions { ServerCertificate = _server, Validator = _validator, Port = 0 },
        };
        var host = new EmbeddedMqttBrokerHost(broker);
        var mqtt = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = federation }, brokerHost: host);
        return (mqtt, device => new MqttWorkerTransport(new MqttWorkerOptions
        {
            Federation = federation,
            DeviceId = device,
            BrokerUri = host.Broker!.TlsUri("127.0.0.1"),
            Tls = new MqttTlsSettings { ClientCertificate = _devices[device], TrustedRoot = _ca },
        }));
    }

    /// <summary>Milliseconds to sign and to verify one update of <paramref name="count"/> float32 values (median of <paramref name="iterations"/>).</summary>
    public static (double SignMs, double VerifyMs, double DigestMs) MeasureSigning(int count, int iterations)
    {
        DateTimeOffset now = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        using X509Certificate2 ca = FederationPki.CreateCertificateAuthority("bench CA", now, TimeSpan.FromDays(1));
        using X509Certificate2 device = FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = "w0" }, now);
        using ECDsa key = device.GetECDsaPrivateKey()!;
        var values = new ParameterSet(new ParameterLayout(new TensorSpec("w", count)));
        var random = new Random(1);
        for (int i = 0; i < count; i++)
        {
            values.Values[i] = (float)random.NextDouble();
        }

        var update = new ModelUpdate { SenderId = "w0", Round = 1, Nonce = "n", SampleCount = 10, Kind = UpdateKind.Parameters, Values = values };
        var sign = new List<double>();
        var verify = new List<double>();
        var digest = new List<double>();
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _ = UpdateSigning.Digest(update);
            long t1 = Stopwatch.GetTimestamp();
            ModelUpdate signed = UpdateSigning.Sign(update, key);
            long t2 = Stopwatch.GetTimestamp();
            if (UpdateSigning.Verify(signed, device) != SignatureCheck.Valid)
            {
                throw new InvalidOperationException("A signature made by the bench did not verify.");
            }

            long t3 = Stopwatch.GetTimestamp();
            digest.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            sign.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            verify.Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
        }

        return (Median(sign), Median(verify), Median(digest));
    }

    /// <summary>
    /// Milliseconds for one device-certificate check (median of <paramref name="iterations"/>): with a chain built each
    /// time (a fresh validator, as before chains were reused) and with the chain reused (validity and CRL still checked).
    /// </summary>
    public static (double ChainBuildMs, double ReusedMs) MeasureValidation(int iterations)
    {
        DateTimeOffset now = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        using X509Certificate2 ca = FederationPki.CreateCertificateAuthority("bench CA", now, TimeSpan.FromDays(1));
        using X509Certificate2 device = FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = "w0" }, now);
        byte[] crl = FederationPki.CreateEmptyCrl(ca, now, TimeSpan.FromDays(1));
        var shared = new CertificateValidator(ca, crl);
        var built = new List<double>();
        var reused = new List<double>();
        for (int i = 0; i < iterations; i++)
        {
            var fresh = new CertificateValidator(ca);
            long t0 = Stopwatch.GetTimestamp();
            bool first = fresh.Validate(device).IsValid;
            long t1 = Stopwatch.GetTimestamp();
            bool again = shared.Validate(device).IsValid;
            long t2 = Stopwatch.GetTimestamp();
            if (!first || !again)
            {
                throw new InvalidOperationException("A certificate issued by the bench was refused.");
            }

            built.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            reused.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
        }

        return (Median(built), Median(reused));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return Math.Round(values[values.Count / 2], 4);
    }

    public void Dispose()
    {
        foreach (X509Certificate2 certificate in _devices.Values)
        {
            certificate.Dispose();
        }

        _server.Dispose();
        _ca.Dispose();
    }
}
