using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge's device-side transports (MQTT, gRPC) and the MQTT coordinator client.</summary>
public static class TransportServiceCollectionExtensions
{
    /// <summary>
    /// Registers MQTT transports: <paramref name="coordinator"/> configures an <see cref="ICoordinatorTransport"/>
    /// (<see cref="MqttCoordinatorTransport"/> on an external broker, or on the <see cref="IMqttBrokerHost"/> registered in the container,
    /// e.g. by <c>AddEmbeddedMqttBroker</c> of FedEdge.Transport.Hosting), <paramref name="worker"/> an
    /// <see cref="IWorkerTransport"/> (<see cref="MqttWorkerTransport"/>); pass null for a role the host does not play.
    /// Idempotent (TryAdd); options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddMqttTransport(this IServiceCollection services, Action<MqttCoordinatorOptions>? coordinator = null, Action<MqttWorkerOptions>? worker = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        if (coordinator is not null)
        {
            services.AddOptions<MqttCoordinatorOptions>().Configure(coordinator)
                .Validate<IServiceProvider>((o, sp) => { o.Validate(); o.ValidateBroker(sp.GetService<IMqttBrokerHost>() is not null); return true; }, "MqttCoordinatorOptions are invalid.")
                .ValidateOnStart();
            services.TryAddSingleton<ICoordinatorTransport>(sp => new MqttCoordinatorTransport(
                sp.GetRequiredService<IOptions<MqttCoordinatorOptions>>().Value,
                sp.GetService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<IMqttBrokerHost>()));
        }

        if (worker is not null)
        {
            services.AddOptions<MqttWorkerOptions>().Configure(worker).Validate(Valid, "MqttWorkerOptions are invalid.").ValidateOnStart();
            services.TryAddSingleton<IWorkerTransport>(sp => new MqttWorkerTransport(
                sp.GetRequiredService<IOptions<MqttWorkerOptions>>().Value,
                sp.GetService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>()));
        }

        return new MqttTransportBuilder(services);
    }

    /// <summary>
    /// Registers the gRPC device side: <paramref name="worker"/> configures an <see cref="IWorkerTransport"/>
    /// (<see cref="GrpcWorkerTransport"/>). The coordinator's server is in FedEdge.Transport.Hosting (<c>AddGrpcCoordinatorTransport</c>).
    /// Idempotent (TryAdd); options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddGrpcTransport(this IServiceCollection services, Action<GrpcWorkerOptions> worker)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(worker);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<GrpcWorkerOptions>().Configure(worker).Validate(o => { o.Validate(); return true; }, "GrpcWorkerOptions are invalid.").ValidateOnStart();
        services.TryAddSingleton<IWorkerTransport>(sp => new GrpcWorkerTransport(
            sp.GetRequiredService<IOptions<GrpcWorkerOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetRequiredService<TimeProvider>()));
        return new MqttTransportBuilder(services);
    }

    private static bool Valid(MqttTransportOptionsBase options)
    {
        options.Validate();
        return true;
    }
}

/// <summary>Returned by <see cref="TransportServiceCollectionExtensions.AddMqttTransport"/> and <see cref="TransportServiceCollectionExtensions.AddGrpcTransport"/> for chaining.</summary>
public sealed class MqttTransportBuilder
{
    internal MqttTransportBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }
}
