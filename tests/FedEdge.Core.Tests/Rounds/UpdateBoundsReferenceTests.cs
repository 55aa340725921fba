using FedEdge.Rounds;

namespace FedEdge.Core.Tests.Rounds;

/// <summary>
/// The relative bound's reference on a non-IID federation: most devices already fit by the model send tiny changes,
/// a minority with something to teach sends large ones.
/// </summary>
public sealed class UpdateBoundsReferenceTests
{
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", 1));

    private static readonly double[] NonIidNorms = [.. Enumerable.Repeat(0.001, 8), .. Enumerable.Repeat(1.0, 5)];

    private static ModelUpdate Change(double norm) => new()
    {
        SenderId = "d",
        Round = 2,
        Nonce = "n",
        SampleCount = 10,
        Kind = UpdateKind.Delta,
        Values = new ParameterSet(Layout, [(float)norm]),
    };

    [Fact]
    public void Reference_Default_IsTheUpperQuartileSoTheInformativeMinorityStaysWithinTheBound()
    {
        var bounds = new UpdateBounds();
        var global = new ParameterSet(Layout);

        double? reference = bounds.Reference(NonIidNorms);

        Assert.Equal(1.0, reference);
        Assert.Null(bounds.Check(Change(1.0), global, reference, out _));
        Assert.Contains("reference norm", bounds.Check(Change(30), global, reference, out _), StringComparison.Ordinal);
    }

    [Fact]
    public void Reference_MedianQuantile_RefusesEveryInformativeDevice()
    {
        var bounds = new UpdateBounds { ReferenceQuantile = 0.5 };

        double? reference = bounds.Reference(NonIidNorms);

        Assert.Equal(0.001, reference);
        Assert.NotNull(bounds.Check(Change(1.0), new ParameterSet(Layout), reference, out _));
    }

    [Fact]
    public void Reference_FewerThanAQuarterHostile_StaysAnHonestNorm()
    {
        // 13 honest norms in [0.5, 1.1] and 3 updates scaled by 1000.
        double[] norms = [.. Enumerable.Range(0, 13).Select(i => 0.5 + (i * 0.05)), 1000, 1000, 1000];

        Assert.InRange(new UpdateBounds().Reference(norms)!.Value, 0.5, 1.1);
        Assert.Null(new UpdateBounds().Reference([]));
    }
}
