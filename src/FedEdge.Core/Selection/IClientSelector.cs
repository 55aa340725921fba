using FedEdge.Devices;

namespace FedEdge.Selection;

/// <summary>
/// The client-selection port: from the devices that announced themselves, pick the round's participants.
/// Built-ins (reached through <see cref="ClientSelectors"/>) never pick a device whose intent is not
/// <see cref="DeviceIntent.Training"/>.
/// </summary>
public interface IClientSelector
{
    /// <summary>A short name, e.g. <c>all</c>.</summary>
    string Name { get; }

    /// <summary>Chooses participants for one round; the result preserves no reference to <paramref name="candidates"/>.</summary>
    IReadOnlyList<DeviceStatus> Select(IReadOnlyList<DeviceStatus> candidates, ClientSelectionContext context);
}

/// <summary>What a selector knows about the round it selects for.</summary>
public sealed record ClientSelectionContext
{
    /// <summary>The round number (random selectors mix it into their seed, so each round draws afresh but reproducibly).</summary>
    public required long Round { get; init; }
}

/// <summary>Weights of the built-in score-based selector. A device's score is higher with more samples, lower when hot or throttled.</summary>
public sealed class DeviceScoreOptions
{
    /// <summary>Weight of log(1 + samples). Default 1.</summary>
    public double SampleWeight { get; set; } = 1.0;

    /// <summary>Penalty per °C above <see cref="ComfortTemperatureCelsius"/>. Default 0.1.</summary>
    public double TemperatureWeight { get; set; } = 0.1;

    /// <summary>The temperature below which no penalty applies. Default 50 °C.</summary>
    public double ComfortTemperatureCelsius { get; set; } = 50;

    /// <summary>Penalty for a throttled device. Default 5.</summary>
    public double ThrottledPenalty { get; set; } = 5;

    /// <summary>Devices at or above this temperature are never selected; null disables the rule. Default 80 °C (where a Raspberry Pi starts to throttle).</summary>
    public double? MaxTemperatureCelsius { get; set; } = 80;

    /// <summary>When true, throttled devices are never selected. Default false (they are only penalised).</summary>
    public bool ExcludeThrottled { get; set; }

    /// <summary>Every problem with the settings, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach ((string name, double value) in new[] { (nameof(SampleWeight), SampleWeight), (nameof(TemperatureWeight), TemperatureWeight), (nameof(ThrottledPenalty), ThrottledPenalty) })
        {
            if (!(value >= 0 && double.IsFinite(value)))
            {
                errors.Add($"{name} must be zero or positive and finite but is {value}.");
            }
        }

        if (!double.IsFinite(ComfortTemperatureCelsius))
        {
            errors.Add("ComfortTemperatureCelsius must be finite.");
        }

        if (MaxTemperatureCelsius is double max && !double.IsFinite(max))
        {
            errors.Add("MaxTemperatureCelsius must be finite when set.");
        }

        return errors;
    }

    /// <summary>The score of one device's telemetry (missing readings neither help nor hurt).</summary>
    public double Score(DeviceTelemetry telemetry)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        double score = 0;
        if (telemetry.SampleCount is long samples && samples > 0)
        {
            score += SampleWeight * Math.Log(1 + samples);
        }

        if (telemetry.TemperatureCelsius is double t && t > ComfortTemperatureCelsius)
        {
            score -= TemperatureWeight * (t - ComfortTemperatureCelsius);
        }

        if (telemetry.Throttled == true)
        {
            score -= ThrottledPenalty;
        }

        return score;
    }
}
