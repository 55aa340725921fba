using System.Globalization;
using System.Text.Json;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// What one device tells the coordinator about its own training rows in round 0: per feature the count, minimum,
/// maximum, sum and sum of squares. Computed on the device; its rows never leave it.
/// </summary>
internal sealed record FeatureSummary(string Device, long Count, double[] Min, double[] Max, double[] Sum, double[] SumOfSquares)
{
    /// <summary>Summarises a device's own rows.</summary>
    /// <exception cref="ArgumentException">The rows hold a non-finite value.</exception>
    public static FeatureSummary Of(string device, Dataset local)
    {
        int n = local.FeatureCount;
        var min = new double[n];
        var max = new double[n];
        var sum = new double[n];
        var sq = new double[n];
        Array.Fill(min, double.PositiveInfinity);
        Array.Fill(max, double.NegativeInfinity);
        for (int r = 0; r < local.Count; r++)
        {
            ReadOnlySpan<float> row = local.Row(r);
            for (int f = 0; f < n; f++)
            {
                double v = row[f];
                if (!double.IsFinite(v))
                {
                    throw new ArgumentException($"{device}: row {r}, feature {f} is {v}; only finite values can be summarised.");
                }

                min[f] = Math.Min(min[f], v);
                max[f] = Math.Max(max[f], v);
                sum[f] += v;
                sq[f] += v * v;
            }
        }

        return new FeatureSummary(device, local.Count, min, max, sum, sq);
    }
}

/// <summary>What one device reports about its benign reconstruction errors: count, sum and sum of squares (mergeable).</summary>
internal sealed record ErrorSummary(string Device, long Count, double Sum, double SumOfSquares)
{
    /// <summary>Summarises errors computed on the device.</summary>
    public static ErrorSummary Of(string device, ReadOnlySpan<float> errors)
    {
        double s = 0, q = 0;
        foreach (float e in errors)
        {
            if (!float.IsFinite(e))
            {
                throw new ArgumentException($"{device}: a reconstruction error is not finite.");
            }

            s += e;
            q += (double)e * e;
        }

        return new ErrorSummary(device, errors.Length, s, q);
    }
}

/// <summary>
/// Federated preprocessing: the coordinator's side of round 0 and of the threshold. It receives only
/// <see cref="FeatureSummary"/> and <see cref="ErrorSummary"/> records, never a row, and merges them:
/// the min–max normaliser from the minimum of the minima and the maximum of the maxima (equal to fitting on
/// the union of the rows, without the rows), and the anomaly threshold mean + k·std from the summed counts,
/// sums and sums of squares (the pooled mean and population standard deviation, exactly).
/// </summary>
internal static class FederatedPreprocessing
{
    /// <summary>Where the federated run's normaliser and threshold came from, for the report.</summary>
    public const string Provenance = "federated: normaliser from per-device min/max/count/sums (round 0), threshold from per-device error count/sum/sum of squares; the centralised baseline fits both on pooled rows";

    /// <summary>Merges the devices' round-0 summaries into a min–max normaliser (clipping to [0, 1]).</summary>
    /// <exception cref="ArgumentException">No summaries, or they disagree on the feature count.</exception>
    public static MinMaxNormalizer MergeNormalizer(IReadOnlyList<FeatureSummary> summaries, IReadOnlyList<string> featureNames)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        var used = summaries.Where(s => s.Count > 0).ToList();
        if (used.Count == 0)
        {
            throw new ArgumentException("No device reported any training rows in round 0; nothing to fit the normaliser on.");
        }

        int n = featureNames.Count;
        if (used.Any(s => s.Min.Length != n || s.Max.Length != n || s.Sum.Length != n || s.SumOfSquares.Length != n))
        {
            throw new ArgumentException($"A round-0 summary does not have {n} features.");
        }

        var min = new double[n];
        var max = new double[n];
        for (int f = 0; f < n; f++)
        {
            min[f] = used.Min(s => s.Min[f]);
            max[f] = used.Max(s => s.Max[f]);
        }

        string json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "minmax",
            ["min"] = min,
            ["max"] = max,
            ["featureNames"] = featureNames,
            ["clip"] = true,
        });
        return MinMaxNormalizer.FromJson(json);
    }

    /// <summary>The pooled mean and population variance per feature from the summaries (for the report).</summary>
    public static (double[] Mean, double[] Variance) MergeMoments(IReadOnlyList<FeatureSummary> summaries)
    {
        long count = summaries.Sum(s => s.Count);
        int n = summaries[0].Sum.Length;
        var mean = new double[n];
        var variance = new double[n];
        for (int f = 0; f < n; f++)
        {
            double sum = summaries.Sum(s => s.Sum[f]);
            double sq = summaries.Sum(s => s.SumOfSquares[f]);
            mean[f] = sum / count;
            variance[f] = Math.Max(0, (sq / count) - (mean[f] * mean[f]));
        }

        return (mean, variance);
    }

    /// <summary>The threshold mean + k·std from the devices' error summaries (k = 1, as <see cref="AnomalyThreshold.Fit"/>'s default).</summary>
    /// <exception cref="ArgumentException">No device reported a benign error.</exception>
    public static AnomalyThreshold MergeThreshold(IReadOnlyList<ErrorSummary> summaries, double k = 1.0)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        long count = summaries.Sum(s => s.Count);
        if (count == 0)
        {
            throw new ArgumentException("No device reported a benign reconstruction error; cannot fit the anomaly threshold.");
        }

        double mean = summaries.Sum(s => s.Sum) / count;
        double variance = Math.Max(0, (summaries.Sum(s => s.SumOfSquares) / count) - (mean * mean));
        double std = Math.Sqrt(variance);
        return new AnomalyThreshold
        {
            Method = ThresholdMethod.MeanPlusKStd,
            Parameter = k,
            Value = mean + (k * std),
            Mean = mean,
            StdDev = std,
            SampleCount = (int)Math.Min(int.MaxValue, count),
        };
    }

    /// <summary>A one-line description of a summary, as the device would log it.</summary>
    public static string Describe(FeatureSummary s) => string.Create(CultureInfo.InvariantCulture, $"{s.Device}: {s.Count} rows, {s.Min.Length} features");
}
