using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace FedEdge.Flower.Objects;

/// <summary>The element types FedEdge exchanges with Flower.</summary>
internal enum NpyDtype
{
    Float32,
    Float64,
}

/// <summary>A decoded .npy array: values widened or kept as double, with its shape and original dtype.</summary>
internal sealed record NpyArray(NpyDtype Dtype, IReadOnlyList<int> Shape, double[] Values);

/// <summary>
/// Reads and writes <c>.npy</c> files (format 1.0, and 2.0 when reading) as numpy's <c>np.save</c> does: C order,
/// little-endian float32 (<c>&lt;f4</c>) or float64 (<c>&lt;f8</c>). Any other dtype is refused with
/// <see cref="NpyFormatException"/>.
/// </summary>
internal static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>numpy leaves room for this many digits of the first axis when it pads the header.</summary>
    private const int GrowthAxisMaxDigits = 21;

    /// <summary>Flower's dtype name for <paramref name="dtype"/>.</summary>
    public static string FlowerName(NpyDtype dtype) => dtype == NpyDtype.Float32 ? "float32" : "float64";

    /// <summary>The dtype whose Flower name is <paramref name="name"/>.</summary>
    /// <exception cref="NpyFormatException">Not float32 or float64.</exception>
    public static NpyDtype FromFlowerName(string name) => name switch
    {
        "float32" => NpyDtype.Float32,
        "float64" => NpyDtype.Float64,
        _ => throw new NpyFormatException($"Arrays of dtype '{name}' are not supported: FedEdge exchanges float32 and float64 only.", name),
    };

    /// <summary>Writes float32 values as a .npy v1.0 file.</summary>
    public static byte[] Write(ReadOnlySpan<float> values, IReadOnlyList<int> shape)
    {
        float[] copy = values.ToArray();
        return Write(NpyDtype.Float32, shape, copy.Length, (body, i) => BinaryPrimitives.WriteSingleLittleEndian(body[(i * 4)..], copy[i]));
    }

    /// <summary>Writes values as a .npy v1.0 file of <paramref name="dtype"/>.</summary>
    public static byte[] Write(NpyDtype dtype, IReadOnlyList<int> shape, ReadOnlySpan<double> values)
    {
        double[] copy = values.ToArray();
        return dtype == NpyDtype.Float32
            ? Write(dtype, shape, copy.Length, (body, i) => BinaryPrimitives.WriteSingleLittleEndian(body[(i * 4)..], (float)copy[i]))
            : Write(dtype, shape, copy.Length, (body, i) => BinaryPrimitives.WriteDoubleLittleEndian(body[(i * 8)..], copy[i]));
    }

    private delegate void ElementWriter(Span<byte> body, int index);

    private static byte[] Write(NpyDtype dtype, IReadOnlyList<int> shape, int count, ElementWriter write)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long expected = 1;
        foreach (int d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            expected *= d;
        }

        if (expected != count)
        {
            throw new ArgumentException($"Shape ({string.Join(", ", shape)}) holds {expected} values, not {count}.", nameof(shape));
        }

        string shapeText = shape.Count switch
        {
            0 => "()",
            1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
            _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        string descr = dtype == NpyDtype.Float32 ? "<f4" : "<f8";
        var header = new StringBuilder($"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}");
        if (shape.Count > 0)
        {
            header.Append(' ', GrowthAxisMaxDigits - shape[0].ToString(CultureInfo.InvariantCulture).Length);
        }

        int headerLength = header.Length + 1;
        int pad = 64 - ((Magic.Length + 2 + 2 + headerLength) % 64);
        if (pad == 64)
        {
            pad = 0;
        }

        header.Append(' ', pad).Append('\n');
        int size = dtype == NpyDtype.Float32 ? 4 : 8;
        byte[] result = new byte[Magic.Length + 4 + header.Length + (count * size)];
        Magic.CopyTo(result, 0);
        result[6] = 1;
        result[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), checked((ushort)header.Length));
        Encoding.ASCII.GetBytes(header.ToString(), result.AsSpan(10));
        Span<byte> body = result.AsSpan(10 + header.Length);
        for (int i = 0; i < count; i++)
        {
            write(body, i);
        }

        return result;
    }

    /// <summary>Reads a .npy file.</summary>
    /// <exception cref="NpyFormatException">Malformed, Fortran order, big-endian or a dtype other than float32/float64.</exception>
    public static NpyArray Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 10 || !file[..6].SequenceEqual(Magic))
        {
            throw new NpyFormatException("Not a .npy file: the magic string is missing.");
        }

        int major = file[6];
        int headerLength;
        int start;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(file[8..]);
            start = 10;
        }
        else if (major is 2 && file.Length >= 12)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(file[8..]);
            if (length > 1 << 20)
            {
                throw new NpyFormatException($"The .npy header of {length} bytes is too long.");
            }

            headerLength = (int)length;
            start = 12;
        }
        else
        {
            throw new NpyFormatException($".npy format version {major}.{file[7]} is not supported (1.0 and 2.0 are).");
        }

        if (file.Length < start + headerLength)
        {
            throw new NpyFormatException("The .npy header is truncated.");
        }

        string header = Encoding.Latin1.GetString(file.Slice(start, headerLength));
        Match descr = DescrPattern().Match(header);
        Match order = OrderPattern().Match(header);
        Match shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !order.Success || !shapeMatch.Success)
        {
            throw new NpyFormatException("The .npy header lacks descr, fortran_order or shape.");
        }

        NpyDtype dtype = descr.Groups[1].Value switch
        {
            "<f4" => NpyDtype.Float32,
            "<f8" => NpyDtype.Float64,
            string other => throw new NpyFormatException($"Arrays of dtype '{other}' are not supported: FedEdge exchanges little-endian float32 and float64 only.", other),
        };
        if (order.Groups[1].Value != "False")
        {
            throw new NpyFormatException("Fortran-order .npy arrays are not supported; save the array in C order.");
        }

        var shape = new List<int>();
        long count = 1;
        foreach (string part in shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int d))
            {
                throw new NpyFormatException($"The .npy shape has a bad dimension '{part}'.");
            }

            shape.Add(d);
            count *= d;
            if (count > int.MaxValue / 8)
            {
                throw new NpyFormatException("The .npy array is too large.");
            }
        }

        int size = dtype == NpyDtype.Float32 ? 4 : 8;
        ReadOnlySpan<byte> body = file[(start + headerLength)..];
        if (body.Length != count * size)
        {
            throw new NpyFormatException($"The .npy body holds {body.Length} bytes but shape ({string.Join(", ", shape)}) of {(dtype == NpyDtype.Float32 ? "float32" : "float64")} needs {count * size}.");
        }

        double[] values = new double[count];
        if (dtype == NpyDtype.Float32)
        {
            ReadOnlySpan<float> floats = MemoryMarshal.Cast<byte, float>(body);
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = BitConverter.IsLittleEndian ? floats[i] : BinaryPrimitives.ReadSingleLittleEndian(body[(i * 4)..]);
            }
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadDoubleLittleEndian(body[(i * 8)..]);
            }
        }

        return new NpyArray(dtype, shape, values);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex OrderPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
