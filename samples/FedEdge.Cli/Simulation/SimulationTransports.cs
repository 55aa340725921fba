using System.Security.Cryptography;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Faults;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Cli.Simulation;

/// <summary>Creates the coordinator's and the workers' transports for one simulation.</summary>
internal sealed class SimulationTransports
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

    public SimulationTransports(string kind, Uri? broker, IEnumerable<string> deviceIds, FaultOptions? faults = null)
    {
        _kind = kind;
        _faults = faults;
        _broker = broker;
        foreach (string id in deviceIds)
        {
            // Every device gets its own broker / gRPC credential; admission (the MUD profile) is a separate, later check.
            _secrets[id] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        }
    }

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
            "mqtt" => new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, EmbeddedBroker = EmbeddedOptions(), ModelCodec = Codec }),
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
            BrokerUri = ((MqttCoordinatorTransport)_coordinator!).BrokerUri,
            Password = _broker is null ? _secrets[deviceId] : null,
            UpdateCodec = Codec,
        }),
        "grpc" => new GrpcWorkerTransport(new GrpcWorkerOptions
        {
            Address = ((GrpcCoordinatorTransport)_coordinator!).Address,
            DeviceId = deviceId,
            Token = _secrets[deviceId],
            UpdateCodec = Codec,
        }),
        _ => throw new ArgumentException($"Unknown transport '{_kind}'."),
    };

    private EmbeddedMqttBrokerOptions EmbeddedOptions()
    {
        var options = new EmbeddedMqttBrokerOptions { Port = 0 };
        foreach (KeyValuePair<string, string> pair in _secrets)
        {
            options.DevicePasswords[pair.Key] = pair.Value;
        }

        return options;
    }

    private GrpcCoordinatorOptions GrpcOptions()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, ModelCodec = Codec };
        foreach (KeyValuePair<string, string> pair in _secrets)
        {
            options.DeviceTokens[pair.Key] = pair.Value;
        }

        return options;
    }
}
