using FedEdge.Data;

namespace FedEdge.Privacy.Tests;

/// <summary>The per-feature mean of a data set, the value the tests' mean-seeking trainers move towards.</summary>
internal static class DatasetMeans
{
    public static float[] Of(Dataset data)
    {
        var sum = new double[data.FeatureCount];
        for (int r = 0; r < data.Count; r++)
        {
            ReadOnlySpan<float> row = data.Row(r);
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += row[i];
            }
        }

        return sum.Select(s => (float)(s / data.Count)).ToArray();
    }
}
