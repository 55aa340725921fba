using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge's server-side transports: the embedded MQTT broker and the gRPC coordinator on Kestrel.</summary>
public static class HostingServiceCollectionExtensions
{
    /// <summary>
    /// Makes the MQTT coordinator registered by <see cref="TransportServiceCollectionExtensions.AddMqttTransport"/> host an
    /// <see cref="EmbeddedMqttBroker"/> (leave <see cref="MqttTransportOptionsBase.BrokerUri"/> unset). Idempotent (TryAdd);
    /// options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddEmbeddedMqttBroker(this MqttTransportBuilder builder, Action<EmbeddedMqttBrokerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<EmbeddedMqttBrokerOptions>().Configure(configure).Validate(o => { o.Validate(); return true; }, "EmbeddedMqttBrokerOptions are invalid.").ValidateOnStart();
        builder.Services.TryAddSingleton<IMqttBrokerHost>(sp => new EmbeddedMqttBrokerHost(
            sp.GetRequiredService<IOptions<EmbeddedMqttBrokerOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        return builder;
    }

    /// <summary>
    /// Registers the gRPC coordinator (<see cref="GrpcCoordinatorTransport"/>, hosting Kestrel) as the <see cref="ICoordinatorTransport"/>.
    /// Devices register their side with <see cref="TransportServiceCollectionExtensions.AddGrpcTransport"/>. Idempotent (TryAdd);
    /// options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddGrpcCoordinatorTransport(this IServiceCollection services, Action<GrpcCoordinatorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<GrpcCoordinatorOptions>().Configure(configure).Validate(o => { o.Validate(); return true; }, "GrpcCoordinatorOptions are invalid.").ValidateOnStart();
        services.TryAddSingleton<ICoordinatorTransport>(sp => new GrpcCoordinatorTransport(
            sp.GetRequiredService<IOptions<GrpcCoordinatorOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetRequiredService<TimeProvider>()));
        return new MqttTransportBuilder(services);
    }
}
