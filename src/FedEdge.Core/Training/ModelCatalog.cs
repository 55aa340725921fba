using System.Globalization;

namespace FedEdge.Training;

/// <summary>A ready-to-train model: its network, a trainer and initial parameters drawn from a seed.</summary>
/// <param name="Spec">The network.</param>
/// <param name="Trainer">A trainer for it.</param>
/// <param name="InitialParameters">PyTorch-style initial parameters from the seed.</param>
/// <param name="FeatureSubset">N-BaIoT feature columns the network expects, in order, when it does not take all 115; null for all.</param>
public sealed record ModelBundle(NetworkSpec Spec, ITrainer Trainer, ParameterSet InitialParameters, IReadOnlyList<string>? FeatureSubset);

/// <summary>
/// The named networks a host or the CLI creates by name: <c>mednn</c> (115-83-128-83-1), <c>colearn</c> (10-50-30-1 on
/// <see cref="CoLearnNbaiotFeatures"/>), <c>autoencoder</c> (115-86-58-38-29-38-58-86-115) and <c>mlp</c> (115-64-32-1, or
/// any sizes as <c>mlp:115-64-1</c>).
/// </summary>
public static class ModelCatalog
{
    /// <summary>The names <see cref="Create"/> accepts (besides <c>mlp:&lt;sizes&gt;</c>).</summary>
    public static IReadOnlyList<string> Names { get; } = ["mlp", "mednn", "colearn", "autoencoder"];

    /// <summary>
    /// The ten N-BaIoT features the CoLearn-sized network reads: the 10-second-window (λ = 0.1) statistics of the
    /// source MAC-IP, source IP, channel and socket streams.
    /// </summary>
    public static IReadOnlyList<string> CoLearnNbaiotFeatures { get; } =
    [
        "MI_dir_L0.1_weight", "MI_dir_L0.1_mean", "MI_dir_L0.1_variance",
        "H_L0.1_weight", "H_L0.1_mean", "H_L0.1_variance",
        "HH_L0.1_magnitude", "HH_L0.1_radius",
        "HpHp_L0.1_magnitude", "HpHp_L0.1_radius",
    ];

    /// <summary>The network of a name.</summary>
    /// <exception cref="ArgumentException">The name is unknown or the sizes do not parse.</exception>
    public static NetworkSpec GetSpec(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string key = name.Trim().ToLowerInvariant();
        switch (key)
        {
            case "mednn":
                return NetworkSpec.Mednn;
            case "colearn":
                return NetworkSpec.CoLearn;
            case "autoencoder" or "ae":
                return NetworkSpec.NbaiotAutoencoder;
            case "mlp":
                return NetworkSpec.Classifier("mlp", 115, 64, 32, 1);
        }

        if (key.StartsWith("mlp:", StringComparison.Ordinal))
        {
            string[] parts = key[4..].Split('-', StringSplitOptions.TrimEntries);
            var sizes = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
                {
                    throw new ArgumentException($"'{name}': layer size '{parts[i]}' is not a positive integer (write mlp:115-64-1).", nameof(name));
                }
            }

            if (sizes.Length < 2 || sizes[^1] != 1)
            {
                throw new ArgumentException($"'{name}': an mlp classifier needs at least an input size and a final size of 1.", nameof(name));
            }

            return NetworkSpec.Classifier("mlp", sizes);
        }

        throw new ArgumentException($"Unknown model '{name}'; known: {string.Join(", ", Names)}, mlp:<sizes>.", nameof(name));
    }

    /// <summary>Creates the named model with a managed trainer and initial parameters from <paramref name="seed"/>.</summary>
    public static ModelBundle Create(string name, int seed, ManagedTrainerOptions? options = null)
    {
        NetworkSpec spec = GetSpec(name);
        return new ModelBundle(spec, new ManagedTrainer(spec, options), spec.InitializeParameters(seed), FeatureSubsetOf(spec));
    }

    /// <summary>The N-BaIoT feature subset a network reads (null: all 115 columns).</summary>
    public static IReadOnlyList<string>? FeatureSubsetOf(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.InputSize == CoLearnNbaiotFeatures.Count ? CoLearnNbaiotFeatures : null;
    }
}
