using FedEdge.Metrics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Core.Tests.Metrics;

public sealed class ClassificationMetricsTests
{
    [Fact]
    public void Compute_KnownCase_MatchesHandCounts()
    {
        float[] scores = [0.9f, 0.8f, 0.3f, 0.6f, 0.1f, 0.4f];
        float[] labels = [1, 1, 1, 0, 0, 0];
        var m = ClassificationMetrics.Compute(scores, labels);
        Assert.Equal((2L, 1L, 2L, 1L), (m.TruePositives, m.FalsePositives, m.TrueNegatives, m.FalseNegatives));
        Assert.Equal(4.0 / 6, m.Accuracy, 12);
        Assert.Equal(2.0 / 3, m.Precision, 12);
        Assert.Equal(2.0 / 3, m.Recall, 12);
        Assert.Equal(2.0 / 3, m.F1, 12);
        Assert.Equal(1.0 / 3, m.FalsePositiveRate, 12);
        // Pairs (pos, neg) ranked correctly: 0.9 beats all 3, 0.8 beats all 3, 0.3 beats 0.1 only -> 7/9.
        Assert.Equal(7.0 / 9, m.RocAuc!.Value, 12);
        Assert.Equal(new long[,] { { 2, 1 }, { 1, 2 } }, m.ConfusionMatrix);
    }

    [Fact]
    public void ComputeRocAuc_AllTied_IsOneHalf() =>
        Assert.Equal(0.5, ClassificationMetrics.ComputeRocAuc([0.5f, 0.5f, 0.5f, 0.5f], [1, 0, 1, 0])!.Value, 12);

    [Fact]
    public void ComputeRocAuc_OneClass_IsNull() =>
        Assert.Null(ClassificationMetrics.ComputeRocAuc([0.1f, 0.7f], [1, 1]));

    [Fact]
    public void Compute_NonBinaryLabel_Throws() =>
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute([0.1f], [2]));

    [Fact]
    public void Compute_NoPositivePredictions_PrecisionIsZero()
    {
        var m = ClassificationMetrics.Compute([0.1f, 0.2f], [1, 0]);
        Assert.Equal(0, m.Precision);
        Assert.Equal(0, m.F1);
    }

    [Property(MaxTest = 200)]
    public Property ComputeRocAuc_EqualsPairCounting(NonEmptyArray<byte> raw)
    {
        float[] scores = raw.Get.Select(b => (b % 7) / 7f).ToArray();
        float[] labels = raw.Get.Select(b => (float)((b >> 3) & 1)).ToArray();
        double? auc = ClassificationMetrics.ComputeRocAuc(scores, labels);
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            for (int j = 0; j < scores.Length; j++)
            {
                if (labels[i] == 1 && labels[j] == 0)
                {
                    pairs++;
                    wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
                }
            }
        }

        return (pairs == 0 ? auc is null : Math.Abs(auc!.Value - (wins / pairs)) < 1e-9).ToProperty();
    }
}
