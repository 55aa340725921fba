using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>Source-generated log messages of the coordination engines (event ids 5000-5099).</summary>
internal static partial class Log
{
    [LoggerMessage(5000, LogLevel.Information, "Coordinator for federation {Federation} started at round {Round} (resumed: {Resumed})")]
    public static partial void CoordinatorStarted(ILogger logger, string federation, long round, bool resumed);

    [LoggerMessage(5001, LogLevel.Information, "Device {DeviceId} admitted")]
    public static partial void DeviceAdmitted(ILogger logger, string deviceId);

    [LoggerMessage(5002, LogLevel.Warning, "Device {DeviceId} refused: {Reasons}")]
    public static partial void DeviceRefused(ILogger logger, string deviceId, string reasons);

    [LoggerMessage(5003, LogLevel.Information, "Round {Round} started with {Selected} devices, deadline {Deadline:o}")]
    public static partial void RoundStarted(ILogger logger, long round, int selected, DateTimeOffset deadline);

    [LoggerMessage(5004, LogLevel.Information, "Round {Round} completed: {Participants} updates, loss {Loss}, {Seconds:F2} s")]
    public static partial void RoundCompleted(ILogger logger, long round, int participants, double? loss, double seconds);

    [LoggerMessage(5005, LogLevel.Warning, "Round {Round} failed: {Reason}")]
    public static partial void RoundFailed(ILogger logger, long round, string reason);

    [LoggerMessage(5006, LogLevel.Warning, "Update from {DeviceId} for round {Round} refused: {Reason}")]
    public static partial void UpdateRefused(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5007, LogLevel.Information, "Device {DeviceId} left round {Round}: {Reason}")]
    public static partial void ParticipantLeft(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5008, LogLevel.Warning, "Malformed inbound message from {Source}")]
    public static partial void Malformed(ILogger logger, string source, Exception error);

    [LoggerMessage(5009, LogLevel.Information, "Training stopped after round {Round}: {Reason}")]
    public static partial void Stopped(ILogger logger, long round, string reason);

    [LoggerMessage(5011, LogLevel.Warning, "Device {DeviceId} is not ready: {Reason}")]
    public static partial void DeviceNotReady(ILogger logger, string deviceId, string reason);

    [LoggerMessage(5012, LogLevel.Debug, "Device {DeviceId} announces {Intent} {Reason}")]
    public static partial void DeviceIntent(ILogger logger, string deviceId, FedEdge.Devices.DeviceIntent intent, string reason);

    [LoggerMessage(5010, LogLevel.Warning, "Status from device {DeviceId} ignored: it was not admitted")]
    public static partial void StatusFromUnknown(ILogger logger, string deviceId);

    [LoggerMessage(5020, LogLevel.Information, "Worker {DeviceId}: {From} -> {To} ({Reason})")]
    public static partial void WorkerState(ILogger logger, string deviceId, WorkerState from, WorkerState to, string? reason);

    [LoggerMessage(5021, LogLevel.Warning, "Worker {DeviceId} could not connect, retrying in {Delay}")]
    public static partial void WorkerConnectFailed(ILogger logger, string deviceId, TimeSpan delay, Exception error);

    [LoggerMessage(5022, LogLevel.Error, "Worker {DeviceId} failed in round {Round}: {Reason}")]
    public static partial void WorkerRoundFailed(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5023, LogLevel.Warning, "Worker {DeviceId}: update for round {Round} refused: {Reason}")]
    public static partial void WorkerUpdateRefused(ILogger logger, string deviceId, long round, string? reason);

    [LoggerMessage(5024, LogLevel.Warning, "Worker {DeviceId} ignored a task for round {Round}: {Reason}")]
    public static partial void WorkerTaskIgnored(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5030, LogLevel.Debug, "Training request from {DeviceId}: {Outcome}")]
    public static partial void TrainingRequest(ILogger logger, string deviceId, FedEdge.Selection.WindowRequestOutcome outcome);

    [LoggerMessage(5031, LogLevel.Warning, "Device {DeviceId} is lost: nothing heard for {Silence}")]
    public static partial void DeviceLost(ILogger logger, string deviceId, TimeSpan silence);

    [LoggerMessage(5032, LogLevel.Information, "Device {DeviceId} is back after being lost")]
    public static partial void DeviceReturned(ILogger logger, string deviceId);

    [LoggerMessage(5033, LogLevel.Debug, "Round {Round}: task re-sent to {DeviceId} (attempt {Attempt})")]
    public static partial void TaskResent(ILogger logger, long round, string deviceId, int attempt);

    [LoggerMessage(5034, LogLevel.Warning, "Sending to {Target} failed ({What}); it is retried")]
    public static partial void SendFailed(ILogger logger, string target, string what, Exception error);

    [LoggerMessage(5035, LogLevel.Debug, "Worker {DeviceId}: update of round {Round} re-sent (attempt {Attempt})")]
    public static partial void UpdateResent(ILogger logger, string deviceId, long round, int attempt);

    [LoggerMessage(5036, LogLevel.Error, "The liveness loop of {Component} failed")]
    public static partial void LivenessFailed(ILogger logger, string component, Exception error);

    [LoggerMessage(5037, LogLevel.Warning, "Worker {DeviceId} could not join ({Reason}); retrying in {Delay}")]
    public static partial void WorkerJoinRetry(ILogger logger, string deviceId, string reason, TimeSpan delay);

    [LoggerMessage(5038, LogLevel.Warning, "Worker {DeviceId} left round {Round}: {Reason}")]
    public static partial void WorkerLeftRound(ILogger logger, string deviceId, long round, string reason);

    [LoggerMessage(5060, LogLevel.Warning, "Worker {DeviceId} refused global model version {Version}: {Reason}")]
    public static partial void GlobalModelRefused(ILogger logger, string deviceId, long version, string reason);

    [LoggerMessage(5070, LogLevel.Information, "Device {DeviceId} reputation {Previous:0.00} -> {Score:0.00} after round {Round}: {Reason}")]
    public static partial void ReputationChanged(ILogger logger, string deviceId, long round, double previous, double score, string reason);

    [LoggerMessage(5071, LogLevel.Information, "Round {Round}: the committee co-signed head {Size} ({Signatures} of the {Quorum} needed)")]
    public static partial void CommitteeCoSigned(ILogger logger, long round, long size, int signatures, int quorum);

    [LoggerMessage(5072, LogLevel.Warning, "Round {Round}: witness {Witness} did not co-sign head {Size}: {Problem}")]
    public static partial void WitnessFailed(ILogger logger, long round, string witness, long size, string? problem);

    [LoggerMessage(5073, LogLevel.Error, "Round {Round}: the new model is not published: {Reason}")]
    public static partial void CommitteeRejected(ILogger logger, long round, string reason);

    [LoggerMessage(5074, LogLevel.Information, "Device {DeviceId} admitted: {Notes}")]
    public static partial void DeviceAdmittedWithNotes(ILogger logger, string deviceId, string notes);

    [LoggerMessage(5075, LogLevel.Warning, "Round {Round}: {Strategy} ran with f = {Effective} instead of {Configured}: {Updates} updates do not meet its bound for f = {Configured}, and {Quarantined} devices are quarantined as faulty")]
    public static partial void ByzantineCountLowered(ILogger logger, long round, string strategy, int effective, int configured, int updates, int quarantined);
}
