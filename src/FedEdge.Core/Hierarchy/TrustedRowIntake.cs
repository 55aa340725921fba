using FedEdge.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Hierarchy;

/// <summary>Why an edge refused a device's row upload (Model-2).</summary>
public enum RowUploadRefusal
{
    /// <summary>The administrator has not marked the device trusted: its rows must stay on the device.</summary>
    Untrusted,

    /// <summary>The rows came over a link without TLS: raw rows never travel in plain text.</summary>
    PlainTextLink,

    /// <summary>The upload could not be decoded, or its rows do not fit the model (wrong feature count).</summary>
    Malformed,
}

/// <summary>What an edge did with one row upload.</summary>
public sealed record RowUploadOutcome
{
    /// <summary>The device that sent the rows (as its link authenticated it).</summary>
    public required string DeviceId { get; init; }

    /// <summary>Whether the edge keeps the rows and trains on them.</summary>
    public bool Accepted => Refusal is null;

    /// <summary>Why the upload was refused; null when accepted.</summary>
    public RowUploadRefusal? Refusal { get; init; }

    /// <summary>A sentence for logs and reports: what was refused and why.</summary>
    public string? Reason { get; init; }

    /// <summary>Rows accepted (0 when refused).</summary>
    public int Rows { get; init; }

    /// <summary>Bytes of the upload as received.</summary>
    public long Bytes { get; init; }
}

/// <summary>
/// The edge side of Flake's Model-2: devices the administrator marked trusted upload their normalised rows, and the
/// edge trains on the rows it holds. Two rules hold for every upload, whatever the transport: rows arrive over TLS only,
/// and only from trusted devices. Anything else is refused with a typed reason and logged. Thread-safe.
/// </summary>
public sealed class TrustedRowIntake
{
    private readonly HashSet<string> _trusted;
    private readonly int _featureCount;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Dataset> _rows = new(StringComparer.Ordinal);
    private readonly List<RowUploadOutcome> _outcomes = [];

    /// <summary>Creates an intake for rows of <paramref name="featureCount"/> features from <paramref name="trustedDevices"/>.</summary>
    public TrustedRowIntake(IEnumerable<string> trustedDevices, int featureCount, ILogger<TrustedRowIntake>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(trustedDevices);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        _trusted = new HashSet<string>(trustedDevices, StringComparer.Ordinal);
        _featureCount = featureCount;
        _logger = logger ?? NullLogger<TrustedRowIntake>.Instance;
    }

    /// <summary>The devices whose uploads are accepted.</summary>
    public IReadOnlyCollection<string> TrustedDevices => _trusted;

    /// <summary>Every upload offered so far, accepted or refused, in arrival order.</summary>
    public IReadOnlyList<RowUploadOutcome> Outcomes
    {
        get
        {
            lock (_gate)
            {
                return [.. _outcomes];
            }
        }
    }

    /// <summary>The rows held: every accepted device's latest upload, pooled in device id order (empty when none).</summary>
    public Dataset? Rows
    {
        get
        {
            lock (_gate)
            {
                return _rows.Count == 0 ? null : Dataset.Concat([.. _rows.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Value)]);
            }
        }
    }

    /// <summary>
    /// Screens an upload before its rows are sent: a device that may not upload learns it before any row leaves it.
    /// Returns null when the rows may come, or the refusal (recorded and logged like any other).
    /// </summary>
    public RowUploadOutcome? Screen(string deviceId, bool encryptedLink)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        RowUploadOutcome? refusal = ScreenCore(deviceId, encryptedLink, 0);
        if (refusal is not null)
        {
            lock (_gate)
            {
                _outcomes.Add(refusal);
            }
        }

        return refusal;
    }

    /// <summary>
    /// Offers one upload. <paramref name="deviceId"/> is the identity the link authenticated; <paramref name="encryptedLink"/>
    /// says whether the link is TLS. A device's newer upload replaces its older one.
    /// </summary>
    public RowUploadOutcome Offer(string deviceId, bool encryptedLink, ReadOnlySpan<byte> payload)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        RowUploadOutcome outcome;
        if (ScreenCore(deviceId, encryptedLink, payload.Length) is { } refused)
        {
            outcome = refused;
        }
        else if (RowUploadCodec.TryDecode(payload, out string? problem) is not { } rows)
        {
            outcome = Refuse(deviceId, RowUploadRefusal.Malformed, problem!, payload.Length);
        }
        else if (rows.FeatureCount != _featureCount)
        {
            outcome = Refuse(deviceId, RowUploadRefusal.Malformed, $"rows have {rows.FeatureCount} features; the model takes {_featureCount}", payload.Length);
        }
        else
        {
            outcome = new RowUploadOutcome { DeviceId = deviceId, Rows = rows.Count, Bytes = payload.Length };
            lock (_gate)
            {
                _rows[deviceId] = rows;
            }

            HierarchyLog.RowsAccepted(_logger, deviceId, rows.Count, payload.Length);
        }

        lock (_gate)
        {
            _outcomes.Add(outcome);
        }

        return outcome;
    }

    private RowUploadOutcome? ScreenCore(string deviceId, bool encryptedLink, long bytes) =>
        !encryptedLink ? Refuse(deviceId, RowUploadRefusal.PlainTextLink, "rows travel over TLS only; this link is plain text", bytes)
        : !_trusted.Contains(deviceId) ? Refuse(deviceId, RowUploadRefusal.Untrusted, $"device '{deviceId}' is not marked trusted; its rows stay on the device", bytes)
        : null;

    private RowUploadOutcome Refuse(string deviceId, RowUploadRefusal refusal, string reason, long bytes)
    {
        HierarchyLog.RowsRefused(_logger, deviceId, refusal, reason);
        return new RowUploadOutcome { DeviceId = deviceId, Refusal = refusal, Reason = reason, Bytes = bytes };
    }
}

/// <summary>Source-generated log messages of the edge tier (event ids 5080-5089).</summary>
internal static partial class HierarchyLog
{
    [LoggerMessage(5080, LogLevel.Information, "Model-2: rows of {DeviceId} accepted ({Rows} rows, {Bytes} bytes)")]
    public static partial void RowsAccepted(ILogger logger, string deviceId, int rows, long bytes);

    [LoggerMessage(5081, LogLevel.Warning, "Model-2: rows of {DeviceId} refused ({Refusal}): {Reason}")]
    public static partial void RowsRefused(ILogger logger, string deviceId, RowUploadRefusal refusal, string reason);
}
