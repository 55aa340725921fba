using FedEdge.Devices;
using Microsoft.Extensions.Options;

namespace FedEdge.Hardware;

/// <summary>
/// Parameters of <see cref="IThermalModel"/>, a first-order (Newton cooling) model of a SoC's temperature for
/// simulations without real sensors. Defaults are CoLearn's Raspberry Pi 3B+ figures: 48 °C idle, 58 °C
/// under sustained training, firmware throttling from 85 °C.
/// </summary>
public sealed class ThermalModelOptions
{
    /// <summary>The temperature the device settles at when idle.</summary>
    public double IdleCelsius { get; set; } = 48;

    /// <summary>The temperature the device settles at under sustained training (raise it to model a device without a heatsink or in a hot enclosure).</summary>
    public double LoadCelsius { get; set; } = 58;

    /// <summary>The time constant: after this long at a load, 63 % of the way to its settling temperature is covered.</summary>
    public TimeSpan TimeConstant { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>At or above this temperature the model reports firmware throttling.</summary>
    public double ThrottleAtCelsius { get; set; } = 85;

    /// <summary>The starting temperature; null means <see cref="IdleCelsius"/>.</summary>
    public double? InitialCelsius { get; set; }

    /// <summary>Checks the options; throws <see cref="OptionsValidationException"/> with every failure.</summary>
    public void Validate()
    {
        List<string> failures = [];
        foreach ((string name, double value) in new[] { (nameof(IdleCelsius), IdleCelsius), (nameof(LoadCelsius), LoadCelsius), (nameof(ThrottleAtCelsius), ThrottleAtCelsius), (nameof(InitialCelsius), InitialCelsius ?? IdleCelsius) })
        {
            if (!double.IsFinite(value) || value is < -40 or > 150)
            {
                failures.Add($"{name} must be between -40 and 150 °C, got {value}.");
            }
        }

        if (LoadCelsius < IdleCelsius)
        {
            failures.Add($"{nameof(LoadCelsius)} ({LoadCelsius}) must not be below {nameof(IdleCelsius)} ({IdleCelsius}).");
        }

        if (TimeConstant <= TimeSpan.Zero)
        {
            failures.Add($"{nameof(TimeConstant)} must be positive, got {TimeConstant}.");
        }

        if (failures.Count > 0)
        {
            throw new OptionsValidationException(nameof(ThermalModelOptions), typeof(ThermalModelOptions), failures);
        }
    }
}

/// <summary>
/// A modelled device temperature for simulations (one per simulated device), served through Core's
/// <see cref="ITelemetrySource"/> so governors and state reports use it like a real probe. The simulation marks
/// when the device trains with <see cref="SetTraining"/>. Readings other than temperature and throttling are null.
/// </summary>
public interface IThermalModel : ITelemetrySource
{
    /// <summary>The modelled temperature now, in °C.</summary>
    double CurrentCelsius { get; }

    /// <summary>True while the device trains (it heats towards <see cref="ThermalModelOptions.LoadCelsius"/>), false when idle.</summary>
    void SetTraining(bool training);
}

/// <summary>The exact solution of dT/dt = (T_settle − T) / τ between load changes, on the injected clock.</summary>
internal sealed class ThermalModel : IThermalModel
{
    private readonly ThermalModelOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _celsius;
    private DateTimeOffset _at;
    private bool _training;

    public ThermalModel(ThermalModelOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _options = options;
        _time = time;
        _celsius = options.InitialCelsius ?? options.IdleCelsius;
        _at = time.GetUtcNow();
    }

    public double CurrentCelsius
    {
        get
        {
            lock (_lock)
            {
                return Advance();
            }
        }
    }

    public void SetTraining(bool training)
    {
        lock (_lock)
        {
            Advance();
            _training = training;
        }
    }

    public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        double t = CurrentCelsius;
        return ValueTask.FromResult(new DeviceTelemetry { TemperatureCelsius = t, Throttled = t >= _options.ThrottleAtCelsius });
    }

    private double Advance()
    {
        DateTimeOffset now = _time.GetUtcNow();
        double seconds = Math.Max(0, (now - _at).TotalSeconds);
        double settle = _training ? _options.LoadCelsius : _options.IdleCelsius;
        _celsius = settle + ((_celsius - settle) * Math.Exp(-seconds / _options.TimeConstant.TotalSeconds));
        _at = now;
        return _celsius;
    }
}
