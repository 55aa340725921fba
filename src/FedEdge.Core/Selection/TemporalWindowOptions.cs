namespace FedEdge.Selection;

/// <summary>What happens to a training request that arrives after the window closed (the round began).</summary>
public enum LateRequestPolicy
{
    /// <summary>The request is dropped; the device must ask again once the next window opens.</summary>
    Discard = 0,

    /// <summary>The request is kept and opens (or joins) the next window as soon as the round ends.</summary>
    CarryOver = 1,
}

/// <summary>How the window's time limit T is chosen.</summary>
public enum WindowSizing
{
    /// <summary>T is <see cref="TemporalWindowOptions.Duration"/> for every window.</summary>
    Fixed = 0,

    /// <summary>
    /// T adapts: after each window it becomes <see cref="TemporalWindowOptions.AdaptiveMargin"/> × the
    /// <see cref="TemporalWindowOptions.AdaptiveQuantile"/> quantile of the request arrival times (measured
    /// from window opening, late requests included) over the last <see cref="TemporalWindowOptions.AdaptiveHistory"/>
    /// windows, clamped to [<see cref="TemporalWindowOptions.MinDuration"/>, <see cref="TemporalWindowOptions.MaxDuration"/>].
    /// Late arrivals therefore grow T; a window whose requests all come early shrinks it.
    /// </summary>
    Adaptive = 1,
}

/// <summary>Settings of CoLearn's temporal window. At least one of <see cref="MaxDevices"/> and <see cref="Duration"/> must be set.</summary>
public sealed class TemporalWindowOptions
{
    /// <summary>N: the window closes as soon as it holds this many devices; null for no size rule.</summary>
    public int? MaxDevices { get; set; }

    /// <summary>T: the window closes this long after it opened; null for no time rule. Required (as the initial T) for <see cref="WindowSizing.Adaptive"/>.</summary>
    public TimeSpan? Duration { get; set; }

    /// <summary>The late-request policy. Default <see cref="LateRequestPolicy.Discard"/>.</summary>
    public LateRequestPolicy LatePolicy { get; set; } = LateRequestPolicy.Discard;

    /// <summary>Fixed or adaptive T. Default <see cref="WindowSizing.Fixed"/>.</summary>
    public WindowSizing Sizing { get; set; } = WindowSizing.Fixed;

    /// <summary>The smallest adaptive T. Default 1 s.</summary>
    public TimeSpan MinDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The largest adaptive T. Default 10 min.</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How many past windows the adaptive rule looks at. Default 5.</summary>
    public int AdaptiveHistory { get; set; } = 5;

    /// <summary>The arrival-time quantile the adaptive rule covers, in (0, 1]. Default 0.9.</summary>
    public double AdaptiveQuantile { get; set; } = 0.9;

    /// <summary>The safety factor applied to that quantile, at least 1. Default 1.5.</summary>
    public double AdaptiveMargin { get; set; } = 1.5;

    /// <summary>Every problem with the settings, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxDevices is null && Duration is null)
        {
            errors.Add("Set MaxDevices (N), Duration (T) or both; otherwise the window never closes.");
        }

        if (MaxDevices is int n && n < 1)
        {
            errors.Add($"MaxDevices must be at least 1 but is {n}.");
        }

        if (Duration is TimeSpan t && t <= TimeSpan.Zero)
        {
            errors.Add($"Duration must be positive but is {t}.");
        }

        if (!Enum.IsDefined(LatePolicy))
        {
            errors.Add($"LatePolicy {(int)LatePolicy} is unknown.");
        }

        if (!Enum.IsDefined(Sizing))
        {
            errors.Add($"Sizing {(int)Sizing} is unknown.");
        }

        if (Sizing == WindowSizing.Adaptive)
        {
            if (Duration is null)
            {
                errors.Add("Adaptive sizing needs Duration as the first window's T.");
            }

            if (MinDuration <= TimeSpan.Zero || MaxDuration < MinDuration)
            {
                errors.Add($"Need 0 < MinDuration ≤ MaxDuration, but they are {MinDuration} and {MaxDuration}.");
            }

            if (AdaptiveHistory < 1)
            {
                errors.Add($"AdaptiveHistory must be at least 1 but is {AdaptiveHistory}.");
            }

            if (!(AdaptiveQuantile > 0 && AdaptiveQuantile <= 1))
            {
                errors.Add($"AdaptiveQuantile must be in (0, 1] but is {AdaptiveQuantile}.");
            }

            if (!(AdaptiveMargin >= 1 && double.IsFinite(AdaptiveMargin)))
            {
                errors.Add($"AdaptiveMargin must be at least 1 but is {AdaptiveMargin}.");
            }
        }

        return errors;
    }
}
