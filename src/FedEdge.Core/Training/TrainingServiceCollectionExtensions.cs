using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Core's managed trainer.</summary>
public static class TrainingServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="ManagedTrainer"/> for the named network (<see cref="ModelCatalog"/>: <c>mlp</c>, <c>mednn</c>,
    /// <c>colearn</c>, <c>autoencoder</c>, <c>mlp:&lt;sizes&gt;</c>) as the <see cref="ITrainer"/>, unless one is registered.
    /// The name and options are checked here, at registration.
    /// </summary>
    /// <exception cref="ArgumentException">The name is unknown or the options are invalid.</exception>
    public static IServiceCollection AddFedEdgeManagedTrainer(this IServiceCollection services, string model, ManagedTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var trainer = new ManagedTrainer(ModelCatalog.GetSpec(model), options);
        services.TryAddSingleton(trainer.Spec);
        services.TryAddSingleton<ITrainer>(trainer);
        return services;
    }
}
