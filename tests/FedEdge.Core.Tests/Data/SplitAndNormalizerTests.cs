using FedEdge.Data;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Core.Tests.Data;

public sealed class SplitAndNormalizerTests
{
    [Fact]
    public void StratifiedSplit_RealRows_KeepsLabelRatioAndIsDisjoint()
    {
        Dataset all = NbaiotFixture.All;
        (Dataset train, Dataset test) = DataSplits.StratifiedSplit(all, 0.2, seed: 3);
        Assert.Equal(all.Count, train.Count + test.Count);
        double allRatio = all.IndicesWithLabel(1).Count / (double)all.Count;
        double testRatio = test.IndicesWithLabel(1).Count / (double)test.Count;
        Assert.InRange(testRatio, allRatio - 0.002, allRatio + 0.002);
        Assert.InRange(test.Count, (int)(all.Count * 0.2) - 2, (int)(all.Count * 0.2) + 2);
    }

    [Fact]
    public void StratifiedSplit_SameSeed_SameSplit()
    {
        Dataset all = NbaiotFixture.Devices[0].Data;
        var a = DataSplits.StratifiedSplit(all, 0.2, 9);
        var b = DataSplits.StratifiedSplit(all, 0.2, 9);
        Assert.True(a.Test.Features.SequenceEqual(b.Test.Features));
        var c = DataSplits.StratifiedSplit(all, 0.2, 10);
        Assert.False(a.Test.Features.SequenceEqual(c.Test.Features));
    }

    [Fact]
    public void MinMaxNormalizer_FittedOnTrain_MapsTrainIntoUnitRange()
    {
        (Dataset train, _, _) = NbaiotFixture.ScaledSplit();
        foreach (float v in train.Features)
        {
            Assert.InRange(v, 0f, 1f);
        }
    }

    [Fact]
    public void ScaledStratifiedSplit_FitsOnTrainingRowsOnly_MatchesSplitThenFit()
    {
        Dataset data = NbaiotFixture.Devices[0].Data;
        (Dataset train, Dataset test, MinMaxNormalizer normalizer) = DataSplits.ScaledStratifiedSplit(data, 0.2, 3);
        (Dataset rawTrain, Dataset rawTest) = DataSplits.StratifiedSplit(data, 0.2, 3);
        MinMaxNormalizer expected = MinMaxNormalizer.Fit(rawTrain);
        Assert.Equal(expected.Min, normalizer.Min);
        Assert.True(expected.Transform(rawTrain).Features.SequenceEqual(train.Features));
        Assert.True(expected.Transform(rawTest).Features.SequenceEqual(test.Features));
    }

    [Fact]
    public void MinMaxNormalizer_JsonRoundTrip_TransformsIdentically()
    {
        (Dataset train, Dataset test) = DataSplits.StratifiedSplit(NbaiotFixture.Devices[1].Data, 0.2, 1);
        MinMaxNormalizer fitted = MinMaxNormalizer.Fit(train);
        MinMaxNormalizer restored = MinMaxNormalizer.FromJson(fitted.ToJson());
        Assert.True(fitted.Transform(test).Features.SequenceEqual(restored.Transform(test).Features));
        Assert.Equal(fitted.Min, restored.Min);
        Assert.Equal(fitted.FeatureNames, restored.FeatureNames);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("{\"kind\":\"minmax\",\"min\":[1],\"max\":[0]}")]
    [InlineData("{\"kind\":\"minmax\",\"min\":[1,2],\"max\":[3]}")]
    [InlineData("[1,2")]
    public void MinMaxNormalizer_FromBadJson_ThrowsFormatException(string json) =>
        Assert.ThrowsAny<FormatException>(() => MinMaxNormalizer.FromJson(json));

    [Fact]
    public void MinMaxNormalizer_OtherFeatureCount_Throws()
    {
        MinMaxNormalizer n = MinMaxNormalizer.Fit(new Dataset([1, 2, 3, 4], [0, 1], 2));
        Assert.Throws<ArgumentException>(() => n.Transform(new Dataset([1, 2, 3], [0], 3)));
    }

    [Property(MaxTest = 50)]
    public Property Dirichlet_AnyAlpha_PartitionsEveryRowExactlyOnce(PositiveInt clientsRaw, PositiveInt alphaTenths, int seed)
    {
        int clients = 1 + (clientsRaw.Get % 10);
        double alpha = 0.05 + (alphaTenths.Get % 100) / 10.0;
        var labels = Enumerable.Range(0, 200).Select(i => (float)(i % 3 == 0 ? 1 : 0)).ToArray();
        var features = Enumerable.Range(0, 200).Select(i => (float)i).ToArray();
        var data = new Dataset(features, labels, 1);
        var parts = DataSplits.Dirichlet(data, clients, alpha, seed);
        var seen = parts.SelectMany(p => p.Data.Features.ToArray()).OrderBy(v => v).ToArray();
        return seen.SequenceEqual(features).ToProperty();
    }

    [Fact]
    public void Dirichlet_SmallAlpha_SkewsLabelsMoreThanLargeAlpha()
    {
        Dataset all = NbaiotFixture.All;
        double Skew(double alpha)
        {
            var parts = DataSplits.Dirichlet(all, 8, alpha, seed: 4, keepEmpty: true);
            double overall = all.IndicesWithLabel(1).Count / (double)all.Count;
            return parts.Where(p => p.Data.Count > 0).Average(p => Math.Abs((p.Data.IndicesWithLabel(1).Count / (double)p.Data.Count) - overall));
        }

        Assert.True(Skew(0.1) > Skew(100) + 0.1, $"α=0.1 skew {Skew(0.1)}, α=100 skew {Skew(100)}");
    }

    [Fact]
    public void Iid_FiveClients_SizesDifferByAtMostOne()
    {
        Dataset all = NbaiotFixture.Devices[0].Data;
        var parts = DataSplits.Iid(all, 5, 2);
        Assert.Equal(5, parts.Count);
        Assert.Equal(all.Count, parts.Sum(p => p.Data.Count));
        Assert.True(parts.Max(p => p.Data.Count) - parts.Min(p => p.Data.Count) <= 1);
    }
}
