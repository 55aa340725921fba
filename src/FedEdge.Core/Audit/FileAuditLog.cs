using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FedEdge.Coordination;

namespace FedEdge.Audit;

/// <summary>
/// An append-only, hash-chained log of completed rounds (one JSON line per round): each entry holds
/// the round, the global model's <see cref="ParameterSet.ComputeHash"/>, the contributors and the
/// SHA-256 of the previous entry, and is itself hashed, so editing, removing or reordering any line
/// breaks the chain at that line (<see cref="Verify"/>). Thread-safe within one process.
/// </summary>
public sealed class FileAuditLog : IRoundAuditLog
{
    /// <summary>The previous-hash value of the first entry.</summary>
    public const string GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _lastHash;
    private long _sequence;

    /// <summary>Opens (or creates) the log at <paramref name="path"/>; an existing log is verified and continued.</summary>
    /// <exception cref="InvalidDataException">The existing log's chain is broken.</exception>
    public FileAuditLog(string path, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _path = Path.GetFullPath(path);
        _time = timeProvider ?? TimeProvider.System;
        AuditVerification existing = Verify(_path);
        if (!existing.IsValid)
        {
            throw new InvalidDataException($"The audit log '{_path}' is broken at line {existing.BrokenLine}: {existing.Problem}");
        }

        _lastHash = existing.LastHash;
        _sequence = existing.Entries;
    }

    /// <inheritdoc />
    public async ValueTask AppendAsync(RoundResult result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long sequence = _sequence + 1;
            string previous = _lastHash ?? GenesisHash;
            string body = Body(sequence, result.Round, _time.GetUtcNow(), result.GlobalHash, result.Contributors, result.SampleCount, previous);
            string hash = Hash(body);
            string line = body[..^1] + ",\"hash\":\"" + hash + "\"}\n";
            string? dir = Path.GetDirectoryName(_path);
            if (dir is not null)
            {
                Directory.CreateDirectory(dir);
            }

            var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
            await using (stream.ConfigureAwait(false))
            {
                byte[] bytes = Encoding.UTF8.GetBytes(line);
                await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            _sequence = sequence;
            _lastHash = hash;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Checks every entry's hash and its link to the previous one.</summary>
    public static AuditVerification Verify(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            return new AuditVerification(true, 0, null, null, null);
        }

        string previous = GenesisHash;
        long entries = 0;
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(line);
                JsonElement e = doc.RootElement;
                string body = Body(
                    e.GetProperty("seq").GetInt64(),
                    e.GetProperty("round").GetInt64(),
                    e.GetProperty("time").GetDateTimeOffset(),
                    e.GetProperty("model").GetString()!,
                    e.GetProperty("contributors").EnumerateArray().Select(c => c.GetString()!).ToArray(),
                    e.GetProperty("samples").GetInt64(),
                    e.GetProperty("prev").GetString()!);
                if (e.GetProperty("seq").GetInt64() != entries + 1)
                {
                    return new AuditVerification(false, entries, previous, lineNumber, $"sequence {e.GetProperty("seq").GetInt64()} where {entries + 1} was expected (a line was removed or reordered)");
                }

                if (!string.Equals(e.GetProperty("prev").GetString(), previous, StringComparison.Ordinal))
                {
                    return new AuditVerification(false, entries, previous, lineNumber, "the previous-entry hash does not match (a line was removed, inserted or reordered)");
                }

                string hash = Hash(body);
                if (!string.Equals(e.GetProperty("hash").GetString(), hash, StringComparison.Ordinal))
                {
                    return new AuditVerification(false, entries, previous, lineNumber, "the entry's hash does not match its content (the line was edited)");
                }

                previous = hash;
                entries++;
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return new AuditVerification(false, entries, previous, lineNumber, "unreadable entry: " + ex.Message);
            }
        }

        return new AuditVerification(true, entries, entries == 0 ? null : previous, null, null);
    }

    private static string Body(long sequence, long round, DateTimeOffset time, string model, IReadOnlyList<string> contributors, long samples, string previous)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", sequence);
            w.WriteNumber("round", round);
            w.WriteString("time", time.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("model", model);
            w.WriteStartArray("contributors");
            foreach (string c in contributors)
            {
                w.WriteStringValue(c);
            }

            w.WriteEndArray();
            w.WriteNumber("samples", samples);
            w.WriteString("prev", previous);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Hash(string body) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
}

/// <summary>The outcome of <see cref="FileAuditLog.Verify"/>.</summary>
/// <param name="IsValid">True when the whole chain checks out.</param>
/// <param name="Entries">Entries verified before the first problem (all of them when valid).</param>
/// <param name="LastHash">The hash of the last verified entry, or null for an empty log.</param>
/// <param name="BrokenLine">The 1-based line of the first problem, when invalid.</param>
/// <param name="Problem">What is wrong with it.</param>
public sealed record AuditVerification(bool IsValid, long Entries, string? LastHash, int? BrokenLine, string? Problem);
