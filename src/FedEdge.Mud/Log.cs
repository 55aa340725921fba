using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace FedEdge.Mud;

/// <summary>Source-generated log messages of FedEdge.Mud (event ids 7000-7099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Device {DeviceId} admitted by MUD policy")]
    public static partial void Admitted(ILogger logger, string deviceId);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Device {DeviceId} refused by MUD policy: {Reasons}")]
    public static partial void Refused(ILogger logger, string deviceId, string reasons);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Fetched MUD file {Url} ({Bytes} bytes)")]
    public static partial void Fetched(ILogger logger, string url, int bytes);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "Fetching MUD file {Url} failed: {Reason}; serving the stale copy")]
    public static partial void ServingStale(ILogger logger, string url, string reason);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "MUD file {Url} changed ({Change}); re-approval required")]
    public static partial void ReapprovalRequired(ILogger logger, string url, string change);
}

/// <summary>The FedEdge.Mud meter and activity source.</summary>
internal static class MudMetrics
{
    public const string Name = "FedEdge.Mud";

    public static readonly Meter Meter = new(Name);

    public static readonly ActivitySource ActivitySource = new(Name);

    public static readonly Counter<long> Admissions = Meter.CreateCounter<long>("fededge.mud.admissions", "{decision}", "Admission decisions by outcome.");

    public static readonly Counter<long> Fetches = Meter.CreateCounter<long>("fededge.mud.fetches", "{fetch}", "MUD file fetches by outcome.");
}
