using FedEdge.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FedEdge.Torch;

/// <summary>TorchSharp versions of Core's named networks, with the same parameter names and order (<c>fc1.weight</c>, <c>fc1.bias</c>, ...).</summary>
public static class TorchModels
{
    /// <summary>Builds a <c>Sequential</c> of <c>Linear</c> layers named <c>fc1</c>, <c>fc2</c>, ... and activations named <c>act1</c>, ...</summary>
    public static nn.Module<Tensor, Tensor> Create(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int l = 0; l < spec.LayerCount; l++)
        {
            string index = (l + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            layers.Add(("fc" + index, nn.Linear(spec.LayerSizes[l], spec.LayerSizes[l + 1])));
            nn.Module<Tensor, Tensor>? act = spec.Activations[l] switch
            {
                Activation.ReLU => nn.ReLU(),
                Activation.Sigmoid => nn.Sigmoid(),
                Activation.Tanh => nn.Tanh(),
                _ => null,
            };
            if (act is not null)
            {
                layers.Add(("act" + index, act));
            }
        }

        return nn.Sequential(layers);
    }

    /// <summary>The target kind matching a spec: label logits for BCE classifiers, the input for autoencoders.</summary>
    public static TorchTargetKind TargetOf(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.IsAutoencoder ? TorchTargetKind.Input : spec.Loss == LossKind.BinaryCrossEntropy ? TorchTargetKind.LabelLogit : TorchTargetKind.Label;
    }

    /// <summary>
    /// Creates a named network (<see cref="ModelCatalog"/> names: <c>mlp</c>, <c>mednn</c>, <c>colearn</c>, <c>autoencoder</c>,
    /// <c>mlp:&lt;sizes&gt;</c>) with a TorchSharp trainer and the same seeded initial parameters as the managed catalog.
    /// </summary>
    public static ModelBundle CreateBundle(string name, int seed, TorchTrainerOptions? options = null)
    {
        NetworkSpec spec = ModelCatalog.GetSpec(name);
        var trainer = new TorchTrainer(Create(spec), (options ?? new TorchTrainerOptions()) with { Target = TargetOf(spec) });
        return new ModelBundle(spec, trainer, spec.InitializeParameters(seed), ModelCatalog.FeatureSubsetOf(spec));
    }
}
