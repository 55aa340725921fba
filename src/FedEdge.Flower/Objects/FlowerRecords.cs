using FedEdge.Flower.Wire;

namespace FedEdge.Flower.Objects;

/// <summary>One array of Flower's object model: its dtype, shape, serialisation type and bytes (a whole .npy file for numpy arrays).</summary>
internal sealed record FlowerArray(string Dtype, IReadOnlyList<int> Shape, string Stype, byte[] Data)
{
    /// <summary>Flower's serialisation type for numpy arrays.</summary>
    public const string NumpyStype = "numpy.ndarray";
}

/// <summary>A record of a <see cref="FlowerRecordDict"/>: arrays, metrics or configuration.</summary>
internal abstract record FlowerRecord;

/// <summary>Named arrays, in order.</summary>
internal sealed record FlowerArrayRecord(IReadOnlyList<KeyValuePair<string, FlowerArray>> Items) : FlowerRecord;

/// <summary>Named metric values (numbers and lists of numbers), in order.</summary>
internal sealed record FlowerMetricRecord(IReadOnlyList<KeyValuePair<string, MetricValue>> Items) : FlowerRecord
{
    /// <summary>The value of <paramref name="key"/> as a double, or null when absent or a list.</summary>
    public double? Number(string key)
    {
        foreach (KeyValuePair<string, MetricValue> item in Items)
        {
            if (string.Equals(item.Key, key, StringComparison.Ordinal))
            {
                return item.Value.ValueCase switch
                {
                    MetricValue.ValueOneofCase.Double => item.Value.Double,
                    MetricValue.ValueOneofCase.Sint64 => item.Value.Sint64,
                    MetricValue.ValueOneofCase.Uint64 => item.Value.Uint64,
                    _ => null,
                };
            }
        }

        return null;
    }
}

/// <summary>Named configuration values, in order.</summary>
internal sealed record FlowerConfigRecord(IReadOnlyList<KeyValuePair<string, ConfigValue>> Items) : FlowerRecord;

/// <summary>A message's content: named records, in order.</summary>
internal sealed record FlowerRecordDict(IReadOnlyList<KeyValuePair<string, FlowerRecord>> Items);

/// <summary>A Flower message: its metadata and either content or an error.</summary>
internal sealed record FlowerMessage(Envelope Metadata, FlowerRecordDict? Content, FlowerError? Error);

/// <summary>Builders for record values.</summary>
internal static class FlowerValues
{
    /// <summary>An integer metric, encoded as Flower does (sint64).</summary>
    public static MetricValue Metric(long value) => new() { Sint64 = value };

    /// <summary>A floating-point metric.</summary>
    public static MetricValue Metric(double value) => new() { Double = value };

    /// <summary>A string configuration value.</summary>
    public static ConfigValue Config(string value) => new() { String = value };

    /// <summary>An integer configuration value.</summary>
    public static ConfigValue Config(long value) => new() { Sint64 = value };

    /// <summary>A boolean configuration value.</summary>
    public static ConfigValue Config(bool value) => new() { Bool = value };
}
