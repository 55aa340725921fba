namespace FedEdge.Hardware;

/// <summary>Reads every hardware sensor the device has into one snapshot.</summary>
public interface IHardwareProbe
{
    /// <summary>
    /// Probes thermal zones, <c>vcgencmd</c>, cpufreq, memory, load and network counters. Missing files and
    /// tools give null readings; unreadable or malformed sources give null readings plus a
    /// <see cref="ProbeError"/> in <see cref="HardwareSnapshot.Errors"/>. Never throws for hardware reasons.
    /// </summary>
    ValueTask<HardwareSnapshot> ProbeAsync(CancellationToken cancellationToken = default);
}
