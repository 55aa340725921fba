using System.Globalization;

namespace FedEdge.Training;

/// <summary>An element-wise activation after a fully connected layer.</summary>
public enum Activation
{
    /// <summary>No activation (the layer's output as is; logits before a loss that applies the sigmoid).</summary>
    Identity = 0,

    /// <summary>max(0, x).</summary>
    ReLU = 1,

    /// <summary>1 / (1 + e^−x).</summary>
    Sigmoid = 2,

    /// <summary>tanh(x).</summary>
    Tanh = 3,
}

/// <summary>The training loss of a network.</summary>
public enum LossKind
{
    /// <summary>
    /// Binary cross-entropy on logits (PyTorch <c>BCEWithLogitsLoss</c>): the last layer outputs a logit, the
    /// loss applies the sigmoid in a numerically stable way, and scores are <c>sigmoid(logit)</c>.
    /// </summary>
    BinaryCrossEntropy = 0,

    /// <summary>Mean squared error over all outputs (PyTorch <c>MSELoss</c>, mean reduction).</summary>
    MeanSquaredError = 1,
}

/// <summary>
/// A fully connected network: layer sizes, one activation per layer, the loss and whether it is an
/// autoencoder (the target is the input row) or a classifier (the target is the row's 0/1 label).
/// Parameters are named PyTorch-style: <c>fc1.weight</c> [out, in], <c>fc1.bias</c> [out], <c>fc2.weight</c>, ...
/// </summary>
public sealed class NetworkSpec
{
    /// <summary>Creates a spec and checks it.</summary>
    /// <param name="name">A name for reports (e.g. <c>mednn</c>).</param>
    /// <param name="layerSizes">Input size, hidden sizes, output size (at least two entries, all positive).</param>
    /// <param name="activations">One activation per layer (<c>layerSizes.Count − 1</c> entries).</param>
    /// <param name="loss">The loss.</param>
    /// <param name="isAutoencoder">True when the target is the input (then input and output sizes must match).</param>
    /// <exception cref="ArgumentException">The sizes or activations are inconsistent.</exception>
    public NetworkSpec(string name, IReadOnlyList<int> layerSizes, IReadOnlyList<Activation> activations, LossKind loss, bool isAutoencoder = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(layerSizes);
        ArgumentNullException.ThrowIfNull(activations);
        if (layerSizes.Count < 2 || layerSizes.Any(s => s <= 0))
        {
            throw new ArgumentException("A network needs an input and an output size, all positive.", nameof(layerSizes));
        }

        if (activations.Count != layerSizes.Count - 1)
        {
            throw new ArgumentException($"{activations.Count} activations for {layerSizes.Count - 1} layers.", nameof(activations));
        }

        if (loss == LossKind.BinaryCrossEntropy && (activations[^1] != Activation.Identity || layerSizes[^1] != 1))
        {
            throw new ArgumentException("Binary cross-entropy works on one logit: the last layer must have one output and the identity activation.", nameof(loss));
        }

        if (isAutoencoder && layerSizes[0] != layerSizes[^1])
        {
            throw new ArgumentException("An autoencoder's output size must equal its input size.", nameof(isAutoencoder));
        }

        Name = name;
        LayerSizes = layerSizes.ToArray();
        Activations = activations.ToArray();
        Loss = loss;
        IsAutoencoder = isAutoencoder;
    }

    /// <summary>The spec's name.</summary>
    public string Name { get; }

    /// <summary>Input size, hidden sizes, output size.</summary>
    public IReadOnlyList<int> LayerSizes { get; }

    /// <summary>The activation after each layer.</summary>
    public IReadOnlyList<Activation> Activations { get; }

    /// <summary>The loss.</summary>
    public LossKind Loss { get; }

    /// <summary>True when the target is the input row.</summary>
    public bool IsAutoencoder { get; }

    /// <summary>The number of fully connected layers.</summary>
    public int LayerCount => LayerSizes.Count - 1;

    /// <summary>The input width.</summary>
    public int InputSize => LayerSizes[0];

    /// <summary>The output width.</summary>
    public int OutputSize => LayerSizes[^1];

    /// <summary>CoLearn's feed-forward classifier 10-50-30-1 (ReLU, sigmoid output via BCE on logits).</summary>
    public static NetworkSpec CoLearn { get; } = Classifier("colearn", 10, 50, 30, 1);

