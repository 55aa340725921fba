using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Coordination;
using FedEdge.Security;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Transport;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Faults;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// Creates the coordinator's and the workers' transports for one simulation. gRPC and MQTT (the embedded broker) run
/// over mutual TLS with a federation PKI generated into the output folder (<see cref="SimulationPki"/>): device identity
/// from certificates, signed updates and signed global models. <c>--insecure-plaintext</c> opts out (passwords and
/// bearer tokens on plain-text listeners), and so does an external <c>--broker</c>, which holds its own credentials.
/// </summary>
internal sealed class SimulationTransports : IDisposable
{
    private const string Federation = "nbaiot-simulation";
    private readonly string _kind;
    private readonly Uri? _broker;
    private readonly Dictionary<string, string> _secrets = new(StringComparer.Ordinal);
    private readonly InProcessNetwork _network = new();
    private ICoordinatorTransport? _coordinator;

    private readonly FaultOptions? _faults;

    /// <summary>How models and updates are encoded on mqtt and grpc (<c>--compress</c>: sparse float16); inproc does not encode.</summary>
    public FedEdge.Transport.Codecs.ParameterCodecKind Codec { get; init; } = FedEdge.Transport.Codecs.ParameterCodecKind.Float32;

    public SimulationTransports(string kind, Uri? broker, IEnumerable<string> deviceIds, FaultOptions? faults = null, string? outDirectory = null, bool plainText = false)
    {
        _kind = kind;
        _faults = faults;
        _broker = broker;
        foreach (string id in deviceIds)
        {
            // Every device gets its own broker / gRPC credential; admission (the MUD profile) is a separate, later check.
            _secrets[id] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        }

        if (!plainText && outDirectory is not null && (kind == "grpc" || (kind == "mqtt" && broker is null)))
        {
            Pki = new SimulationPki(outDirectory, _secrets.Keys);
        }
    }

    /// <summary>The federation PKI when the transport runs over mutual TLS, else null.</summary>
    public SimulationPki? Pki { get; }

    /// <summary>The coordinator's credentials (signed models, verified updates), or null without a PKI.</summary>
    public FederationCredentials? CoordinatorCredentials => Pki?.Coordinator();

    /// <summary>A device's credentials (certificate at join, signed updates), or null without a PKI.</summary>
    public FederationCredentials? WorkerCredentials(string deviceId) => Pki?.Device(deviceId);

    /// <summary>
    /// The demo's two refusals over mutual TLS: a device whose certificate another CA issued and one whose certificate
    /// was revoked try to join; each is refused in the TLS handshake, with the coordinator's typed reason.
    /// </summary>
    public async Task<IReadOnlyList<RefusedDevice>> DemonstrateRefusalsAsync(CancellationToken cancellationToken)
    {
        if (Pki is null || _coordinator is null)
        {
            return [];
        }

        var refused = new List<RefusedDevice>();
        foreach ((string id, X509Certificate2 certificate, string what) in new[] { (SimulationPki.ForeignDevice, Pki.Foreign, "certificate issued by another CA"), (SimulationPki.RevokedDevice, Pki.Revoked, "revoked certificate") })
        {
            string? failure = _coordinator switch
            {
                GrpcCoordinatorTransport grpc => await TryGrpcJoinAsync(grpc, id, certificate, cancellationToken).ConfigureAwait(false),
                MqttCoordinatorTransport { BrokerHost: EmbeddedMqttBrokerHost { Broker: { } broker } } => await TryMqttConnectAsync(broker, id, certificate, cancellationToken).ConfigureAwait(false),
                _ => null,
            };
            IReadOnlyList<CertificateValidation> refusals = _coordinator switch
            {
                GrpcCoordinatorTransport grpc => grpc.RefusedCertificates,
                MqttCoordinatorTransport { BrokerHost: EmbeddedMqttBrokerHost { Broker: { } broker } } => broker.RefusedCertificates,
                _ => [],
            };
            CertificateValidation? reason = refusals.LastOrDefault(r => r.Reason.Contains("CN=" + id, StringComparison.Ordinal));
            refused.Add(new RefusedDevice(id, [failure is null
                ? $"{what}: NOT refused (a fault in the transport)"
                : reason is null ? $"{what}: refused in the TLS handshake ({failure})" : $"{what}: refused in the TLS handshake ({reason.Refusal}: {reason.Reason})"]));
        }

        return refused;
    }

