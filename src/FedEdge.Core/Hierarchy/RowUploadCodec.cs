using System.Buffers.Binary;
using FedEdge.Data;

namespace FedEdge.Hierarchy;

/// <summary>
/// The wire form of a Model-2 row upload: a device's normalised rows and labels, as it sends them to its edge.
/// Layout (little endian): the magic <c>FERU</c>, a version byte (1), the feature count and the row count (int32), the
/// features row by row and then the labels (float32). Decoding checks every bound: the bytes come from a device.
/// </summary>
public static class RowUploadCodec
{
    /// <summary>The most features a row may have.</summary>
    public const int MaxFeatures = 4096;

    /// <summary>The most rows one upload may carry.</summary>
    public const int MaxRows = 1_000_000;

    private const int HeaderBytes = 4 + 1 + 4 + 4;
    private const byte Version = 1;
    private static ReadOnlySpan<byte> Magic => "FERU"u8;

    /// <summary>Encodes <paramref name="rows"/> (features and labels) for upload.</summary>
    /// <exception cref="ArgumentException">The data set is larger than an upload may be.</exception>
    public static byte[] Encode(Dataset rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.FeatureCount is < 1 or > MaxFeatures || rows.Count > MaxRows)
        {
            throw new ArgumentException($"A row upload carries 1..{MaxFeatures} features and at most {MaxRows} rows; this data set has {rows.FeatureCount} features and {rows.Count} rows.", nameof(rows));
        }

        byte[] bytes = new byte[HeaderBytes + (sizeof(float) * rows.Count * (rows.FeatureCount + 1))];
        Magic.CopyTo(bytes);
        bytes[4] = Version;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(5), rows.FeatureCount);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(9), rows.Count);
        int offset = HeaderBytes;
        foreach (float value in rows.Features)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset), value);
            offset += sizeof(float);
        }

        foreach (float label in rows.Labels)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset), label);
            offset += sizeof(float);
        }

        return bytes;
    }

    /// <summary>Decodes an upload, or says in <paramref name="problem"/> why it cannot be one.</summary>
    /// <returns>The rows, or null with <paramref name="problem"/> set.</returns>
    public static Dataset? TryDecode(ReadOnlySpan<byte> payload, out string? problem)
    {
        problem = null;
        if (payload.Length < HeaderBytes || !payload[..4].SequenceEqual(Magic))
        {
            problem = "not a row upload (no FERU header)";
            return null;
        }

        if (payload[4] != Version)
        {
            problem = $"row upload version {payload[4]} is not supported (expected {Version})";
            return null;
        }

        int features = BinaryPrimitives.ReadInt32LittleEndian(payload[5..]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(payload[9..]);
        if (features is < 1 or > MaxFeatures || count is < 0 or > MaxRows)
        {
            problem = $"row upload claims {features} features and {count} rows (allowed: 1..{MaxFeatures} features, 0..{MaxRows} rows)";
            return null;
        }

        long expected = HeaderBytes + ((long)sizeof(float) * count * (features + 1));
        if (payload.Length != expected)
        {
            problem = $"row upload is {payload.Length} bytes; {features} features and {count} rows need {expected}";
            return null;
        }

        float[] values = new float[count * features];
        float[] labels = new float[count];
        int offset = HeaderBytes;
        for (int i = 0; i < values.Length; i++, offset += sizeof(float))
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[offset..]);
            if (!float.IsFinite(values[i]))
            {
                problem = $"row {i / features} has a non-finite feature";
                return null;
            }
        }

        for (int i = 0; i < labels.Length; i++, offset += sizeof(float))
        {
            labels[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[offset..]);
            if (!float.IsFinite(labels[i]))
            {
                problem = $"row {i} has a non-finite label";
                return null;
            }
        }

        return new Dataset(values, labels, features);
    }
}
