using FedEdge.Transport.Faults;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Transport.Tests;

public class FaultSpecTests
{
    private const string AcceptedKeys = "use drop, duplicate, delay, delay-rate, reorder, corrupt, seed";

    /// <summary>Probabilities: the edges, round decimals and full-precision doubles.</summary>
    private static readonly Gen<double> Probability = Gen.OneOf(
        Gen.Elements(0.0, 1.0, 0.5, 0.1),
        Gen.Choose(0, 1000).Select(i => i / 1000.0),
        Gen.Choose(0, int.MaxValue).Select(i => i / (double)int.MaxValue));

    /// <summary>Valid options: exclusive rates scaled to sum to at most 1, any delay rate, delays from 0 to 1 day in ticks, any seed.</summary>
    public static Arbitrary<FaultOptions> ValidOptions() =>
        (from weights in Gen.ArrayOf(Probability, 4)
         from budget in Probability
         from delayRate in Probability
         from delayMs in Gen.OneOf(Gen.Elements(0, 50, 200, 1000), Gen.Choose(0, 86_400_000))
         from subMillisecondTicks in Gen.OneOf(Gen.Constant(0), Gen.Choose(0, 9_999))
         from seed in Gen.Choose(int.MinValue, int.MaxValue)
         let scale = weights.Sum() > budget ? budget / weights.Sum() : 1
         select new FaultOptions
         {
             DropRate = weights[0] * scale,
             DuplicateRate = weights[1] * scale,
             ReorderRate = weights[2] * scale,
             CorruptRate = weights[3] * scale,
             DelayRate = delayRate,
             MaxDelay = TimeSpan.FromTicks(Math.Min(FaultOptions.MaxDuration.Ticks, (delayMs * TimeSpan.TicksPerMillisecond) + subMillisecondTicks)),
             Seed = seed,
         }).ToArbitrary();

    /// <summary>Strings made of spec-like pieces, so the parser meets near misses and not only noise.</summary>
    public static Arbitrary<string> SpecLike() =>
        Gen.Elements("drop", "duplicate", "delay", "delay-rate", "reorder", "corrupt", "seed", "drp", "=", ",", "0", "1", "0.5", "-", "1e-3", "ms", "s", "NaN", " ", "9999999999", ".", "e", "%")
            .ArrayOf()
            .Select(parts => string.Concat(parts.Take(16)))
            .ToArbitrary();