    /// <summary>Tries to join over gRPC with <paramref name="certificate"/>; returns why it failed, or null when it got through.</summary>
    private async Task<string?> TryGrpcJoinAsync(GrpcCoordinatorTransport grpc, string id, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        await using var probe = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = grpc.Address, DeviceId = id, ClientCertificate = certificate, TrustedRoot = Pki!.Authority, SendTimeout = TimeSpan.FromMilliseconds(500) });
        try
        {
            await probe.JoinAsync(new JoinRequest { DeviceId = id, CertificateDer = certificate.RawData }, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (TransportException ex)
        {
            return ex.Message;
        }
    }

    /// <summary>Tries to connect to the embedded broker's TLS listener with <paramref name="certificate"/>; returns why it failed, or null when it got through.</summary>
    private async Task<string?> TryMqttConnectAsync(EmbeddedMqttBroker broker, string id, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        await using var probe = new MqttWorkerTransport(new MqttWorkerOptions
        {
            Federation = Federation,
            DeviceId = id,
            BrokerUri = broker.TlsUri(SimulationPki.Host),
            Tls = new MqttTlsSettings { ClientCertificate = certificate, TrustedRoot = Pki!.Authority },
            PublishTimeout = TimeSpan.FromSeconds(2),
            JoinTimeout = TimeSpan.FromSeconds(2),
        });
        try
        {
            await probe.ConnectAsync(new IgnoringHandler(), cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is TransportException or BrokerUnreachableException)
        {
            return ex.Message;
        }
    }

    public void Dispose() => Pki?.Dispose();

    public ICoordinatorTransport CreateCoordinator()
    {
        // Faults sit at the device end of each link (both directions, joins included), so drop=P loses a share
        // P of the messages; wrapping the coordinator too would make every message cross two decorators.
        return CreateInnerCoordinator();
    }

    /// <summary>Creates a device's transport, with faults on its link (both directions, its own seed) when <c>--faults</c> is given; call after the coordinator has started.</summary>
    public IWorkerTransport CreateWorker(string deviceId)
    {
        IWorkerTransport inner = CreateInnerWorker(deviceId);
        return _faults is null ? inner : inner.WithFaults(_faults, link: deviceId);
    }

    private ICoordinatorTransport CreateInnerCoordinator()
    {
        _coordinator = _kind switch
        {
            "inproc" => _network.CreateCoordinatorTransport(),
            "mqtt" when _broker is not null => new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, BrokerUri = _broker, ModelCodec = Codec }),
            "mqtt" => new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, ModelCodec = Codec }, brokerHost: new EmbeddedMqttBrokerHost(EmbeddedOptions())),
            "grpc" => new GrpcCoordinatorTransport(GrpcOptions()),
            _ => throw new ArgumentException($"Unknown transport '{_kind}'; use inproc, mqtt or grpc."),
        };
        return _coordinator;
    }

    private IWorkerTransport CreateInnerWorker(string deviceId) => _kind switch
    {
        "inproc" => _network.CreateWorkerTransport(deviceId),
        "mqtt" => new MqttWorkerTransport(new MqttWorkerOptions
        {
            Federation = Federation,
            DeviceId = deviceId,
            BrokerUri = Pki is null ? ((MqttCoordinatorTransport)_coordinator!).BrokerUri : ((EmbeddedMqttBrokerHost)((MqttCoordinatorTransport)_coordinator!).BrokerHost!).Broker!.TlsUri(SimulationPki.Host),
            Password = _broker is null && Pki is null ? _secrets[deviceId] : null,
            Tls = Pki is null ? null : new MqttTlsSettings { ClientCertificate = Pki.CertificateOf(deviceId), TrustedRoot = Pki.Authority },
            UpdateCodec = Codec,
        }),
        "grpc" => new GrpcWorkerTransport(new GrpcWorkerOptions
        {
            Address = ((GrpcCoordinatorTransport)_coordinator!).Address,
            DeviceId = deviceId,
            Token = Pki is null ? _secrets[deviceId] : string.Empty,
            ClientCertificate = Pki?.CertificateOf(deviceId),
            TrustedRoot = Pki?.Authority,
            UpdateCodec = Codec,
        }),
        _ => throw new ArgumentException($"Unknown transport '{_kind}'."),
    };

    private EmbeddedMqttBrokerOptions EmbeddedOptions()
    {
        var options = new EmbeddedMqttBrokerOptions { Port = 0 };
        if (Pki is not null)
        {
            // Devices connect only to the mutual-TLS listener; the plain one serves the coordinator's own loopback connection.
            options.Tls = new EmbeddedBrokerTlsOptions { ServerCertificate = Pki.Server, Validator = Pki.Validator, Port = 0 };
            return options;
        }

        foreach (KeyValuePair<string, string> pair in _secrets)
        {
            options.DevicePasswords[pair.Key] = pair.Value;
        }

        return options;
    }

    private GrpcCoordinatorOptions GrpcOptions()
    {
        if (Pki is not null)
        {
            return new GrpcCoordinatorOptions { BindAddress = System.Net.IPAddress.Loopback, Port = 0, ModelCodec = Codec, ServerCertificate = Pki.Server, ClientCertificateValidator = Pki.Validator };
        }

        var options = new GrpcCoordinatorOptions { Port = 0, ModelCodec = Codec, AllowPlainText = true };
        foreach (KeyValuePair<string, string> pair in _secrets)
        {
            options.DeviceTokens[pair.Key] = pair.Value;
        }

        return options;
    }

    /// <summary>The refusal probes' handler: they never get far enough to receive anything.</summary>
    private sealed class IgnoringHandler : IWorkerHandler
    {
        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
