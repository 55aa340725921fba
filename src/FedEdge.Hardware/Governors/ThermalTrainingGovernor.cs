using System.Diagnostics.Metrics;
using System.Globalization;
using FedEdge.Devices;
using FedEdge.Training;
using Microsoft.Extensions.Logging;

namespace FedEdge.Hardware.Governors;

/// <summary>
/// The thermal governor: reads telemetry through Core's <see cref="ITelemetrySource"/> and moves between
/// <see cref="ThermalState.Normal"/>, <see cref="ThermalState.Reduced"/> and <see cref="ThermalState.Declining"/>
/// with hysteresis. An unknown temperature keeps the current state (a device without sensors trains normally).
/// </summary>
internal sealed class ThermalTrainingGovernor : IThermalGovernor, IDisposable
{
    private readonly ITelemetrySource _telemetry;
    private readonly ThermalGovernorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _decisions;
    private readonly Lock _lock = new();
    private ThermalState _state;
    private double? _lastTemperature;
    private bool? _lastThrottled;
    private DateTimeOffset? _lastCheck;
    private int? _runPlannedSteps;

    public ThermalTrainingGovernor(ITelemetrySource telemetry, ThermalGovernorOptions options, TimeProvider time, ILogger logger, IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _telemetry = telemetry;
        _options = options;
        _time = time;
        _logger = logger;
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(Telemetry.TelemetrySampler.MeterName) ?? new Meter(Telemetry.TelemetrySampler.MeterName);
        _decisions = _meter.CreateCounter<long>("fededge.governor.decisions", "{decision}", "Thermal governor decisions, tagged with the state that produced them.");
    }

    public ThermalState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    public double? LastTemperatureCelsius
    {
        get
        {
            lock (_lock)
            {
                return _lastTemperature;
            }
        }
    }

    public async ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(plannedSteps);
        lock (_lock)
        {
            _runPlannedSteps = plannedSteps;
        }

        ThermalState state = await EvaluateAsync(force: true, cancellationToken).ConfigureAwait(false);
        GovernorDecision decision = state switch
        {
            ThermalState.Declining => GovernorDecision.Decline(Reason(state)),
            ThermalState.Reduced => Reduce(plannedSteps),
            _ => GovernorDecision.Proceed,
        };
        Record(before: true, state, decision);
        return decision;
    }

    public async ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepsDone);
        ArgumentOutOfRangeException.ThrowIfNegative(plannedSteps);
        ThermalState state = await EvaluateAsync(force: false, cancellationToken).ConfigureAwait(false);

        // Trainers pass the plan as already shortened by this governor; the cut is a fraction of the run's
        // original plan (from BeforeTrainingAsync), so repeated calls do not shrink it again and again.
        int basis;
        lock (_lock)
        {
            basis = _runPlannedSteps is int original && original >= plannedSteps ? original : plannedSteps;
        }

        GovernorDecision decision = state switch
        {
            ThermalState.Declining => new GovernorDecision { MaxSteps = stepsDone, Reason = Reason(state) },
            ThermalState.Reduced => Reduce(basis),
            _ => GovernorDecision.Proceed,
        };
        Record(before: false, state, decision);
        return decision;
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private GovernorDecision Reduce(int plannedSteps)
    {
        int allowed = (int)Math.Ceiling(plannedSteps * _options.ReducedStepFraction);
        return new GovernorDecision
        {
            MaxSteps = Math.Max(_options.MinimumReducedSteps, allowed),
            Pause = _options.PauseBetweenBatches,
            Reason = Reason(ThermalState.Reduced),
        };
    }

    private string Reason(ThermalState state)
    {
        string temp;
        bool? throttled;
        lock (_lock)
        {
            temp = _lastTemperature is double t ? t.ToString("0.0", CultureInfo.InvariantCulture) + " °C" : "temperature n/a";
            throttled = _lastThrottled;
        }

        string suffix = throttled == true ? ", firmware throttling" : string.Empty;
        return state == ThermalState.Declining
            ? string.Create(CultureInfo.InvariantCulture, $"thermal: too hot ({temp}{suffix}; declining at {_options.DeclineAtCelsius} °C, relaxing below {_options.DeclineAtCelsius - _options.HysteresisCelsius} °C)")
            : string.Create(CultureInfo.InvariantCulture, $"thermal: warm ({temp}{suffix}; {_options.ReducedStepFraction:P0} of planned steps, {_options.PauseBetweenBatches.TotalSeconds} s pause between batches until below {_options.ReduceAtCelsius - _options.HysteresisCelsius} °C)");
    }

    private async ValueTask<ThermalState> EvaluateAsync(bool force, CancellationToken cancellationToken)
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!force && _lastCheck is DateTimeOffset last && now - last < _options.CheckInterval)
            {
                return _state;
            }
        }

        DeviceTelemetry telemetry = await _telemetry.ReadAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            _lastCheck = now;
            _lastTemperature = telemetry.TemperatureCelsius;
            _lastThrottled = telemetry.Throttled;
            ThermalState next = Next(_state, telemetry.TemperatureCelsius, telemetry.Throttled == true);
            if (next != _state)
            {
                Log.ThermalTransition(
                    _logger,
                    _state,
                    next,
                    telemetry.TemperatureCelsius?.ToString("0.0", CultureInfo.InvariantCulture) ?? "n/a",
                    telemetry.Throttled?.ToString() ?? "n/a");
                _state = next;
            }

            return _state;
        }
    }

    /// <summary>The state machine: thresholds going up, thresholds minus hysteresis coming down.</summary>
    private ThermalState Next(ThermalState current, double? temperature, bool throttled)
    {
        double reduceAt = _options.ReduceAtCelsius;
        double declineAt = _options.DeclineAtCelsius;
        double h = _options.HysteresisCelsius;
        bool throttleDeclines = throttled && _options.DeclineWhenThrottled;
        bool throttleReduces = throttled && !_options.DeclineWhenThrottled;

        if (temperature is not double t)
        {
            // No temperature: only the throttling flag can move the state; otherwise hold it.
            if (throttleDeclines)
            {
                return ThermalState.Declining;
            }

            return throttleReduces && current == ThermalState.Normal ? ThermalState.Reduced : current;
        }

        if (throttleDeclines || t >= declineAt)
        {
            return ThermalState.Declining;
        }

        return current switch
        {
            ThermalState.Declining when t < reduceAt - h && !throttled => ThermalState.Normal,
            ThermalState.Declining when t < declineAt - h => ThermalState.Reduced,
            ThermalState.Declining => ThermalState.Declining,
            ThermalState.Reduced when t < reduceAt - h && !throttled => ThermalState.Normal,
            ThermalState.Reduced => ThermalState.Reduced,
            _ when t >= reduceAt || throttleReduces => ThermalState.Reduced,
            _ => ThermalState.Normal,
        };
    }

    private void Record(bool before, ThermalState state, GovernorDecision decision)
    {
        _decisions.Add(1, new KeyValuePair<string, object?>("state", state.ToString()), new KeyValuePair<string, object?>("phase", before ? "before" : "during"));
        if (before || state != ThermalState.Normal)
        {
            Log.Decision(_logger, before, decision.Declined, decision.MaxSteps, decision.Pause, decision.Reason);
        }
    }
}
