namespace FedEdge.Coordination;

/// <summary>Exponential back-off with ±25 % jitter, so re-sends of many devices do not fall into step.</summary>
internal static class Backoff
{
    /// <summary>The delay before attempt <paramref name="attempt"/> (0-based): <paramref name="initial"/> · 2^attempt, at most <paramref name="max"/>, jittered.</summary>
    public static TimeSpan Delay(TimeSpan initial, TimeSpan max, int attempt, Random random)
    {
        double factor = Math.Pow(2, Math.Min(attempt, 30));
        double ticks = Math.Min(initial.Ticks * factor, max.Ticks);
        double jitter = 0.75 + (0.5 * random.NextDouble());
        return TimeSpan.FromTicks((long)Math.Max(1, ticks * jitter));
    }
}
