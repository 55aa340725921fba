using Microsoft.Extensions.Logging;

namespace FedEdge.Transport;

/// <summary>Source-generated log messages of FedEdge.Transport (event ids 6000-6099).</summary>
internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Warning, "Malformed inbound message on {Source}: {Reason}")]
    public static partial void Malformed(ILogger logger, string source, string reason);

    [LoggerMessage(6001, LogLevel.Error, "The handler failed on a message from {Source}")]
    public static partial void HandlerFailed(ILogger logger, string source, Exception error);

    [LoggerMessage(6002, LogLevel.Information, "MQTT client {ClientId} disconnected ({Reason}); reconnecting")]
    public static partial void Disconnected(ILogger logger, string clientId, string reason);

    [LoggerMessage(6003, LogLevel.Information, "MQTT client {ClientId} connected to {Endpoint} (session present: {SessionPresent})")]
    public static partial void Connected(ILogger logger, string clientId, string endpoint, bool sessionPresent);

    [LoggerMessage(6004, LogLevel.Debug, "MQTT client {ClientId} reconnect attempt {Attempt} failed; next in {DelayMs} ms: {Reason}")]
    public static partial void ReconnectFailed(ILogger logger, string clientId, int attempt, double delayMs, string reason);

    [LoggerMessage(6005, LogLevel.Information, "Embedded MQTT broker listening on {Endpoint} for federation {Federation}")]
    public static partial void BrokerStarted(ILogger logger, string endpoint, string federation);

    [LoggerMessage(6006, LogLevel.Warning, "Embedded broker refused connection of client {ClientId} user {User}: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, string clientId, string user, string reason);

    [LoggerMessage(6007, LogLevel.Warning, "Embedded broker ACL denied {Operation} on {Topic} for user {User}")]
    public static partial void AclDenied(ILogger logger, string operation, string topic, string user);

    [LoggerMessage(6008, LogLevel.Debug, "Duplicate message {MessageId} from {Source} dropped")]
    public static partial void Duplicate(ILogger logger, string messageId, string source);

    [LoggerMessage(6009, LogLevel.Warning, "Refused join of {DeviceId}: protocol version {Version}, this coordinator speaks {Supported}")]
    public static partial void ProtocolMismatch(ILogger logger, string deviceId, int version, int supported);

    [LoggerMessage(6010, LogLevel.Warning, "Publish on {Topic} failed ({Reason}); retrying after reconnect")]
    public static partial void PublishRetry(ILogger logger, string topic, string reason);

    [LoggerMessage(6011, LogLevel.Information, "gRPC coordinator listening on {Endpoint}")]
    public static partial void GrpcStarted(ILogger logger, string endpoint);

    [LoggerMessage(6012, LogLevel.Warning, "gRPC call failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void GrpcRetry(ILogger logger, string reason, double delayMs);

    [LoggerMessage(6013, LogLevel.Debug, "Clean disconnect of {ClientId} failed ({Reason}); the connection was already gone")]
    public static partial void DisconnectFailed(ILogger logger, string clientId, string reason);

    [LoggerMessage(6014, LogLevel.Warning, "MQTT client {ClientId} cannot reach the broker {Endpoint} (attempt {Attempt}); retrying in {DelayMs} ms: {Reason}")]
    public static partial void BrokerUnreachable(ILogger logger, string clientId, string endpoint, int attempt, double delayMs, string reason);

    [LoggerMessage(4060, LogLevel.Warning, "Broker refused a client certificate ({Refusal}): {Reason}")]
    public static partial void CertificateRefused(ILogger logger, string refusal, string reason);

    [LoggerMessage(6015, LogLevel.Warning, "MQTT client {ClientId}: {Queued} received messages already wait for the handler (the broker ignores Receive Maximum); a message on {Topic} is dropped")]
    public static partial void InboundDropped(ILogger logger, string clientId, int queued, string topic);

    [LoggerMessage(4061, LogLevel.Warning, "gRPC coordinator refused a device ({Refusal}): {Reason}")]
    public static partial void GrpcCertificateRefused(ILogger logger, string refusal, string reason);

    [LoggerMessage(6016, LogLevel.Debug, "MQTT client {ClientId}: acknowledging a message on {Topic} failed ({Reason}); the broker re-delivers it to the session")]
    public static partial void AcknowledgeFailed(ILogger logger, string clientId, string topic, string reason);

    [LoggerMessage(6030, LogLevel.Information, "The task of round {Round} starts from global model {ModelHash}, which this device has not received; waiting for the coordinator to re-send the task with its parameters")]
    public static partial void TaskReferenceUnresolved(ILogger logger, long round, string modelHash);

    [LoggerMessage(6031, LogLevel.Debug, "Device {DeviceId}: re-send of the round {Round} update held back; the broker has the last copy and receipts have been taking longer")]
    public static partial void UpdateResendHeld(ILogger logger, string deviceId, long round);
}
