using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FedEdge.Data;

/// <summary>
/// Min–max scaling per feature, <c>x' = (x − min) / (max − min)</c> (MEDNN eq. 5), fitted on the training split
/// only and carried with the model as JSON. A constant feature (max = min) maps to 0. Values outside the fitted
/// range map outside [0, 1] unless <see cref="Clip"/> is set.
/// </summary>
public sealed partial class MinMaxNormalizer
{
    private readonly double[] _min;
    private readonly double[] _max;

    private MinMaxNormalizer(double[] min, double[] max, IReadOnlyList<string>? featureNames, bool clip)
    {
        _min = min;
        _max = max;
        FeatureNames = featureNames;
        Clip = clip;
    }

    /// <summary>The number of features.</summary>
    public int FeatureCount => _min.Length;

    /// <summary>The fitted minimum per feature.</summary>
    public IReadOnlyList<double> Min => _min;

    /// <summary>The fitted maximum per feature.</summary>
    public IReadOnlyList<double> Max => _max;

    /// <summary>The feature names the normaliser was fitted on, when known (checked on transform).</summary>
    public IReadOnlyList<string>? FeatureNames { get; }

    /// <summary>When true, transformed values are clipped to [0, 1].</summary>
    public bool Clip { get; }

    /// <summary>Fits the per-feature minimum and maximum on <paramref name="train"/>.</summary>
    /// <exception cref="ArgumentException">The data set has no rows or holds a non-finite value.</exception>
    public static MinMaxNormalizer Fit(Dataset train, bool clip = false)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
        {
            throw new ArgumentException("Cannot fit a normaliser on zero rows.", nameof(train));
        }

        int n = train.FeatureCount;
        var min = new double[n];
        var max = new double[n];
        Array.Fill(min, double.PositiveInfinity);
        Array.Fill(max, double.NegativeInfinity);
        for (int r = 0; r < train.Count; r++)
        {
            ReadOnlySpan<float> row = train.Row(r);
            for (int f = 0; f < n; f++)
            {
                double v = row[f];
                if (!double.IsFinite(v))
                {
                    throw new ArgumentException($"Row {r}, feature {f} is {v}; fit on finite values only.", nameof(train));
                }

                if (v < min[f]) { min[f] = v; }
                if (v > max[f]) { max[f] = v; }
            }
        }

        return new MinMaxNormalizer(min, max, train.FeatureNames.ToArray(), clip);
    }

    /// <summary>Scales one row in place.</summary>
    public void TransformInPlace(Span<float> row)
    {
        if (row.Length != _min.Length)
        {
            throw new ArgumentException($"The row has {row.Length} features; the normaliser was fitted on {_min.Length}.", nameof(row));
        }

        for (int f = 0; f < row.Length; f++)
        {
            double range = _max[f] - _min[f];
            double v = range > 0 ? (row[f] - _min[f]) / range : 0.0;
            if (Clip)
            {
                v = Math.Clamp(v, 0.0, 1.0);
            }

            row[f] = (float)v;
        }
    }

    /// <summary>A new, scaled data set (labels and class names kept).</summary>
    /// <exception cref="ArgumentException">The feature count or names differ from the fitted ones.</exception>
    public Dataset Transform(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.FeatureCount != _min.Length)
        {
            throw new ArgumentException($"The data set has {data.FeatureCount} features; the normaliser was fitted on {_min.Length}.", nameof(data));
        }

        if (FeatureNames is not null && !FeatureNames.SequenceEqual(data.FeatureNames, StringComparer.Ordinal))
        {
            throw new ArgumentException("The data set's feature names differ from those the normaliser was fitted on.", nameof(data));
        }

        float[] values = data.Features.ToArray();
        for (int r = 0; r < data.Count; r++)
        {
            TransformInPlace(values.AsSpan(r * data.FeatureCount, data.FeatureCount));
        }

        return new Dataset(values, data.Labels.ToArray(), data.FeatureCount, data.FeatureNames, data.ClassNames);
    }

    /// <summary>The normaliser as JSON (doubles round-trip exactly), for model metadata.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Document
    {
        Kind = "minmax",
        Min = _min,
        Max = _max,
        FeatureNames = FeatureNames?.ToArray(),
        Clip = Clip,
    }, DocumentContext.Default.Document);

    /// <summary>Reads a normaliser written by <see cref="ToJson"/>.</summary>
    /// <exception cref="FormatException">The text is not a valid min–max normaliser document.</exception>
    public static MinMaxNormalizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        Document? doc;
        try
        {
            doc = JsonSerializer.Deserialize(json, DocumentContext.Default.Document);
        }
        catch (JsonException ex)
        {
            throw new FormatException("The normaliser JSON is malformed: " + ex.Message, ex);
        }

        if (doc is null || doc.Kind != "minmax" || doc.Min is null || doc.Max is null || doc.Min.Length != doc.Max.Length || doc.Min.Length == 0)
        {
            throw new FormatException("The JSON is not a min–max normaliser (need kind 'minmax' and equally long, non-empty min and max).");
        }

        if (doc.FeatureNames is not null && doc.FeatureNames.Length != doc.Min.Length)
        {
            throw new FormatException($"{doc.FeatureNames.Length} feature names for {doc.Min.Length} features.");
        }

        for (int i = 0; i < doc.Min.Length; i++)
        {
            if (!double.IsFinite(doc.Min[i]) || !double.IsFinite(doc.Max[i]) || doc.Max[i] < doc.Min[i])
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"Feature {i}: min {doc.Min[i]} and max {doc.Max[i]} are not a finite range."));
            }
        }

        return new MinMaxNormalizer(doc.Min, doc.Max, doc.FeatureNames, doc.Clip);
    }

    internal sealed class Document
    {
        public string? Kind { get; set; }

        public double[]? Min { get; set; }

        public double[]? Max { get; set; }

        public string[]? FeatureNames { get; set; }

        public bool Clip { get; set; }
    }

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(Document))]
    internal sealed partial class DocumentContext : JsonSerializerContext
    {
    }
}
