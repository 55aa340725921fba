using Microsoft.Extensions.Logging;

namespace FedEdge.Hardware;

/// <summary>FedEdge.Hardware's log messages (event ids 9000–9099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 9000, Level = LogLevel.Warning, Message = "Probe source {Source} is unavailable: {Error}")]
    public static partial void ProbeUnavailable(ILogger logger, string source, string error);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "Probe source {Source} has malformed contents: {Error}")]
    public static partial void ProbeBadData(ILogger logger, string source, string error);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Debug, Message = "Probe source {Source} is still unavailable or malformed: {Error}")]
    public static partial void ProbeStillFailing(ILogger logger, string source, string error);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Debug, Message = "Hardware snapshot: {Snapshot}")]
    public static partial void Sampled(ILogger logger, HardwareSnapshot snapshot);

    [LoggerMessage(EventId = 9010, Level = LogLevel.Warning, Message = "Thermal governor: {From} -> {To} at {Temperature} °C (throttled: {Throttled})")]
    public static partial void ThermalTransition(ILogger logger, ThermalState from, ThermalState to, string temperature, string throttled);

    [LoggerMessage(EventId = 9011, Level = LogLevel.Information, Message = "Thermal governor decision before={Before}: declined={Declined} maxSteps={MaxSteps} pause={Pause} reason={Reason}")]
    public static partial void Decision(ILogger logger, bool before, bool declined, int maxSteps, TimeSpan pause, string? reason);
}
