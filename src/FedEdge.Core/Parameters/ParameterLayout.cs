using System.Collections.ObjectModel;

namespace FedEdge;

/// <summary>
/// The ordered names and shapes of a model's tensors, and where each starts in one flat buffer.
/// Immutable; shared by every <see cref="ParameterSet"/> of the same model.
/// </summary>
public sealed class ParameterLayout : IEquatable<ParameterLayout>
{
    private readonly TensorSpec[] _tensors;
    private readonly int[] _offsets;
    private readonly Dictionary<string, int> _indexByName;

    /// <summary>Creates a layout from tensors in order.</summary>
    /// <exception cref="ArgumentException">There are no tensors, a name repeats, or the total exceeds one array.</exception>
    public ParameterLayout(IEnumerable<TensorSpec> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        _tensors = tensors.ToArray();
        if (_tensors.Length == 0)
        {
            throw new ArgumentException("A parameter layout needs at least one tensor.", nameof(tensors));
        }

        _offsets = new int[_tensors.Length];
        _indexByName = new Dictionary<string, int>(_tensors.Length, StringComparer.Ordinal);
        long offset = 0;
        for (int i = 0; i < _tensors.Length; i++)
        {
            TensorSpec spec = _tensors[i] ?? throw new ArgumentException("A tensor spec is null.", nameof(tensors));
            if (!_indexByName.TryAdd(spec.Name, i))
            {
                throw new ArgumentException($"Tensor name '{spec.Name}' appears twice; names must be unique.", nameof(tensors));
            }

            _offsets[i] = (int)offset;
            offset += spec.Length;
            if (offset > Array.MaxLength)
            {
                throw new ArgumentException("The tensors hold more elements than one array can hold.", nameof(tensors));
            }
        }

        TotalLength = (int)offset;
        Tensors = new ReadOnlyCollection<TensorSpec>(_tensors);
    }

    /// <summary>Creates a layout from tensors in order.</summary>
    public ParameterLayout(params TensorSpec[] tensors)
        : this((IEnumerable<TensorSpec>)tensors)
    {
    }

    /// <summary>The tensors in order.</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>The number of float32 values over all tensors.</summary>
    public int TotalLength { get; }

    /// <summary>Where tensor <paramref name="index"/> starts in the flat buffer.</summary>
    public int OffsetOf(int index) => _offsets[index];

    /// <summary>The index of the tensor named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name) => _indexByName.TryGetValue(name, out int index) ? index : -1;

    /// <summary>Describes the first difference between this layout and <paramref name="other"/>, or returns null when equal.</summary>
    public string? DescribeMismatch(ParameterLayout other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(this, other))
        {
            return null;
        }

        int common = Math.Min(_tensors.Length, other._tensors.Length);
        for (int i = 0; i < common; i++)
        {
            if (!_tensors[i].Equals(other._tensors[i]))
            {
                return $"tensor {i} is {other._tensors[i]} but {_tensors[i]} was expected";
            }
        }

        return _tensors.Length == other._tensors.Length
            ? null
            : $"{other._tensors.Length} tensors but {_tensors.Length} were expected";
    }

    /// <inheritdoc />
    public bool Equals(ParameterLayout? other) => other is not null && DescribeMismatch(other) is null;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ParameterLayout);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (TensorSpec spec in _tensors)
        {
            hash.Add(spec);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() => string.Join(", ", _tensors.Select(t => t.ToString()));
}
