using System.Diagnostics.Metrics;
using FedEdge.Devices;
using FedEdge.Hardware.Governors;
using FedEdge.Hardware.Probing;
using FedEdge.Hardware.Seams;
using FedEdge.Hardware.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Hardware;

/// <summary>Factories for the built-in probe, sampler and thermal governor, for hosts without dependency injection.</summary>
public static class FedEdgeHardware
{
    /// <summary>The name of the package's <see cref="Meter"/>.</summary>
    public const string MeterName = TelemetrySampler.MeterName;

    /// <summary>Creates the Linux / Raspberry Pi probe reading under <see cref="HardwareOptions.Root"/>.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static IHardwareProbe CreateProbe(HardwareOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        RootedFileSystem files = new(options.Root);
        ICommandRunner? commands = null;
        if (options.UseVcgencmd)
        {
            commands = new SystemCommandRunner(options.CommandTimeout);
            string? canned = options.CannedVcgencmdDirectory ?? (files.Root == "/" ? null : "/vcgencmd");
            if (canned is not null)
            {
                commands = new FallbackCommandRunner(commands, new CannedCommandRunner(files, canned));
            }
        }

        return new LinuxHardwareProbe(
            files,
            commands,
            options.VcgencmdPath,
            timeProvider ?? TimeProvider.System,
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("FedEdge.Hardware.Probe"));
    }

    /// <summary>Creates a sampler over <paramref name="probe"/>; it also serves as Core's <see cref="ITelemetrySource"/>.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static ITelemetrySampler CreateSampler(IHardwareProbe probe, HardwareOptions options, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null) =>
        new TelemetrySampler(probe, options, timeProvider ?? TimeProvider.System, meterFactory);

    /// <summary>Creates the thermal governor reading <paramref name="telemetry"/>.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static IThermalGovernor CreateThermalGovernor(
        ITelemetrySource telemetry,
        ThermalGovernorOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null) =>
        new ThermalTrainingGovernor(
            telemetry,
            options ?? new ThermalGovernorOptions(),
            timeProvider ?? TimeProvider.System,
            (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("FedEdge.Hardware.ThermalGovernor"),
            meterFactory);

    /// <summary>
    /// Creates a modelled device temperature for a simulated device (no real sensor): first-order heating while
    /// training and cooling while idle, on <paramref name="timeProvider"/>. Defaults are CoLearn's Raspberry Pi 3B+ figures.
    /// </summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static IThermalModel CreateThermalModel(ThermalModelOptions? options = null, TimeProvider? timeProvider = null) =>
        new ThermalModel(options ?? new ThermalModelOptions(), timeProvider ?? TimeProvider.System);
}
