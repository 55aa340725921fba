namespace FedEdge.Metrics;

/// <summary>
/// Binary classification quality at one decision threshold: the confusion matrix and the measures
/// derived from it, plus the threshold-free ROC-AUC. Label 1 is the positive class (attack).
/// </summary>
/// <remarks>
/// A ratio whose denominator is zero (for example precision when nothing was predicted positive) is 0,
/// following scikit-learn's <c>zero_division=0</c>; <see cref="RocAuc"/> is null when only one class occurs.
/// </remarks>
public sealed record ClassificationMetrics
{
    /// <summary>Rows with label 1 scored at or above the threshold.</summary>
    public required long TruePositives { get; init; }

    /// <summary>Rows with label 0 scored at or above the threshold.</summary>
    public required long FalsePositives { get; init; }

    /// <summary>Rows with label 0 scored below the threshold.</summary>
    public required long TrueNegatives { get; init; }

    /// <summary>Rows with label 1 scored below the threshold.</summary>
    public required long FalseNegatives { get; init; }

    /// <summary>The decision threshold the counts were taken at.</summary>
    public required double Threshold { get; init; }

    /// <summary>The area under the ROC curve (ties count one half), or null when one class is absent.</summary>
    public double? RocAuc { get; init; }

    /// <summary>The number of rows.</summary>
    public long Count => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;

    /// <summary>(TP + TN) / all.</summary>
    public double Accuracy => Ratio(TruePositives + TrueNegatives, Count);

    /// <summary>TP / (TP + FP).</summary>
    public double Precision => Ratio(TruePositives, TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN), the detection rate.</summary>
    public double Recall => Ratio(TruePositives, TruePositives + FalseNegatives);

    /// <summary>The harmonic mean of precision and recall: 2TP / (2TP + FP + FN).</summary>
    public double F1 => Ratio(2 * TruePositives, (2 * TruePositives) + FalsePositives + FalseNegatives);

    /// <summary>FP / (FP + TN), the false alarm rate.</summary>
    public double FalsePositiveRate => Ratio(FalsePositives, FalsePositives + TrueNegatives);

    /// <summary>The confusion matrix as <c>[actual, predicted]</c>: <c>[0,0]=TN, [0,1]=FP, [1,0]=FN, [1,1]=TP</c>.</summary>
    public long[,] ConfusionMatrix => new long[,] { { TrueNegatives, FalsePositives }, { FalseNegatives, TruePositives } };

    /// <summary>
    /// Computes the metrics for <paramref name="scores"/> (higher means more likely positive) against
    /// 0/1 <paramref name="labels"/>; a row is predicted positive when its score is at least <paramref name="threshold"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The spans differ in length, a label is not 0 or 1, or a score is NaN.</exception>
    public static ClassificationMetrics Compute(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels, double threshold = 0.5)
    {
        if (scores.Length != labels.Length)
        {
            throw new ArgumentException($"{scores.Length} scores for {labels.Length} labels.", nameof(scores));
        }

        long tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            if (float.IsNaN(scores[i]))
            {
                throw new ArgumentException($"Score {i} is NaN.", nameof(scores));
            }

            bool positive = labels[i] switch
            {
                1f => true,
                0f => false,
                _ => throw new ArgumentException($"Label {i} is {labels[i]}; binary metrics need labels 0 or 1.", nameof(labels)),
            };
            bool predicted = scores[i] >= threshold;
            if (positive)
            {
                if (predicted) { tp++; } else { fn++; }
            }
            else
            {
                if (predicted) { fp++; } else { tn++; }
            }
        }

        return new ClassificationMetrics
        {
            TruePositives = tp,
            FalsePositives = fp,
            TrueNegatives = tn,
            FalseNegatives = fn,
            Threshold = threshold,
            RocAuc = ComputeRocAuc(scores, labels),
        };
    }

    /// <summary>
    /// The ROC-AUC by the rank-sum (Mann-Whitney U) identity, with tied scores sharing their mean rank;
    /// null when all labels are equal.
    /// </summary>
    public static double? ComputeRocAuc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        if (scores.Length != labels.Length)
        {
            throw new ArgumentException($"{scores.Length} scores for {labels.Length} labels.", nameof(scores));
        }

        int n = scores.Length;
        var order = new int[n];
        var keys = scores.ToArray();
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        Array.Sort(keys, order);
        long positives = 0;
        double positiveRankSum = 0;
        int start = 0;
        while (start < n)
        {
            int end = start;
            while (end + 1 < n && keys[end + 1] == keys[start])
            {
                end++;
            }

            double meanRank = ((start + end) / 2.0) + 1.0;
            for (int k = start; k <= end; k++)
            {
                if (labels[order[k]] == 1f)
                {
                    positives++;
                    positiveRankSum += meanRank;
                }
            }

            start = end + 1;
        }

        long negatives = n - positives;
        if (positives == 0 || negatives == 0)
        {
            return null;
        }

        return (positiveRankSum - (positives * (positives + 1) / 2.0)) / ((double)positives * negatives);
    }

    /// <summary>The metrics as a name → value map (for <see cref="Training.EvaluationResult.Metrics"/> and reports).</summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var map = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = Accuracy,
            ["precision"] = Precision,
            ["recall"] = Recall,
            ["f1"] = F1,
            ["fpr"] = FalsePositiveRate,
            ["tp"] = TruePositives,
            ["fp"] = FalsePositives,
            ["tn"] = TrueNegatives,
            ["fn"] = FalseNegatives,
            ["threshold"] = Threshold,
        };
        if (RocAuc is double auc)
        {
            map["roc_auc"] = auc;
        }

        return map;
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0.0 : (double)numerator / denominator;
}
