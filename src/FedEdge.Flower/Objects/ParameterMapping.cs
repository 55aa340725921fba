using System.Globalization;
using FedEdge.Flower.Wire;
using FedEdge.Training;

namespace FedEdge.Flower.Objects;

/// <summary>How the keys of a received ArrayRecord map onto the trainer's tensors, kept to build the reply with the same keys and dtypes.</summary>
internal sealed record ArrayBinding(IReadOnlyList<(string Key, int Tensor, NpyDtype Dtype, IReadOnlyList<int> Shape)> Entries);

/// <summary>
/// Maps Flower records to FedEdge's types: an ArrayRecord of .npy arrays to and from a <see cref="ParameterSet"/>
/// (by tensor name, or by position when the keys are Flower's list indices "0", "1", …; shapes must agree), and a
/// ConfigRecord to <see cref="TrainingHyperParameters"/>.
/// </summary>
internal static class ParameterMapping
{
    public static (ParameterSet Parameters, ArrayBinding Binding) ToParameterSet(FlowerArrayRecord record, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(layout);
        if (record.Items.Count != layout.Tensors.Count)
        {
            throw new FlowerProtocolException($"The ArrayRecord holds {record.Items.Count} arrays but the model has {layout.Tensors.Count} tensors ({layout}).");
        }

        bool byName = record.Items.All(i => layout.IndexOf(i.Key) >= 0) && record.Items.Select(i => i.Key).Distinct(StringComparer.Ordinal).Count() == record.Items.Count;
        var parameters = new ParameterSet(layout);
        var entries = new List<(string, int, NpyDtype, IReadOnlyList<int>)>();
        for (int i = 0; i < record.Items.Count; i++)
        {
            (string key, FlowerArray array) = record.Items[i];
            int index = byName ? layout.IndexOf(key) : i;
            if (!string.Equals(array.Stype, FlowerArray.NumpyStype, StringComparison.Ordinal))
            {
                throw new FlowerProtocolException($"Array '{key}' has serialisation type '{array.Stype}'; FedEdge reads '{FlowerArray.NumpyStype}' arrays (.npy).");
            }

            NpyDtype declared = Npy.FromFlowerName(array.Dtype);
            NpyArray npy = Npy.Read(array.Data);
            if (npy.Dtype != declared || !npy.Shape.SequenceEqual(array.Shape))
            {
                throw new FlowerProtocolException($"Array '{key}' declares {array.Dtype} ({string.Join(", ", array.Shape)}) but its .npy data is {Npy.FlowerName(npy.Dtype)} ({string.Join(", ", npy.Shape)}).");
            }

            TensorSpec spec = layout.Tensors[index];
            if (!spec.Shape.SequenceEqual(npy.Shape))
            {
                throw new FlowerProtocolException($"Array '{key}' has shape ({string.Join(", ", npy.Shape)}) but tensor {spec} expects ({string.Join(", ", spec.Shape)}).");
            }

            Span<float> target = parameters.GetTensor(index);
            for (int v = 0; v < npy.Values.Length; v++)
            {
                target[v] = (float)npy.Values[v];
            }

            entries.Add((key, index, npy.Dtype, npy.Shape));
        }

        if (!parameters.AllFinite())
        {
            throw new FlowerProtocolException("The received arrays hold NaN or infinite values.");
        }

        return (parameters, new ArrayBinding(entries));
    }

    public static FlowerArrayRecord ToArrayRecord(ParameterSet parameters, ArrayBinding binding)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(binding);
        var items = new List<KeyValuePair<string, FlowerArray>>();
        foreach ((string key, int tensor, NpyDtype dtype, IReadOnlyList<int> shape) in binding.Entries)
        {
            ReadOnlySpan<float> values = parameters.GetTensor(tensor);
            byte[] npy = dtype == NpyDtype.Float32 ? Npy.Write(values, shape) : Npy.Write(dtype, shape, ToDoubles(values));
            items.Add(new(key, new FlowerArray(Npy.FlowerName(dtype), shape, FlowerArray.NumpyStype, npy)));
        }

        return new FlowerArrayRecord(items);
    }

    /// <summary>An ArrayRecord of float32 arrays named after the layout's tensors (what a FedEdge model looks like in Flower).</summary>
    public static FlowerArrayRecord FromParameterSet(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var entries = parameters.Layout.Tensors.Select((t, i) => (t.Name, i, NpyDtype.Float32, (IReadOnlyList<int>)t.Shape.ToArray())).ToList();
        return ToArrayRecord(parameters, new ArrayBinding(entries));
    }

    private static double[] ToDoubles(ReadOnlySpan<float> values)
    {
        double[] result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
    }

    /// <summary>
    /// Training settings from a train message's ConfigRecord: <c>lr</c> (or <c>learning-rate</c>), <c>local-epochs</c>,
    /// <c>local-steps</c>, <c>batch-size</c>, <c>proximal-mu</c>; every entry is also kept in <see cref="TrainingHyperParameters.Extra"/> as text.
    /// </summary>
    public static TrainingHyperParameters ToHyperParameters(FlowerConfigRecord? config, TrainingHyperParameters defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        if (config is null)
        {
            return defaults;
        }

        var extra = new Dictionary<string, string>(defaults.Extra, StringComparer.Ordinal);
        TrainingHyperParameters result = defaults;
        foreach ((string key, ConfigValue value) in config.Items)
        {
            double? number = value.ValueCase switch
            {
                ConfigValue.ValueOneofCase.Double => value.Double,
                ConfigValue.ValueOneofCase.Sint64 => value.Sint64,
                ConfigValue.ValueOneofCase.Uint64 => value.Uint64,
                _ => null,
            };
            extra[key] = value.ValueCase switch
            {
                ConfigValue.ValueOneofCase.String => value.String,
                ConfigValue.ValueOneofCase.Bool => value.Bool ? "true" : "false",
                _ when number is double d => d.ToString("R", CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (number is not double n)
            {
                continue;
            }

            result = key switch
            {
                "lr" or "learning-rate" or "learning_rate" when n > 0 && double.IsFinite(n) => result with { LearningRate = (float)n },
                "local-epochs" or "local_epochs" when n >= 1 && n <= 1000 => result with { LocalEpochs = (int)n },
                "local-steps" or "local_steps" when n >= 1 && n <= 1_000_000 => result with { LocalIterations = (int)n },
                "batch-size" or "batch_size" when n >= 1 && n <= 1_000_000 => result with { BatchSize = (int)n },
                "proximal-mu" or "proximal_mu" when n >= 0 && double.IsFinite(n) => result with { ProximalMu = (float)n },
                _ => result,
            };
        }

        return result with { Extra = extra };
    }
}
