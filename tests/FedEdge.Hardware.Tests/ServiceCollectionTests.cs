using FedEdge.Devices;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Hardware.Tests;

public sealed class ServiceCollectionTests
{
    [Fact]
    public async Task AddFedEdgeHardware_CannedRoot_ResolvesPortsBackedByTheSameSampler()
    {
        ServiceCollection services = new();
        services.AddFedEdgeHardware(o =>
        {
            o.Root = Canned.Root("rpi4-throttled");
            o.VcgencmdPath = "/nonexistent/vcgencmd";
        }).ConfigureThermalGovernor(o => o.DeclineAtCelsius = 90);
        services.AddFedEdgeHardware();
        await using ServiceProvider provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        Assert.Single(services, d => d.ServiceType == typeof(ITelemetrySource));
        Assert.Single(services, d => d.ServiceType == typeof(ITrainingGovernor));
        Assert.Same(provider.GetRequiredService<ITelemetrySampler>(), provider.GetRequiredService<ITelemetrySource>());
        Assert.Same(provider.GetRequiredService<IThermalGovernor>(), provider.GetRequiredService<ITrainingGovernor>());

        DeviceTelemetry telemetry = await provider.GetRequiredService<ITelemetrySource>().ReadAsync();
        Assert.Equal(82.7, telemetry.TemperatureCelsius);

        // 82.7 °C is below the configured 90 °C, but the firmware throttles: declined.
        GovernorDecision decision = await provider.GetRequiredService<ITrainingGovernor>().BeforeTrainingAsync(10);
        Assert.True(decision.Declined);
    }

    [Fact]
    public async Task AddFedEdgeHardware_InvalidOptions_FailAtStartValidation()
    {
        ServiceCollection services = new();
        services.AddFedEdgeHardware(o => o.Root = "/nonexistent/fededge").ConfigureThermalGovernor(o => o.ReducedStepFraction = 2);
        await using ServiceProvider provider = services.BuildServiceProvider();

        AggregateException ex = Assert.Throws<AggregateException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        List<string> failures = ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures).ToList();
        Assert.Contains(failures, f => f.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ReducedStepFraction", StringComparison.Ordinal));
    }

    [Fact]
    public void AddFedEdgeHardware_HostRegisteredGovernor_Kept()
    {
        ServiceCollection services = new();
        ITrainingGovernor mine = FedEdgeHardware.CreateThermalGovernor(new SettableTelemetry());
        services.AddSingleton(mine);
        services.AddFedEdgeHardware();
        using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Same(mine, provider.GetRequiredService<ITrainingGovernor>());
    }
}
