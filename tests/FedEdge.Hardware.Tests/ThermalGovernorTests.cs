using FedEdge.Devices;
using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Hardware.Tests;

public sealed class ThermalGovernorTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static (IThermalGovernor Governor, SettableTelemetry Telemetry, FakeTimeProvider Time) Create(ThermalGovernorOptions? options = null)
    {
        SettableTelemetry telemetry = new();
        FakeTimeProvider time = new(Start);
        return (FedEdgeHardware.CreateThermalGovernor(telemetry, options, time), telemetry, time);
    }

    [Theory]
    [InlineData(48.3)]
    [InlineData(58.0)]
    [InlineData(69.9)]
    public async Task BeforeTraining_CoLearnTrainingTemperatures_ProceedsUnchanged(double celsius)
    {
        var (governor, telemetry, _) = Create();
        telemetry.Temperature = celsius;
        telemetry.Throttled = false;

        GovernorDecision d = await governor.BeforeTrainingAsync(100);

        Assert.Equal(GovernorDecision.Proceed, d);
        Assert.Equal(ThermalState.Normal, governor.State);
    }

    [Fact]
    public async Task BeforeTraining_AtSoftThreshold_HalvesStepsAndPauses()
    {
        var (governor, telemetry, _) = Create();
        telemetry.Temperature = 70.0;

        GovernorDecision d = await governor.BeforeTrainingAsync(101);

        Assert.False(d.Declined);
        Assert.Equal(51, d.MaxSteps);
        Assert.Equal(TimeSpan.FromSeconds(2), d.Pause);
        Assert.Contains("70.0 °C", d.Reason, StringComparison.Ordinal);
        Assert.Equal(ThermalState.Reduced, governor.State);
    }

    [Fact]
    public async Task BeforeTraining_AtDeclineThreshold_Declines()
    {
        var (governor, telemetry, _) = Create();
        telemetry.Temperature = 80.0;

        GovernorDecision d = await governor.BeforeTrainingAsync(100);

        Assert.True(d.Declined);
        Assert.Equal(0, d.MaxSteps);
        Assert.Contains("too hot", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BeforeTraining_ThrottledWhileCool_DeclinesByDefault()
    {
        var (governor, telemetry, _) = Create();
        telemetry.Temperature = 61.2;
        telemetry.Throttled = true;

        GovernorDecision d = await governor.BeforeTrainingAsync(100);

        Assert.True(d.Declined);
        Assert.Contains("firmware throttling", d.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BeforeTraining_ThrottledWithDeclineWhenThrottledOff_Reduces()
    {
        var (governor, telemetry, _) = Create(new ThermalGovernorOptions { DeclineWhenThrottled = false });
        telemetry.Temperature = 61.2;
        telemetry.Throttled = true;

        GovernorDecision d = await governor.BeforeTrainingAsync(100);

        Assert.False(d.Declined);
        Assert.Equal(50, d.MaxSteps);
        Assert.Equal(ThermalState.Reduced, governor.State);

        telemetry.Throttled = false;
        telemetry.Temperature = 60;
        Assert.Equal(GovernorDecision.Proceed, await governor.BeforeTrainingAsync(100));
    }

    [Fact]
    public async Task BeforeTraining_NoTemperature_KeepsState()
    {
        var (governor, telemetry, _) = Create();
        Assert.Equal(GovernorDecision.Proceed, await governor.BeforeTrainingAsync(10));

        telemetry.Temperature = 82;
        Assert.True((await governor.BeforeTrainingAsync(10)).Declined);

        telemetry.Temperature = null;
        Assert.True((await governor.BeforeTrainingAsync(10)).Declined);
        Assert.Null(governor.LastTemperatureCelsius);
    }

    [Theory]
    [InlineData(71, 67, ThermalState.Reduced)]
    [InlineData(71, 65.01, ThermalState.Reduced)]
    [InlineData(71, 64.99, ThermalState.Normal)]
    [InlineData(81, 79, ThermalState.Declining)]
    [InlineData(81, 75.01, ThermalState.Declining)]
    [InlineData(81, 74.99, ThermalState.Reduced)]
    [InlineData(81, 64.99, ThermalState.Normal)]
    public async Task BeforeTraining_CoolingAfterThreshold_RelaxesOnlyBelowHysteresis(double hot, double cooler, ThermalState expected)
    {
        var (governor, telemetry, _) = Create();
        telemetry.Temperature = hot;
        await governor.BeforeTrainingAsync(10);

        telemetry.Temperature = cooler;
        await governor.BeforeTrainingAsync(10);

        Assert.Equal(expected, governor.State);
    }

    [Fact]
    public async Task DuringTraining_TooHot_StopsAtStepsDone()
    {
        var (governor, telemetry, time) = Create();
        telemetry.Temperature = 60;
        Assert.Equal(GovernorDecision.Proceed, await governor.BeforeTrainingAsync(40));

        time.Advance(TimeSpan.FromSeconds(1));
        telemetry.Temperature = 84;
        GovernorDecision d = await governor.DuringTrainingAsync(17, 40);

        Assert.False(d.Declined);
        Assert.Equal(17, d.MaxSteps);
        Assert.NotNull(d.Reason);
    }

    [Fact]
    public async Task DuringTraining_PlanAlreadyShortened_CutStaysAFractionOfTheOriginalPlan()
    {
        var (governor, telemetry, time) = Create();
        telemetry.Temperature = 72;
        Assert.Equal(50, (await governor.BeforeTrainingAsync(100)).MaxSteps);

        for (int step = 1; step < 5; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(50, (await governor.DuringTrainingAsync(step, 50)).MaxSteps);
        }
    }

    [Fact]
    public async Task DuringTraining_WithinCheckInterval_ReusesLastReading()
    {
        var (governor, telemetry, time) = Create(new ThermalGovernorOptions { CheckInterval = TimeSpan.FromSeconds(5) });
        telemetry.Temperature = 60;
        await governor.BeforeTrainingAsync(100);
        int reads = telemetry.Reads;

        telemetry.Temperature = 90;
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(GovernorDecision.Proceed, await governor.DuringTrainingAsync(4, 100));
        Assert.Equal(reads, telemetry.Reads);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(5, (await governor.DuringTrainingAsync(5, 100)).MaxSteps);
        Assert.Equal(reads + 1, telemetry.Reads);
    }

    [Fact]
    public async Task Governor_NegativeSteps_Throws()
    {
        var (governor, _, _) = Create();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => governor.BeforeTrainingAsync(-1).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => governor.DuringTrainingAsync(-1, 3).AsTask());
    }

    public static TheoryData<Action<ThermalGovernorOptions>> BadOptions => new()
    {
        o => o.ReduceAtCelsius = 85,
        o => o.DeclineAtCelsius = 200,
        o => o.HysteresisCelsius = 0,
        o => o.HysteresisCelsius = double.NaN,
        o => o.ReducedStepFraction = 0,
        o => o.ReducedStepFraction = 1.5,
        o => o.MinimumReducedSteps = 0,
        o => o.PauseBetweenBatches = TimeSpan.FromSeconds(-1),
        o => o.CheckInterval = TimeSpan.FromSeconds(-1),
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void CreateThermalGovernor_InvalidOptions_Throws(Action<ThermalGovernorOptions> spoil)
    {
        ThermalGovernorOptions options = new();
        spoil(options);
        Assert.Throws<OptionsValidationException>(() => FedEdgeHardware.CreateThermalGovernor(new SettableTelemetry(), options));
    }

    /// <summary>
    /// A Raspberry Pi in a warming enclosure: the SoC heats from CoLearn's idle 48 °C to 90 °C over 10 minutes
    /// (the firmware throttles from 85 °C), stays hot for 4 minutes and cools back to 48 °C over 16 minutes,
    /// with ±1.5 °C of sensor jitter. A worker runs rounds of 60 one-second steps against it on a fake clock.
    /// </summary>
    private sealed class HeatingCurve(FakeTimeProvider time) : ITelemetrySource
    {
        public double Now
        {
            get
            {
                double s = (time.GetUtcNow() - Start).TotalSeconds;
                double m = s / 60;
                double baseline = m switch
                {
                    < 10 => 48 + (42 * m / 10),
                    < 14 => 90,
                    < 30 => 90 - (42 * (m - 14) / 16),
                    _ => 48,
                };
                return baseline + (1.5 * Math.Sin(s / 7));
            }
        }

        public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
        {
            double t = Now;
            return ValueTask.FromResult(new DeviceTelemetry { TemperatureCelsius = t, Throttled = t >= 85 });
        }
    }

    private sealed record Step(ThermalState State, double Temperature, GovernorDecision Decision, bool Before);

    private static async Task<List<Step>> RunWorkerAsync(ThermalGovernorOptions options)
    {
        FakeTimeProvider time = new(Start);
        HeatingCurve curve = new(time);
        IThermalGovernor governor = FedEdgeHardware.CreateThermalGovernor(curve, options, time);
        List<Step> log = [];
        const int Planned = 60;
        while (time.GetUtcNow() - Start < TimeSpan.FromMinutes(32))
        {
            GovernorDecision before = await governor.BeforeTrainingAsync(Planned);
            log.Add(new Step(governor.State, governor.LastTemperatureCelsius!.Value, before, Before: true));
            if (before.Declined)
            {
                time.Advance(TimeSpan.FromSeconds(30));
                continue;
            }

            int limit = Math.Min(Planned, before.MaxSteps);
            TimeSpan pause = before.Pause;
            for (int step = 0; step < limit; step++)
            {
                if (step > 0)
                {
                    GovernorDecision during = await governor.DuringTrainingAsync(step, Planned);
                    log.Add(new Step(governor.State, governor.LastTemperatureCelsius!.Value, during, Before: false));
                    limit = Math.Min(Planned, during.MaxSteps);
                    pause = during.Pause;
                    if (step >= limit)
                    {
                        break;
                    }
                }

                time.Advance(pause + TimeSpan.FromSeconds(1));
            }

            time.Advance(TimeSpan.FromSeconds(5));
        }

        return log;
    }

    private static List<ThermalState> Collapse(IEnumerable<Step> log)
    {
        List<ThermalState> states = [];
        foreach (Step s in log)
        {
            if (states.Count == 0 || states[^1] != s.State)
            {
                states.Add(s.State);
            }
        }

        return states;
    }

    [Fact]
    public async Task Governor_HeatingCurve_ThrottlesDeclinesAndRecoversOnce()
    {
        List<Step> log = await RunWorkerAsync(new ThermalGovernorOptions());

        Assert.Equal(
            new[] { ThermalState.Normal, ThermalState.Reduced, ThermalState.Declining, ThermalState.Reduced, ThermalState.Normal },
            Collapse(log));

        // Normal only below the soft threshold; declining only at or above the relax point.
        Assert.All(log.Where(s => s.State == ThermalState.Normal), s => Assert.True(s.Temperature < 70, $"normal at {s.Temperature}"));
        Assert.All(log.Where(s => s.State == ThermalState.Declining), s => Assert.True(s.Temperature >= 75, $"declining at {s.Temperature}"));

        // Hysteresis holds the governor back while cooling.
        Assert.Contains(log, s => s.State == ThermalState.Declining && s.Temperature < 80);
        Assert.Contains(log, s => s.State == ThermalState.Reduced && s.Temperature < 70);

        // Reduced runs: at most half the steps, with a pause between batches.
        Assert.All(log.Where(s => s.State == ThermalState.Reduced), s =>
        {
            Assert.Equal(30, s.Decision.MaxSteps);
            Assert.Equal(TimeSpan.FromSeconds(2), s.Decision.Pause);
        });

        // Rounds are declined before training, and one running round was stopped between batches.
        Assert.Contains(log, s => s.Before && s.Decision.Declined);
        Assert.Contains(log, s => !s.Before && s.State == ThermalState.Declining && !s.Decision.Declined && s.Decision.MaxSteps > 0);

        // Firmware throttling (≥ 85 °C) was only ever seen while declining.
        Assert.All(log.Where(s => s.Temperature >= 85), s => Assert.Equal(ThermalState.Declining, s.State));
        Assert.Equal(GovernorDecision.Proceed, log[^1].Decision);
    }

    [Fact]
    public async Task Governor_HeatingCurveWithoutHysteresis_Flaps()
    {
        List<Step> log = await RunWorkerAsync(new ThermalGovernorOptions { HysteresisCelsius = 0.01 });

        Assert.True(Collapse(log).Count > 5, $"expected flapping without hysteresis, saw {string.Join(",", Collapse(log))}");
    }
}
