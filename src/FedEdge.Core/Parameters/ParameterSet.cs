using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;

namespace FedEdge;

/// <summary>
/// An ordered set of named float32 tensors (a model's <c>state_dict</c>) stored in one contiguous
/// buffer, so that whole-model arithmetic runs over a single span.
/// </summary>
/// <remarks>
/// The values are mutable through <see cref="Values"/> and <see cref="GetTensor(string)"/>; the
/// layout is not. Use <see cref="Clone"/> before handing a set to code that may change it.
/// </remarks>
public sealed class ParameterSet
{
    private readonly float[] _values;

    /// <summary>Creates a set with all values zero.</summary>
    public ParameterSet(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        _values = new float[layout.TotalLength];
    }

    /// <summary>Creates a set that takes ownership of <paramref name="values"/> (no copy).</summary>
    /// <exception cref="ArgumentException">The buffer length differs from the layout's total length.</exception>
    public ParameterSet(ParameterLayout layout, float[] values)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != layout.TotalLength)
        {
            throw new ArgumentException($"The buffer holds {values.Length} values but the layout needs {layout.TotalLength}.", nameof(values));
        }

        Layout = layout;
        _values = values;
    }

    /// <summary>The names and shapes of the tensors.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>All values of all tensors, in layout order.</summary>
    public Span<float> Values => _values;

    /// <summary>The number of float32 values.</summary>
    public int Length => _values.Length;

    /// <summary>Builds a set from named arrays in order.</summary>
    public static ParameterSet FromTensors(IEnumerable<(string Name, int[] Shape, float[] Values)> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var layout = new ParameterLayout(list.Select(t => new TensorSpec(t.Name, t.Shape)));
        var set = new ParameterSet(layout);
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Values.Length != layout.Tensors[i].Length)
            {
                throw new ArgumentException($"Tensor '{list[i].Name}' has {list[i].Values.Length} values but its shape needs {layout.Tensors[i].Length}.", nameof(tensors));
            }

            list[i].Values.CopyTo(set.GetTensor(i));
        }

        return set;
    }

    /// <summary>The values of tensor <paramref name="index"/>.</summary>
    public Span<float> GetTensor(int index) => _values.AsSpan(Layout.OffsetOf(index), Layout.Tensors[index].Length);

    /// <summary>The values of the tensor named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public Span<float> GetTensor(string name)
    {
        int index = Layout.IndexOf(name);
        if (index < 0)
        {
            throw new KeyNotFoundException($"No tensor named '{name}' in the parameter set ({Layout}).");
        }

        return GetTensor(index);
    }

    /// <summary>A deep copy.</summary>
    public ParameterSet Clone() => new(Layout, (float[])_values.Clone());

    /// <summary>A set of the same layout with all values zero.</summary>
    public ParameterSet CreateZeroed() => new(Layout);

    /// <summary>True when every value is finite (no NaN, no infinity).</summary>
    public bool AllFinite() => TensorPrimitives.IsFiniteAll<float>(_values);

    /// <summary>The L2 norm of all values.</summary>
    public double L2Norm() => Math.Sqrt(TensorPrimitives.Dot<float>(_values, _values));

    /// <summary>
    /// A stable SHA-256 over names, shapes and values (little-endian IEEE 754), as lowercase hex.
    /// Two sets have the same hash exactly when their layouts and bit patterns agree.
    /// </summary>
    public string ComputeHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> scratch = stackalloc byte[4];
        for (int i = 0; i < Layout.Tensors.Count; i++)
        {
            TensorSpec spec = Layout.Tensors[i];
            byte[] name = Encoding.UTF8.GetBytes(spec.Name);
            BinaryPrimitives.WriteInt32LittleEndian(scratch, name.Length);
            sha.AppendData(scratch);
            sha.AppendData(name);
            BinaryPrimitives.WriteInt32LittleEndian(scratch, spec.Shape.Count);
            sha.AppendData(scratch);
            foreach (int dim in spec.Shape)
            {
                BinaryPrimitives.WriteInt32LittleEndian(scratch, dim);
                sha.AppendData(scratch);
            }

            ReadOnlySpan<float> values = GetTensor(i);
            if (BitConverter.IsLittleEndian)
            {
                sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
            }
            else
            {
                foreach (float v in values)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(scratch, v);
                    sha.AppendData(scratch);
                }
            }
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <inheritdoc />
    public override string ToString() => $"ParameterSet({Layout.Tensors.Count} tensors, {Length} values)";
}
