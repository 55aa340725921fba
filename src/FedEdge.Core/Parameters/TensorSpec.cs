using System.Collections.ObjectModel;

namespace FedEdge;

/// <summary>The name and shape of one named float32 tensor in a <see cref="ParameterLayout"/>.</summary>
public sealed class TensorSpec : IEquatable<TensorSpec>
{
    private readonly int[] _shape;

    /// <summary>Creates a tensor description.</summary>
    /// <param name="name">The tensor's name, e.g. <c>fc1.weight</c> (PyTorch <c>state_dict</c> style).</param>
    /// <param name="shape">The dimensions; an empty shape is a scalar. Every dimension must be positive.</param>
    /// <exception cref="ArgumentException">The name is empty or a dimension is not positive.</exception>
    public TensorSpec(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(shape);
        long length = 1;
        foreach (int dim in shape)
        {
            if (dim <= 0)
            {
                throw new ArgumentException($"Tensor '{name}' has a non-positive dimension {dim}; every dimension must be at least 1.", nameof(shape));
            }

            length = checked(length * dim);
        }

        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"Tensor '{name}' has {length} elements, more than one array can hold.", nameof(shape));
        }

        Name = name;
        _shape = (int[])shape.Clone();
        Shape = new ReadOnlyCollection<int>(_shape);
        Length = (int)length;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The tensor's dimensions.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of elements (the product of the dimensions).</summary>
    public int Length { get; }

    /// <inheritdoc />
    public bool Equals(TensorSpec? other) =>
        other is not null && string.Equals(Name, other.Name, StringComparison.Ordinal) && _shape.AsSpan().SequenceEqual(other._shape);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as TensorSpec);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Name, StringComparer.Ordinal);
        foreach (int dim in _shape)
        {
            hash.Add(dim);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}[{string.Join('x', _shape)}]";
}
