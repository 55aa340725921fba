using FedEdge.Coordination;
using FedEdge.Flower;
using FedEdge.Messaging;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a FedEdge worker as a node of a Flower federation.</summary>
public static class FlowerServiceCollectionExtensions
{
    /// <summary>
    /// Makes the FedEdge <see cref="Worker"/> a Flower SuperNode: its transport becomes the Fleet API of the SuperLink
    /// in <see cref="FlowerNodeOptions.SuperLink"/>. Register the worker itself (<c>AddFedEdgeWorker</c>), the
    /// <see cref="ITrainer"/> and the <see cref="ILocalDataSource"/> as for a FedEdge federation; resolve
    /// <see cref="FlowerNodeStatus"/> to follow it. Calling it twice keeps one registration.
    /// </summary>
    public static FedEdgeCoordinationBuilder AddFlowerNode(this IServiceCollection services, Action<FlowerNodeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<FlowerNodeOptions>().Configure(configure).Validate(Valid, "FlowerNodeOptions are invalid.").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<GovernorLog>();
        services.TryAddSingleton<FlowerNodeStatus>();
        services.RemoveAll<IWorkerTransport>();
        services.AddSingleton<IWorkerTransport>(sp => ActivatorUtilities.CreateInstance<FlowerWorkerTransport>(sp));

        // The worker trains through a recorder, so the Flower reply can say when the governor cut training short.
        services.RemoveAll<Worker>();
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<Worker>(
            sp,
            (ITrainer)new GovernorRecordingTrainer(sp.GetRequiredService<ITrainer>(), sp.GetRequiredService<GovernorLog>())));
        return services.AddFedEdgeWorker();
    }

    private static bool Valid(FlowerNodeOptions options)
    {
        options.Validate();
        return true;
    }
}
