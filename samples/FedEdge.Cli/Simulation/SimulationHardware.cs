using System.Collections.Concurrent;
using System.Diagnostics;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Hardware;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>One device's usage in one round, as written to report.json.</summary>
internal sealed record DeviceRoundRow(string Device, double? TemperatureCelsius, bool? Throttled, long BytesUp, long BytesDown, double TrainSeconds, string? Note)
{
    /// <summary>The bytes the device's trainer held during its training in this round (<c>--compress</c>), or null if it did not train.</summary>
    public long? TrainMemoryBytes { get; init; }
}

/// <summary>
/// The simulated devices' hardware (<c>--thermal host|simulated|off</c>) and the per-round, per-device accounting:
/// bytes on each worker's transport, training seconds, and the temperature each worker reported in its status.
/// </summary>
internal sealed class SimulationHardware : IAsyncDisposable
{
    /// <summary>Simulated seconds one local step takes on the modelled device (a Raspberry Pi class board).</summary>
    internal static readonly TimeSpan SecondsPerStep = TimeSpan.FromSeconds(2);

    /// <summary>Simulated idle time of a device between two rounds (waiting for the others, aggregation).</summary>
    internal static readonly TimeSpan IdleBetweenRounds = TimeSpan.FromSeconds(10);

    private readonly string _mode;
    private readonly ITelemetrySampler? _host;
    private readonly ConcurrentDictionary<string, ThermalDevice> _thermal = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _trainTicks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Sent, long Received, long TrainTicks)> _last = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _owned = [];

    public SimulationHardware(string mode)
    {
        _mode = mode;
        if (mode == "host")
        {
            // Every simulated device runs on this host: all report its real telemetry ("n/a" without thermal zones).
            var options = new HardwareOptions();
            _host = FedEdgeHardware.CreateSampler(FedEdgeHardware.CreateProbe(options), options);
        }
        else if (mode is not ("simulated" or "off"))
        {
            throw new ArgumentException($"Unknown thermal mode '{mode}'; use host, simulated or off.");
        }
    }

    /// <summary>The telemetry source of device <paramref name="index"/> of <paramref name="count"/>, or null with <c>off</c>.</summary>
    public ITelemetrySource? TelemetryFor(string deviceId, int index, int count)
    {
        if (_mode == "host")
        {
            return _host;
        }

        if (_mode == "off")
        {
            return null;
        }

        return _thermal.GetOrAdd(deviceId, _ =>
        {
            // Devices differ in enclosure and airflow: load temperatures spread evenly from 54 °C (the first device stays in
            // CoLearn's 48–58 °C band) to 84 °C (the last one, badly ventilated, gets hot enough for the thermal governor).
            var clock = new DeviceClock();
            IThermalModel model = FedEdgeHardware.CreateThermalModel(new ThermalModelOptions { IdleCelsius = 48, LoadCelsius = 54 + (30.0 * index / Math.Max(1, count - 1)) }, clock);
            var governor = FedEdgeHardware.CreateThermalGovernor(model, new ThermalGovernorOptions { PauseBetweenBatches = TimeSpan.FromMilliseconds(5) }, clock);
            if (governor is IDisposable disposable)
            {
                lock (_owned)
                {
                    _owned.Add(disposable);
                }
            }

            return new ThermalDevice(clock, model, governor);
        }).Model;
    }

    /// <summary>The governor of a simulated device (<c>--thermal simulated</c>), else null.</summary>
    public ITrainingGovernor? GovernorFor(string deviceId) => _thermal.TryGetValue(deviceId, out ThermalDevice? d) ? d.Governor : null;

    /// <summary>Wraps a device's trainer: measures its training time and, for a simulated device, heats its thermal model.</summary>
    public ITrainer Wrap(string deviceId, ITrainer trainer) =>
        new MeteredTrainer(trainer, this, deviceId, _thermal.TryGetValue(deviceId, out ThermalDevice? d) ? d : null);

    /// <summary>Fills one round's accounting from the workers' transports, the measured training time and the reported telemetry.</summary>
    public IReadOnlyList<DeviceRoundRow> Account(RoundResult round, IReadOnlyList<Worker> workers, IReadOnlyList<DeviceStatus> statuses)
    {
        var accounting = new RoundAccounting(round.Round);
        foreach (Worker w in workers)
        {
            if (!round.Selected.Contains(w.DeviceId) && w.State == WorkerState.NotReady && !_trainTicks.ContainsKey(w.DeviceId))
            {
                continue;
            }

            long sent = w.TransportStatistics.BytesSent, received = w.TransportStatistics.BytesReceived;
            long ticks = _trainTicks.GetValueOrDefault(w.DeviceId);
            (long Sent, long Received, long TrainTicks) prior = _last.GetValueOrDefault(w.DeviceId);
            _last[w.DeviceId] = (sent, received, ticks);
            accounting.AddBytesUp(w.DeviceId, Math.Max(0, sent - prior.Sent));
            accounting.AddBytesDown(w.DeviceId, Math.Max(0, received - prior.Received));
            accounting.AddTrainingTime(w.DeviceId, TimeSpan.FromTicks(Math.Max(0, ticks - prior.TrainTicks)));
            if (statuses.FirstOrDefault(s => s.DeviceId == w.DeviceId) is { } status)
            {
                accounting.RecordTelemetry(w.DeviceId, status.Telemetry);
            }

            string? note = round.Failed.Concat(round.Refused).FirstOrDefault(f => f.DeviceId == w.DeviceId)?.Reason
                ?? (w.StateReason is { } reason && reason.Contains("governor", StringComparison.Ordinal) ? reason : null)
                ?? (_thermal.TryGetValue(w.DeviceId, out ThermalDevice? device) && device.Governor.State != ThermalState.Normal ? "governor: " + device.Governor.State.ToString().ToLowerInvariant() : null);
            if (note is not null)
            {
                accounting.RecordGovernorNote(w.DeviceId, note);
            }
        }

        return accounting.Snapshot().Devices
            .Select(d => new DeviceRoundRow(d.DeviceId, d.TemperatureCelsius, d.Throttled, d.BytesUp, d.BytesDown, d.TrainingTime.TotalSeconds, d.GovernorNote))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }

        lock (_owned)
        {
            foreach (IDisposable d in _owned)
            {
                d.Dispose();
            }
        }
    }

    private void AddTraining(string deviceId, TimeSpan elapsed) => _trainTicks.AddOrUpdate(deviceId, elapsed.Ticks, (_, t) => t + elapsed.Ticks);

    /// <summary>A simulated device: its own clock (advanced by the work it does), its thermal model and governor.</summary>
    private sealed record ThermalDevice(DeviceClock Clock, IThermalModel Model, IThermalGovernor Governor);

    /// <summary>
    /// A simulated device's clock: it moves by the simulated duration of each local step and of the idle time between
    /// rounds, so the heating curve depends on the work done, not on this host's speed.
    /// </summary>
    private sealed class DeviceClock : TimeProvider
    {
        private readonly DateTimeOffset _start = TimeProvider.System.GetUtcNow();
        private long _ticks;

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => _start.AddTicks(Interlocked.Read(ref _ticks));
    }

    /// <summary>Advances the device clock by one simulated step each time the trainer consults the governor between steps.</summary>
    private sealed class SteppingGovernor(ITrainingGovernor inner, DeviceClock clock) : ITrainingGovernor
    {
        public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) =>
            inner.BeforeTrainingAsync(plannedSteps, cancellationToken);

        public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default)
        {
            clock.Advance(SecondsPerStep);
            return inner.DuringTrainingAsync(stepsDone, plannedSteps, cancellationToken);
        }
    }

    private sealed class MeteredTrainer(ITrainer inner, SimulationHardware owner, string deviceId, ThermalDevice? thermal) : ITrainer
    {
        public ParameterLayout Layout => inner.Layout;

        public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            var clock = Stopwatch.StartNew();
            if (thermal is null)
            {
                try
                {
                    return await inner.TrainAsync(request, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    owner.AddTraining(deviceId, clock.Elapsed);
                }
            }

            thermal.Clock.Advance(IdleBetweenRounds);
            thermal.Model.SetTraining(true);
            try
            {
                TrainingRequest heated = request.Governor is null ? request : request with { Governor = new SteppingGovernor(request.Governor, thermal.Clock) };
                TrainingResult result = await inner.TrainAsync(heated, cancellationToken).ConfigureAwait(false);
                thermal.Clock.Advance(SecondsPerStep);
                return result;
            }
            finally
            {
                thermal.Model.SetTraining(false);
                owner.AddTraining(deviceId, clock.Elapsed);
            }
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, FedEdge.Data.Dataset data, CancellationToken cancellationToken = default) =>
            inner.EvaluateAsync(parameters, data, cancellationToken);
    }
}
