using FedEdge.Devices;

namespace FedEdge.Selection;

/// <summary>The built-in client selectors. Each first drops devices not in <see cref="DeviceIntent.Training"/> (and duplicate ids, keeping the latest status).</summary>
public static class ClientSelectors
{
    /// <summary>Every device that wants to train.</summary>
    public static IClientSelector All() => new AllSelector();

    /// <summary>
    /// FedAvg's C: a uniformly random fraction of the training devices, at least <paramref name="minimum"/>
    /// (or all of them when fewer are available). Reproducible for a given <paramref name="seed"/> and round.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1] or the minimum is negative.</exception>
    public static IClientSelector RandomFraction(double fraction, int minimum = 1, int seed = 0)
    {
        if (!(fraction > 0 && fraction <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The fraction C must be in (0, 1].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(minimum);
        return new RandomFractionSelector(fraction, minimum, seed);
    }

    /// <summary>
    /// The <paramref name="count"/> highest-scoring training devices (ties broken by device id), scored by
    /// <see cref="DeviceScoreOptions.Score"/>: more samples, cooler and unthrottled first.
    /// </summary>
    /// <exception cref="ArgumentException">The count is not positive or the options are invalid.</exception>
    public static IClientSelector Scored(int count, DeviceScoreOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        DeviceScoreOptions o = options ?? new DeviceScoreOptions();
        IReadOnlyList<string> errors = o.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid device score options: " + string.Join(" ", errors), nameof(options));
        }

        return new ScoredSelector(count, o);
    }

    /// <summary>The devices that may train: intent Training, one status per device id (the latest received).</summary>
    public static IReadOnlyList<DeviceStatus> Eligible(IReadOnlyList<DeviceStatus> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var latest = new Dictionary<string, DeviceStatus>(StringComparer.Ordinal);
        foreach (DeviceStatus status in candidates)
        {
            if (status is null || string.IsNullOrWhiteSpace(status.DeviceId))
            {
                continue;
            }

            if (!latest.TryGetValue(status.DeviceId, out DeviceStatus? seen) || status.ReceivedAt >= seen.ReceivedAt)
            {
                latest[status.DeviceId] = status;
            }
        }

        return latest.Values.Where(s => s.Intent == DeviceIntent.Training).OrderBy(s => s.DeviceId, StringComparer.Ordinal).ToArray();
    }

    private sealed class AllSelector : IClientSelector
    {
        public string Name => "all";

        public IReadOnlyList<DeviceStatus> Select(IReadOnlyList<DeviceStatus> candidates, ClientSelectionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return Eligible(candidates);
        }
    }

    private sealed class RandomFractionSelector(double fraction, int minimum, int seed) : IClientSelector
    {
        public string Name => "random";

        public IReadOnlyList<DeviceStatus> Select(IReadOnlyList<DeviceStatus> candidates, ClientSelectionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            DeviceStatus[] eligible = Eligible(candidates).ToArray();
            int wanted = Math.Min(eligible.Length, Math.Max(minimum, (int)Math.Ceiling(fraction * eligible.Length)));

            // Random is used for sampling, not security; seeded per round for reproducible experiments.
#pragma warning disable CA5394
            var random = new Random(unchecked((int)((seed * 0x9E3779B1L) ^ (context.Round * 0x85EBCA77L))));
            random.Shuffle(eligible);
#pragma warning restore CA5394
            return eligible[..wanted].OrderBy(s => s.DeviceId, StringComparer.Ordinal).ToArray();
        }
    }

    private sealed class ScoredSelector(int count, DeviceScoreOptions options) : IClientSelector
    {
        public string Name => "scored";

        public IReadOnlyList<DeviceStatus> Select(IReadOnlyList<DeviceStatus> candidates, ClientSelectionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return Eligible(candidates)
                .Where(s => options.MaxTemperatureCelsius is not double max || s.Telemetry.TemperatureCelsius is not double t || t < max)
                .Where(s => !options.ExcludeThrottled || s.Telemetry.Throttled != true)
                .Select(s => (Status: s, Score: options.Score(s.Telemetry)))
                .OrderByDescending(x => x.Score)
                .ThenBy(x => x.Status.DeviceId, StringComparer.Ordinal)
                .Take(count)
                .Select(x => x.Status)
                .ToArray();
        }
    }
}
