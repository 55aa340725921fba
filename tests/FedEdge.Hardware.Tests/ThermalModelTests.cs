using FedEdge.Training;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Hardware.Tests;

public sealed class ThermalModelTests
{
    [Fact]
    public async Task ReadAsync_TrainingThenIdle_FollowsFirstOrderCurve()
    {
        FakeTimeProvider time = new();
        IThermalModel model = FedEdgeHardware.CreateThermalModel(new ThermalModelOptions(), time);
        Assert.Equal(48, (await model.ReadAsync()).TemperatureCelsius);

        model.SetTraining(true);
        time.Advance(TimeSpan.FromSeconds(90));
        double afterOneTau = model.CurrentCelsius;
        Assert.Equal(58 - (10 * Math.Exp(-1)), afterOneTau, 9);

        time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(58, model.CurrentCelsius, 6);

        model.SetTraining(false);
        time.Advance(TimeSpan.FromSeconds(180));
        Assert.Equal(48 + (10 * Math.Exp(-2)), model.CurrentCelsius, 6);
        Assert.False((await model.ReadAsync()).Throttled);
    }

    [Fact]
    public async Task Governor_HotEnclosureModel_ShortensThenDeclines()
    {
        FakeTimeProvider time = new();
        IThermalModel model = FedEdgeHardware.CreateThermalModel(new ThermalModelOptions { LoadCelsius = 92 }, time);
        IThermalGovernor governor = FedEdgeHardware.CreateThermalGovernor(model, new ThermalGovernorOptions(), time);

        List<ThermalState> states = [];
        for (int round = 0; round < 30; round++)
        {
            GovernorDecision d = await governor.BeforeTrainingAsync(60);
            states.Add(governor.State);
            if (d.Declined)
            {
                time.Advance(TimeSpan.FromSeconds(60));
                continue;
            }

            model.SetTraining(true);
            time.Advance(TimeSpan.FromSeconds(Math.Min(60, d.MaxSteps)));
            model.SetTraining(false);
            time.Advance(d.Pause * Math.Min(60, d.MaxSteps));
        }

        Assert.Contains(ThermalState.Reduced, states);
        Assert.Contains(ThermalState.Declining, states);
        Assert.True(model.CurrentCelsius < 85);
    }

    [Theory]
    [InlineData(60, 50, 90)]
    [InlineData(48, 58, 0)]
    [InlineData(double.NaN, 58, 90)]
    public void CreateThermalModel_InvalidOptions_Throws(double idle, double load, double tauSeconds)
    {
        Assert.Throws<OptionsValidationException>(() => FedEdgeHardware.CreateThermalModel(new ThermalModelOptions
        {
            IdleCelsius = idle,
            LoadCelsius = load,
            TimeConstant = TimeSpan.FromSeconds(tauSeconds),
        }));
    }
}
