using Microsoft.Extensions.Options;

namespace FedEdge.Hardware;

/// <summary>
/// Thresholds of the thermal governor. Defaults follow CoLearn's Raspberry Pi 3B+ measurements (idle
/// 48–50 °C, about 58 °C while training, firmware throttling near 85 °C): normal training is untouched,
/// at 70 °C training is shortened and paused between batches, at 80 °C (or when the firmware throttles)
/// the round is declined; the governor returns to normal only 5 °C below each threshold (hysteresis).
/// </summary>
public sealed class ThermalGovernorOptions
{
    /// <summary>At or above this temperature, training is shortened and paused between batches.</summary>
    public double ReduceAtCelsius { get; set; } = 70;

    /// <summary>At or above this temperature, the round is declined (or training stops between batches).</summary>
    public double DeclineAtCelsius { get; set; } = 80;

    /// <summary>
    /// How far below a threshold the temperature must fall before the governor relaxes: reduced → normal
    /// below <see cref="ReduceAtCelsius"/> − hysteresis, declining → reduced below <see cref="DeclineAtCelsius"/> − hysteresis.
    /// </summary>
    public double HysteresisCelsius { get; set; } = 5;

    /// <summary>When the firmware reports throttling now, decline (true) or only reduce (false).</summary>
    public bool DeclineWhenThrottled { get; set; } = true;

    /// <summary>The fraction of the planned steps allowed while reduced, in (0, 1].</summary>
    public double ReducedStepFraction { get; set; } = 0.5;

    /// <summary>The fewest steps allowed while reduced (at least 1).</summary>
    public int MinimumReducedSteps { get; set; } = 1;

    /// <summary>The pause between batches while reduced (0 to 10 min).</summary>
    public TimeSpan PauseBetweenBatches { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the governor reads telemetry during training; decisions in between reuse the last state (0 = every call).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks the options; throws <see cref="OptionsValidationException"/> with every failure.</summary>
    public void Validate()
    {
        ValidateOptionsResult result = new ThermalGovernorOptionsValidator().Validate(null, this);
        if (result.Failed)
        {
            throw new OptionsValidationException(nameof(ThermalGovernorOptions), typeof(ThermalGovernorOptions), result.Failures);
        }
    }
}

/// <summary>Validates <see cref="ThermalGovernorOptions"/>.</summary>
internal sealed class ThermalGovernorOptionsValidator : IValidateOptions<ThermalGovernorOptions>
{
    public ValidateOptionsResult Validate(string? name, ThermalGovernorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string> failures = [];
        if (!double.IsFinite(options.ReduceAtCelsius) || !double.IsFinite(options.DeclineAtCelsius) || !double.IsFinite(options.HysteresisCelsius))
        {
            failures.Add("Thresholds and hysteresis must be finite numbers.");
        }
        else
        {
            if (options.ReduceAtCelsius is < 0 or > 150 || options.DeclineAtCelsius is < 0 or > 150)
            {
                failures.Add($"Thresholds must lie between 0 and 150 °C (got reduce {options.ReduceAtCelsius}, decline {options.DeclineAtCelsius}).");
            }

            if (options.ReduceAtCelsius >= options.DeclineAtCelsius)
            {
                failures.Add($"{nameof(ThermalGovernorOptions.ReduceAtCelsius)} ({options.ReduceAtCelsius}) must be below {nameof(ThermalGovernorOptions.DeclineAtCelsius)} ({options.DeclineAtCelsius}).");
            }

            if (options.HysteresisCelsius <= 0 || options.HysteresisCelsius > options.ReduceAtCelsius)
            {
                failures.Add($"{nameof(ThermalGovernorOptions.HysteresisCelsius)} must be positive and at most {nameof(ThermalGovernorOptions.ReduceAtCelsius)}, got {options.HysteresisCelsius}.");
            }
        }

        if (!(options.ReducedStepFraction > 0 && options.ReducedStepFraction <= 1))
        {
            failures.Add($"{nameof(ThermalGovernorOptions.ReducedStepFraction)} must be in (0, 1], got {options.ReducedStepFraction}.");
        }

        if (options.MinimumReducedSteps < 1)
        {
            failures.Add($"{nameof(ThermalGovernorOptions.MinimumReducedSteps)} must be at least 1, got {options.MinimumReducedSteps}.");
        }

        if (options.PauseBetweenBatches < TimeSpan.Zero || options.PauseBetweenBatches > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{nameof(ThermalGovernorOptions.PauseBetweenBatches)} must be between 0 and 10 min, got {options.PauseBetweenBatches}.");
        }

        if (options.CheckInterval < TimeSpan.Zero)
        {
            failures.Add($"{nameof(ThermalGovernorOptions.CheckInterval)} must not be negative, got {options.CheckInterval}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
