using FedEdge.Torch;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the TorchSharp trainer.</summary>
public static class TorchServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="TorchTrainer"/> for the named network (same names as <see cref="ModelCatalog"/>) as the
    /// <see cref="ITrainer"/>, unless one is registered. The container disposes it (and its module).
    /// </summary>
    /// <exception cref="ArgumentException">The name is unknown.</exception>
    public static IServiceCollection AddFedEdgeTorchTrainer(this IServiceCollection services, string model, TorchTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        NetworkSpec spec = ModelCatalog.GetSpec(model);
        TorchTrainerOptions resolved = (options ?? new TorchTrainerOptions()) with { Target = TorchModels.TargetOf(spec) };
        services.TryAddSingleton(spec);
        services.TryAddSingleton<ITrainer>(_ => new TorchTrainer(TorchModels.Create(spec), resolved));
        return services;
    }
}
