using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace FedEdge.Transport.Faults;

/// <summary>Reads and writes the spec form of <see cref="FaultOptions"/>: <c>drop=0.5,duplicate=0.1,delay=50ms,seed=7</c>.</summary>
internal static class FaultSpec
{
    private const string Drop = "drop";
    private const string Duplicate = "duplicate";
    private const string Delay = "delay";
    private const string DelayRate = "delay-rate";
    private const string Reorder = "reorder";
    private const string Corrupt = "corrupt";
    private const string Seed = "seed";

    private const string Keys = "use drop, duplicate, delay, delay-rate, reorder, corrupt, seed";

    /// <summary>Parses <paramref name="spec"/>; null with <paramref name="error"/> set when it is malformed.</summary>
    public static FaultOptions? Parse(string spec, out FaultSpecException? error)
    {
        var options = new FaultOptions();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        error = null;
        if (string.IsNullOrWhiteSpace(spec))
        {
            return options;
        }

        foreach (string raw in spec.Split(','))
        {
            string token = raw.Trim();
            error = ParseEntry(spec, token, options, seen);
            if (error is not null)
            {
                return null;
            }
        }

        if (seen.Contains(Delay) && !seen.Contains(DelayRate))
        {
            options.DelayRate = 1;
        }

        if (!FaultOptions.ExclusiveRatesFit(options.DropRate, options.DuplicateRate, options.ReorderRate, options.CorruptRate))
        {
            double sum = options.DropRate + options.DuplicateRate + options.ReorderRate + options.CorruptRate;
            error = new FaultSpecException(spec, spec.Trim(), $"drop + duplicate + reorder + corrupt is {Format(sum)}; it must be at most 1 (at most one of them applies to a message; delay is drawn independently)");
            return null;
        }

        return options;
    }

    /// <summary>The spec form of <paramref name="options"/>; <see cref="Parse"/> reads it back to equal settings.</summary>
    public static string Format(FaultOptions options)
    {
        var parts = new List<string>();
        AddRate(parts, Drop, options.DropRate);
        AddRate(parts, Duplicate, options.DuplicateRate);
        AddRate(parts, Reorder, options.ReorderRate);
        AddRate(parts, Corrupt, options.CorruptRate);
        if (options.DelayRate == 1)
        {
            parts.Add($"{Delay}={FormatDuration(options.MaxDelay)}");
        }
        else if (options.DelayRate != 0 || options.MaxDelay != FaultOptions.DefaultMaxDelay)
        {
            parts.Add($"{Delay}={FormatDuration(options.MaxDelay)}");
            parts.Add($"{DelayRate}={Format(options.DelayRate)}");
        }

        parts.Add($"{Seed}={options.Seed.ToString(CultureInfo.InvariantCulture)}");
        return string.Join(',', parts);
    }

    private static FaultSpecException? ParseEntry(string spec, string token, FaultOptions options, HashSet<string> seen)
    {
        if (token.Length == 0)
        {
            return new FaultSpecException(spec, spec, $"empty entry (a stray comma); write key=value entries separated by commas, {Keys}");
        }

        int equals = token.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0)
        {
            return new FaultSpecException(spec, token, $"expected key=value; {Keys}");
        }

        string key = token[..equals].Trim().ToLowerInvariant();
        string value = token[(equals + 1)..].Trim();
        if (key is not (Drop or Duplicate or Delay or DelayRate or Reorder or Corrupt or Seed))
        {
            return new FaultSpecException(spec, token, $"unknown key '{token[..equals].Trim()}'; {Keys}");
        }

        if (!seen.Add(key))
        {
            return new FaultSpecException(spec, token, $"'{key}' is given twice; give each key once");
        }

        switch (key)
        {
            case Seed:
                if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int seed))
                {
                    return new FaultSpecException(spec, token, $"the seed '{value}' is not a whole number in [{int.MinValue}, {int.MaxValue}]");
                }

                options.Seed = seed;
                return null;
            case Delay:
                if (!TryParseDuration(value, out TimeSpan delay, out string? problem))
                {
                    return new FaultSpecException(spec, token, problem);
                }

                options.MaxDelay = delay;
                return null;
            default:
                if (!double.TryParse(value, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out double rate) || !FaultOptions.IsRate(rate))
                {
                    return new FaultSpecException(spec, token, $"the {key} rate '{value}' is not a probability; write a number in [0, 1] such as {key}=0.25");
                }

                switch (key)
                {
                    case Drop: options.DropRate = rate; break;
                    case Duplicate: options.DuplicateRate = rate; break;
                    case DelayRate: options.DelayRate = rate; break;
                    case Reorder: options.ReorderRate = rate; break;
                    default: options.CorruptRate = rate; break;
                }

                return null;
        }
    }

    private static bool TryParseDuration(string value, out TimeSpan duration, [NotNullWhen(false)] out string? problem)
    {
        duration = default;
        (string number, decimal ticksPerUnit) = value.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (value[..^2], TimeSpan.TicksPerMillisecond)
            : value.EndsWith('s') || value.EndsWith('S') ? (value[..^1], TimeSpan.TicksPerSecond)
            : (value, 0m);
        if (ticksPerUnit == 0)
        {
            problem = $"the delay '{value}' needs a unit; write a duration such as delay=50ms or delay=0.5s";
            return false;
        }

        if (!decimal.TryParse(number.TrimEnd(), NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out decimal amount)
            || amount < 0
            || amount > FaultOptions.MaxDuration.Ticks / ticksPerUnit)
        {
            problem = $"the delay '{value}' is not a duration from 0 to {FormatDuration(FaultOptions.MaxDuration)}; write e.g. delay=50ms or delay=0.5s";
            return false;
        }

        duration = TimeSpan.FromTicks((long)decimal.Round(amount * ticksPerUnit, MidpointRounding.AwayFromZero));
        problem = null;
        return true;
    }

    private static void AddRate(List<string> parts, string key, double rate)
    {
        if (rate != 0)
        {
            parts.Add($"{key}={Format(rate)}");
        }
    }

    // "R" keeps every bit of the double, so Parse reads back exactly the same rate.
    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string FormatDuration(TimeSpan duration)
    {
        if (duration.Ticks % TimeSpan.TicksPerSecond == 0)
        {
            return (duration.Ticks / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture) + "s";
        }

        decimal ms = duration.Ticks / (decimal)TimeSpan.TicksPerMillisecond;
        return ms.ToString(CultureInfo.InvariantCulture) + "ms";
    }
}
