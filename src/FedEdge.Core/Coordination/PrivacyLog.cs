using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <content>Log events of the engines' privacy features.</content>
internal static partial class Log
{
    [LoggerMessage(5100, LogLevel.Warning, "Worker {DeviceId} left secure aggregation in round {Round}: {Reason}")]
    public static partial void WorkerSecureAggregationLeft(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5101, LogLevel.Debug, "Worker {DeviceId} ignored a protocol message: {Reason}")]
    public static partial void WorkerProtocolIgnored(ILogger logger, string deviceId, string reason);
}
