using FedEdge.Privacy;
using Microsoft.Extensions.Logging;

namespace FedEdge.Privacy;

/// <summary>Source-generated log messages of FedEdge.Privacy (event ids 8000–8099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Secure aggregation round {Round}: phase {Phase} closed with {Count} of {Expected} clients")]
    public static partial void PhaseClosed(ILogger logger, long round, SecAggPhase phase, int count, int expected);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Warning, Message = "Secure aggregation round {Round} aborted in phase {Phase}: {Reason} ({Detail})")]
    public static partial void RoundAborted(ILogger logger, long round, SecAggPhase phase, SecAggAbortReason reason, string detail);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Information, Message = "Secure aggregation round {Round} completed: {Survivors} inputs summed, {Dropped} dropouts recovered")]
    public static partial void RoundCompleted(ILogger logger, long round, int survivors, int dropped);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Information, Message = "Privacy budget: epsilon {Epsilon:F3} at delta {Delta:E1} after {Rounds} rounds")]
    public static partial void PrivacySpent(ILogger logger, double epsilon, double delta, int rounds);

    [LoggerMessage(EventId = 8020, Level = LogLevel.Warning, Message = "Worker {DeviceId} left secure aggregation in round {Round}: {Reason}")]
    public static partial void Left(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(EventId = 8021, Level = LogLevel.Debug, Message = "Worker {DeviceId} ignored a protocol message: {Reason}")]
    public static partial void ProtocolIgnored(ILogger logger, string deviceId, string reason);
}