    /// <summary>MEDNN's FCNN for N-BaIoT, 115-83-128-83-1 (ReLU, sigmoid output via BCE on logits).</summary>
    public static NetworkSpec Mednn { get; } = Classifier("mednn", 115, 83, 128, 83, 1);

    /// <summary>
    /// The N-BaIoT / FedIoT autoencoder 115-86-58-38-29-38-58-86-115 (75 %, 50 %, 33 %, 25 % of the input):
    /// tanh hidden layers, linear output, MSE reconstruction loss.
    /// </summary>
    public static NetworkSpec NbaiotAutoencoder { get; } = Autoencoder("autoencoder", 115, 86, 58, 38, 29);

    /// <summary>A classifier with ReLU hidden layers and one logit output trained with BCE.</summary>
    public static NetworkSpec Classifier(string name, params int[] layerSizes)
    {
        ArgumentNullException.ThrowIfNull(layerSizes);
        var acts = Enumerable.Repeat(Activation.ReLU, Math.Max(0, layerSizes.Length - 2)).Append(Activation.Identity).ToArray();
        return new NetworkSpec(name, layerSizes, acts, LossKind.BinaryCrossEntropy);
    }

    /// <summary>A symmetric autoencoder: the encoder sizes are given (input first), the decoder mirrors them; tanh hidden, linear output, MSE.</summary>
    public static NetworkSpec Autoencoder(string name, params int[] encoderSizes)
    {
        ArgumentNullException.ThrowIfNull(encoderSizes);
        if (encoderSizes.Length < 2)
        {
            throw new ArgumentException("Give at least the input and the code size.", nameof(encoderSizes));
        }

        int[] sizes = encoderSizes.Concat(encoderSizes.Reverse().Skip(1)).ToArray();
        var acts = Enumerable.Repeat(Activation.Tanh, sizes.Length - 2).Append(Activation.Identity).ToArray();
        return new NetworkSpec(name, sizes, acts, LossKind.MeanSquaredError, isAutoencoder: true);
    }

    /// <summary>The parameter layout: <c>fc{i}.weight</c> [out, in] then <c>fc{i}.bias</c> [out] for each layer.</summary>
    public ParameterLayout CreateLayout()
    {
        var specs = new List<TensorSpec>();
        for (int l = 0; l < LayerCount; l++)
        {
            specs.Add(new TensorSpec(WeightName(l), LayerSizes[l + 1], LayerSizes[l]));
            specs.Add(new TensorSpec(BiasName(l), LayerSizes[l + 1]));
        }

        return new ParameterLayout(specs);
    }

    /// <summary>
    /// Initial parameters as PyTorch's <c>nn.Linear</c> draws them (weights and biases uniform in ±1/√fan_in),
    /// from a seeded generator, so the same seed gives the same parameters everywhere.
    /// </summary>
    public ParameterSet InitializeParameters(int seed)
    {
        var set = new ParameterSet(CreateLayout());
        var rng = new Random(seed);
        for (int l = 0; l < LayerCount; l++)
        {
            float bound = 1f / MathF.Sqrt(LayerSizes[l]);
            foreach (string name in new[] { WeightName(l), BiasName(l) })
            {
                Span<float> t = set.GetTensor(name);
                for (int i = 0; i < t.Length; i++)
                {
                    t[i] = (float)(((rng.NextDouble() * 2.0) - 1.0) * bound);
                }
            }
        }

        return set;
    }

    /// <summary>The weight tensor name of layer <paramref name="layer"/> (0-based): <c>fc1.weight</c> for 0.</summary>
    public static string WeightName(int layer) => "fc" + (layer + 1).ToString(CultureInfo.InvariantCulture) + ".weight";

    /// <summary>The bias tensor name of layer <paramref name="layer"/> (0-based): <c>fc1.bias</c> for 0.</summary>
    public static string BiasName(int layer) => "fc" + (layer + 1).ToString(CultureInfo.InvariantCulture) + ".bias";

    /// <summary>A one-line description, e.g. <c>mednn 115-83-128-83-1 (ReLU..., BinaryCrossEntropy)</c>.</summary>
    public override string ToString() => $"{Name} {string.Join('-', LayerSizes)} ({string.Join(',', Activations)}; {Loss})";
}
