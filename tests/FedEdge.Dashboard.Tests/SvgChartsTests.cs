namespace FedEdge.Dashboard.Tests;

public sealed class SvgChartsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(47)]
    [InlineData(500)]
    public void RoundTicks_AnyRoundCount_IntegersWithinTheRoundsAtMostEleven(int count)
    {
        RoundEntry[] rounds = [.. Enumerable.Range(1, count).Select(r => new RoundEntry(r, true, null, 2, 0.5, 0.9, 10, 20, 0.1, null, [], []))];

        long[] ticks = [.. SvgCharts.RoundTicks(rounds)];

        Assert.Equal(1, ticks[0]);
        Assert.InRange(ticks.Length, 1, 11);
        Assert.All(ticks, t => Assert.InRange(t, 1, count));
        Assert.Equal(ticks.Order().Distinct(), ticks);
        string svg = SvgCharts.Quality(rounds);
        Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
        Assert.Contains("series-F1", svg, StringComparison.Ordinal);
        Assert.DoesNotContain(">1.5<", svg, StringComparison.Ordinal);
    }
}