    [Property(MaxTest = 500, Arbitrary = [typeof(FaultSpecTests)])]
    public bool ToString_ValidOptions_RoundTripsThroughParse(FaultOptions options)
    {
        options.Validate();
        FaultOptions parsed = FaultOptions.Parse(options.ToString());
        return parsed.DropRate == options.DropRate
               && parsed.DuplicateRate == options.DuplicateRate
               && parsed.DelayRate == options.DelayRate
               && parsed.ReorderRate == options.ReorderRate
               && parsed.CorruptRate == options.CorruptRate
               && parsed.MaxDelay == options.MaxDelay
               && parsed.Seed == options.Seed
               && parsed.ToString() == options.ToString();
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(FaultSpecTests)])]
    public bool Parse_SpecLikeString_ReturnsValidOptionsOrThrowsFaultSpecException(string spec)
    {
        try
        {
            FaultOptions parsed = FaultOptions.Parse(spec);
            parsed.Validate();
            return FaultOptions.TryParse(spec, out FaultOptions? again) && again.ToString() == parsed.ToString();
        }
        catch (FaultSpecException error)
        {
            return !FaultOptions.TryParse(spec, out _) && error.Message.StartsWith("fault spec '", StringComparison.Ordinal) && error.Spec == spec;
        }
    }

    [Fact]
    public void Parse_CliExample_SetsRatesDelayAndSeed()
    {
        FaultOptions options = FaultOptions.Parse("drop=0.5,duplicate=0.1,delay=50ms,seed=7");
        Assert.Equal(0.5, options.DropRate);
        Assert.Equal(0.1, options.DuplicateRate);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.MaxDelay);
        Assert.Equal(1, options.DelayRate);
        Assert.Equal(0, options.ReorderRate);
        Assert.Equal(0, options.CorruptRate);
        Assert.Equal(7, options.Seed);
        Assert.Equal("drop=0.5,duplicate=0.1,delay=50ms,seed=7", options.ToString());
    }

    [Fact]
    public void Parse_DelayRateBeforeDelay_KeepsTheGivenRate()
    {
        FaultOptions options = FaultOptions.Parse("delay-rate=0.25,delay=2s");
        Assert.Equal(0.25, options.DelayRate);
        Assert.Equal(TimeSpan.FromSeconds(2), options.MaxDelay);
        Assert.Equal(1, options.Seed);
        Assert.Equal("delay=2s,delay-rate=0.25,seed=1", options.ToString());
    }

    [Fact]
    public void Parse_DelayRateAlone_KeepsTheDefaultMaxDelay()
    {
        FaultOptions options = FaultOptions.Parse("delay-rate=0.3");
        Assert.Equal(0.3, options.DelayRate);
        Assert.Equal(FaultOptions.DefaultMaxDelay, options.MaxDelay);
    }

    [Fact]
    public void Parse_SpacesAndUpperCaseKeys_AreAccepted()
    {
        FaultOptions options = FaultOptions.Parse(" reorder = 0.2 , CORRUPT=0.05 ,Drop=1e-1, seed=-3 ");
        Assert.Equal(0.2, options.ReorderRate);
        Assert.Equal(0.05, options.CorruptRate);
        Assert.Equal(0.1, options.DropRate);
        Assert.Equal(-3, options.Seed);
        Assert.Equal(0, options.DelayRate);
    }

    [Theory]
    [InlineData("delay=0.5s", 500 * TimeSpan.TicksPerMillisecond)]
    [InlineData("delay=2.5ms", 25_000)]
    [InlineData("delay=0ms", 0)]
    [InlineData("delay=1S", TimeSpan.TicksPerSecond)]
    [InlineData("delay=86400s", TimeSpan.TicksPerDay)]
    public void Parse_Durations_AcceptMillisecondsAndSeconds(string spec, long ticks)
    {
        Assert.Equal(TimeSpan.FromTicks(ticks), FaultOptions.Parse(spec).MaxDelay);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Parse_Empty_MeansNoFaults(string spec)
    {
        FaultOptions options = FaultOptions.Parse(spec);
        Assert.Equal(0, options.DropRate + options.DuplicateRate + options.DelayRate + options.ReorderRate + options.CorruptRate);
        Assert.Equal("seed=1", options.ToString());
    }

    [Fact]
    public void Parse_ExclusiveRatesSummingToOneWithRounding_IsValid()
    {
        FaultOptions options = FaultOptions.Parse("drop=0.1,duplicate=0.2,corrupt=0.7,delay=10ms");
        options.Validate();
        Assert.Equal(1, options.DelayRate);
    }

    [Fact]
    public void Parse_UnknownKey_NamesTheTokenAndTheAcceptedKeys()
    {
        FaultSpecException error = Assert.Throws<FaultSpecException>(() => FaultOptions.Parse("drp=0.5"));
        Assert.Equal("fault spec 'drp=0.5': unknown key 'drp'; " + AcceptedKeys, error.Message);
        Assert.Equal("drp=0.5", error.Token);
        Assert.Equal("drp=0.5", error.Spec);
        Assert.IsAssignableFrom<FormatException>(error);
    }

    [Theory]
    [InlineData("drop=1.5", "drop=1.5", "not a probability")]
    [InlineData("drop=0.2,duplicate=-0.1", "duplicate=-0.1", "not a probability")]
    [InlineData("corrupt=abc", "corrupt=abc", "in [0, 1]")]
    [InlineData("reorder=NaN", "reorder=NaN", "not a probability")]
    [InlineData("delay-rate=", "delay-rate=", "not a probability")]
    [InlineData("delay=50", "delay=50", "needs a unit")]
    [InlineData("delay=-5ms", "delay=-5ms", "not a duration")]
    [InlineData("delay=2days", "delay=2days", "not a duration")]
    [InlineData("delay=86401s", "delay=86401s", "not a duration")]
    [InlineData("seed=1.5", "seed=1.5", "not a whole number")]
    [InlineData("seed=99999999999", "seed=99999999999", "not a whole number")]
    [InlineData("drop", "drop", "expected key=value")]
    [InlineData("drop=0.5,,seed=1", "drop=0.5,,seed=1", "empty entry")]
    [InlineData("drop=0.5,drop=0.2", "drop=0.2", "given twice")]
    [InlineData("drop=0.7,duplicate=0.5", "drop=0.7,duplicate=0.5", "at most 1")]
    [InlineData("reorder=0.6,corrupt=0.6,delay=1s", "reorder=0.6,corrupt=0.6,delay=1s", "at most 1")]
    public void Parse_InvalidSpec_ThrowsNamingTheBadToken(string spec, string token, string fragment)
    {
        FaultSpecException error = Assert.Throws<FaultSpecException>(() => FaultOptions.Parse(spec));
        Assert.Equal(token, error.Token);
        Assert.StartsWith($"fault spec '{token}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.False(FaultOptions.TryParse(spec, out FaultOptions? options));
        Assert.Null(options);
    }

    [Fact]
    public void TryParse_Null_ReturnsFalse()
    {
        Assert.False(FaultOptions.TryParse(null, out FaultOptions? options));
        Assert.Null(options);
        Assert.Throws<ArgumentNullException>(() => FaultOptions.Parse(null!));
    }

    [Fact]
    public void TryParse_Valid_ReturnsTheOptions()
    {
        Assert.True(FaultOptions.TryParse("corrupt=0.01,seed=42", out FaultOptions? options));
        Assert.Equal(0.01, options.CorruptRate);
        Assert.Equal(42, options.Seed);
    }

    [Fact]
    public void ToString_DelayRateZeroWithCustomDelay_KeepsBoth()
    {
        var options = new FaultOptions { ReorderRate = 0.1, MaxDelay = TimeSpan.FromMilliseconds(1.5) };
        Assert.Equal("reorder=0.1,delay=1.5ms,delay-rate=0,seed=1", options.ToString());
        Assert.Equal(options.MaxDelay, FaultOptions.Parse(options.ToString()).MaxDelay);
    }
}
