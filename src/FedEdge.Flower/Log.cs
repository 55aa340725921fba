using Microsoft.Extensions.Logging;

namespace FedEdge.Flower;

/// <summary>Source-generated log messages of the Flower SuperNode (event ids 9700-9719).</summary>
internal static partial class Log
{
    [LoggerMessage(9700, LogLevel.Information, "Flower node {NodeId} active at {SuperLink} (heartbeat every {Interval} s, registered: {Registered})")]
    public static partial void NodeActive(ILogger logger, ulong nodeId, Uri superLink, double interval, bool registered);

    [LoggerMessage(9701, LogLevel.Information, "Flower {MessageType} message {MessageId} for run {RunId} received")]
    public static partial void MessageReceived(ILogger logger, string messageType, string messageId, ulong runId);

    [LoggerMessage(9702, LogLevel.Information, "Flower reply {ReplyId} to {MessageId} pushed ({Kind})")]
    public static partial void ReplyPushed(ILogger logger, string replyId, string messageId, string kind);

    [LoggerMessage(9703, LogLevel.Warning, "Flower message {MessageId} refused: {Reason}")]
    public static partial void MessageRefused(ILogger logger, string messageId, string reason);

    [LoggerMessage(9704, LogLevel.Warning, "Flower call {Call} failed: {Reason}")]
    public static partial void CallFailed(ILogger logger, string call, string reason);

    [LoggerMessage(9705, LogLevel.Information, "Flower node {NodeId} left the SuperLink (unregistered: {Unregistered})")]
    public static partial void NodeLeft(ILogger logger, ulong nodeId, bool unregistered);

    [LoggerMessage(9706, LogLevel.Warning, "Flower message {MessageId} expired before its reply was ready; no reply sent")]
    public static partial void ReplyExpired(ILogger logger, string messageId);
}
