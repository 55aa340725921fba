using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge's MQTT transports.</summary>
public static class TransportServiceCollectionExtensions
{
    /// <summary>
    /// Registers MQTT transports: <paramref name="coordinator"/> configures an <see cref="ICoordinatorTransport"/>
    /// (<see cref="MqttCoordinatorTransport"/>, embedded broker or external), <paramref name="worker"/> an
    /// <see cref="IWorkerTransport"/> (<see cref="MqttWorkerTransport"/>); pass null for a role the host does not play.
    /// Idempotent (TryAdd); options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddMqttTransport(this IServiceCollection services, Action<MqttCoordinatorOptions>? coordinator = null, Action<MqttWorkerOptions>? worker = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        if (coordinator is not null)
        {
            services.AddOptions<MqttCoordinatorOptions>().Configure(coordinator).Validate(Valid, "MqttCoordinatorOptions are invalid.").ValidateOnStart();
            services.TryAddSingleton<ICoordinatorTransport>(sp => new MqttCoordinatorTransport(
                sp.GetRequiredService<IOptions<MqttCoordinatorOptions>>().Value,
                sp.GetService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>()));
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
    /// Registers gRPC transports: <paramref name="coordinator"/> configures an <see cref="ICoordinatorTransport"/>
    /// (<see cref="GrpcCoordinatorTransport"/>, hosting Kestrel), <paramref name="worker"/> an <see cref="IWorkerTransport"/>
    /// (<see cref="GrpcWorkerTransport"/>). Idempotent (TryAdd); options validate when the host starts.
    /// </summary>
    public static MqttTransportBuilder AddGrpcTransport(this IServiceCollection services, Action<GrpcCoordinatorOptions>? coordinator = null, Action<GrpcWorkerOptions>? worker = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        if (coordinator is not null)
        {
            services.AddOptions<GrpcCoordinatorOptions>().Configure(coordinator).Validate(o => { o.Validate(); return true; }, "GrpcCoordinatorOptions are invalid.").ValidateOnStart();
            services.TryAddSingleton<ICoordinatorTransport>(sp => new GrpcCoordinatorTransport(
                sp.GetRequiredService<IOptions<GrpcCoordinatorOptions>>().Value,
                sp.GetService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>()));
        }

        if (worker is not null)
        {
            services.AddOptions<GrpcWorkerOptions>().Configure(worker).Validate(o => { o.Validate(); return true; }, "GrpcWorkerOptions are invalid.").ValidateOnStart();
            services.TryAddSingleton<IWorkerTransport>(sp => new GrpcWorkerTransport(
                sp.GetRequiredService<IOptions<GrpcWorkerOptions>>().Value,
                sp.GetService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>()));
        }

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
