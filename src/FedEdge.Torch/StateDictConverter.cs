using FedEdge.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FedEdge.Torch;

/// <summary>Maps a TorchSharp module's <c>state_dict</c> to and from Core's <see cref="ParameterSet"/>, checking names and shapes.</summary>
public static class StateDictConverter
{
    /// <summary>The layout of a module's state: its <c>state_dict</c> entries in order, as float32 tensors.</summary>
    /// <exception cref="NotSupportedException">An entry is not float32.</exception>
    public static ParameterLayout GetLayout(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var specs = new List<TensorSpec>();
        foreach ((string name, Tensor tensor) in module.state_dict())
        {
            if (tensor.dtype != ScalarType.Float32)
            {
                throw new NotSupportedException($"State entry '{name}' is {tensor.dtype}; FedEdge parameters are float32.");
            }

            specs.Add(new TensorSpec(name, tensor.shape.Select(d => checked((int)d)).ToArray()));
        }

        return new ParameterLayout(specs);
    }

    /// <summary>Copies a module's state into a new parameter set.</summary>
    public static ParameterSet ToParameterSet(nn.Module module)
    {
        ParameterLayout layout = GetLayout(module);
        var set = new ParameterSet(layout);
        CopyTo(module, set);
        return set;
    }

    /// <summary>Copies a module's state into <paramref name="destination"/> (its layout must match).</summary>
    /// <exception cref="ParameterLayoutMismatchException">Names, shapes or order differ.</exception>
    public static void CopyTo(nn.Module module, ParameterSet destination)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(destination);
        Dictionary<string, Tensor> state = module.state_dict();
        Check(state, destination.Layout);
        int i = 0;
        foreach ((_, Tensor tensor) in state)
        {
            using Tensor cpu = tensor.detach().cpu().contiguous();
            float[] values = cpu.data<float>().ToArray();
            values.CopyTo(destination.GetTensor(i));
            i++;
        }
    }

    /// <summary>Loads <paramref name="parameters"/> into the module's state in place (no autograd history).</summary>
    /// <exception cref="ParameterLayoutMismatchException">Names, shapes or order differ.</exception>
    public static void Load(nn.Module module, ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(parameters);
        Dictionary<string, Tensor> state = module.state_dict();
        Check(state, parameters.Layout);
        using var noGrad = no_grad();
        int i = 0;
        foreach ((_, Tensor tensor) in state)
        {
            TensorSpec spec = parameters.Layout.Tensors[i];
            using Tensor source = torch.tensor(parameters.GetTensor(i).ToArray(), spec.Shape.Select(d => (long)d).ToArray());
            tensor.copy_(source);
            i++;
        }
    }

    private static void Check(Dictionary<string, Tensor> state, ParameterLayout layout)
    {
        if (state.Count != layout.Tensors.Count)
        {
            throw new ParameterLayoutMismatchException(
                $"The module has {state.Count} state entries ({string.Join(", ", state.Keys)}) but the parameters have {layout.Tensors.Count} ({layout}).");
        }

        int i = 0;
        foreach ((string name, Tensor tensor) in state)
        {
            TensorSpec spec = layout.Tensors[i];
            long[] shape = tensor.shape;
            if (!string.Equals(name, spec.Name, StringComparison.Ordinal))
            {
                throw new ParameterLayoutMismatchException($"State entry {i} is '{name}' but the parameters name it '{spec.Name}'.");
            }

            if (shape.Length != spec.Shape.Count || !shape.Select(d => (int)d).SequenceEqual(spec.Shape))
            {
                throw new ParameterLayoutMismatchException($"State entry '{name}' has shape [{string.Join('x', shape)}] but the parameters have {spec}.");
            }

            i++;
        }
    }
}
