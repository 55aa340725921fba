using System.Diagnostics.Metrics;
using FedEdge.Devices;
using FedEdge.Hardware;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge.Hardware.</summary>
public static class HardwareServiceCollectionExtensions
{
    /// <summary>
    /// Registers the probe (<see cref="IHardwareProbe"/>), the sampler (<see cref="ITelemetrySampler"/>, also Core's
    /// <see cref="ITelemetrySource"/>) and the thermal governor (<see cref="IThermalGovernor"/>, also Core's
    /// <see cref="ITrainingGovernor"/>). Options are validated when the host starts. Idempotent; services
    /// registered before are kept.
    /// </summary>
    public static FedEdgeHardwareBuilder AddFedEdgeHardware(this IServiceCollection services, Action<HardwareOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<HardwareOptions> options = services.AddOptions<HardwareOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.AddOptions<ThermalGovernorOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HardwareOptions>, HardwareOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ThermalGovernorOptions>, ThermalGovernorOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => FedEdgeHardware.CreateProbe(
            sp.GetRequiredService<IOptions<HardwareOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton(sp => FedEdgeHardware.CreateSampler(
            sp.GetRequiredService<IHardwareProbe>(),
            sp.GetRequiredService<IOptions<HardwareOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<ITelemetrySource>(sp => sp.GetRequiredService<ITelemetrySampler>());
        services.TryAddSingleton(sp => FedEdgeHardware.CreateThermalGovernor(
            sp.GetRequiredService<ITelemetrySource>(),
            sp.GetRequiredService<IOptions<ThermalGovernorOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<ITrainingGovernor>(sp => sp.GetRequiredService<IThermalGovernor>());
        return new FedEdgeHardwareBuilder(services);
    }
}

/// <summary>Configures FedEdge.Hardware after <see cref="HardwareServiceCollectionExtensions.AddFedEdgeHardware"/>.</summary>
public sealed class FedEdgeHardwareBuilder
{
    internal FedEdgeHardwareBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Configures the thermal governor's thresholds.</summary>
    public FedEdgeHardwareBuilder ConfigureThermalGovernor(Action<ThermalGovernorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }
}
