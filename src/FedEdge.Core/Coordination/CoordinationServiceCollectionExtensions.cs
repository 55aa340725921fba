using FedEdge.Coordination;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge's coordinator and worker engines.</summary>
public static class CoordinationServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <see cref="Coordinator"/> (a singleton) and its options. The host also registers
    /// the ports it composes: an <c>ICoordinatorTransport</c>, an <c>IAggregationStrategy</c>, an
    /// <c>IAdmissionPolicy</c> and optionally an <c>ICheckpointStore</c>, <c>IGlobalModelEvaluator</c>
    /// and <c>IRoundAuditLog</c>. Calling it twice registers once; options validate when the host starts.
    /// </summary>
    public static FedEdgeCoordinationBuilder AddFedEdgeCoordinator(this IServiceCollection services, Action<CoordinatorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<CoordinatorOptions> options = services.AddOptions<CoordinatorOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(Valid, "CoordinatorOptions are invalid.").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Coordinator>();
        return new FedEdgeCoordinationBuilder(services);
    }

    /// <summary>
    /// Registers the <see cref="Worker"/> (a singleton) and its options. The host also registers an
    /// <c>IWorkerTransport</c>, an <c>ITrainer</c>, an <see cref="ILocalDataSource"/> and optionally an
    /// <c>ITrainingGovernor</c>. Calling it twice registers once.
    /// </summary>
    public static FedEdgeCoordinationBuilder AddFedEdgeWorker(this IServiceCollection services, Action<WorkerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<WorkerOptions> options = services.AddOptions<WorkerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(Valid, "WorkerOptions are invalid.").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Worker>();
        return new FedEdgeCoordinationBuilder(services);
    }

    private static bool Valid(CoordinatorOptions options)
    {
        options.Validate();
        return true;
    }

    private static bool Valid(WorkerOptions options)
    {
        options.Validate();
        return true;
    }
}

/// <summary>Returned by the coordination registrations so further FedEdge registrations can chain.</summary>
public sealed class FedEdgeCoordinationBuilder
{
    internal FedEdgeCoordinationBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }
}
