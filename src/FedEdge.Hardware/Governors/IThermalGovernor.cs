using FedEdge.Training;

namespace FedEdge.Hardware;

/// <summary>The thermal governor's state.</summary>
public enum ThermalState
{
    /// <summary>Cool enough: training proceeds unchanged.</summary>
    Normal = 0,

    /// <summary>Warm: fewer steps and a pause between batches.</summary>
    Reduced = 1,

    /// <summary>Hot or throttled: rounds are declined and running training stops at the next batch.</summary>
    Declining = 2,
}

/// <summary>A training governor driven by the device's temperature and throttling, with hysteresis.</summary>
public interface IThermalGovernor : ITrainingGovernor
{
    /// <summary>The state after the last decision.</summary>
    ThermalState State { get; }

    /// <summary>The temperature the last decision saw, or null when not available.</summary>
    double? LastTemperatureCelsius { get; }
}
