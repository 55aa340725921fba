using FedEdge.Data;

namespace FedEdge.Coordination;

/// <summary>Checks a device's local data before it may train: rows present, every value finite.</summary>
internal static class LocalDataCheck
{
    /// <summary>Why the data cannot be trained on, or null when they can.</summary>
    public static string? Describe(Dataset data)
    {
        if (data.Count == 0)
        {
            return "bad local data: the data set has no rows";
        }

        ReadOnlySpan<float> features = data.Features;
        for (int i = 0; i < features.Length; i++)
        {
            if (!float.IsFinite(features[i]))
            {
                return $"bad local data: row {i / data.FeatureCount} feature {i % data.FeatureCount} is {features[i]}";
            }
        }

        ReadOnlySpan<float> labels = data.Labels;
        for (int i = 0; i < labels.Length; i++)
        {
            if (!float.IsFinite(labels[i]))
            {
                return $"bad local data: the label of row {i} is {labels[i]}";
            }
        }

        return null;
    }
}
