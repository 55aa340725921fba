using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FedEdge.Coordination;

namespace FedEdge.Audit;

/// <summary>
/// An append-only, hash-chained log of completed rounds (one JSON line per round): each entry holds
/// the round, the global model's <see cref="ParameterSet.ComputeHash"/>, the contributors and the
/// SHA-256 of the previous entry, and is itself hashed, so editing, removing or reordering any line
/// breaks the chain at that line (<see cref="Verify(string)"/>). Deleting the last lines, or rewriting the
/// whole log with every hash recomputed, keeps a valid chain; a checkpoint that recorded <see cref="Head"/> catches
/// both (<see cref="Verify(string, AuditLogHead?)"/>). Thread-safe within one process.
/// </summary>
public sealed class FileAuditLog : IRoundAuditLog
{
    /// <summary>The previous-hash value of the first entry.</summary>
    public const string GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AuditLogHead _head;

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

        _head = existing.Head;
    }

    /// <summary>The log's head after the last append (the existing log's head right after opening it).</summary>
    public AuditLogHead Head => Volatile.Read(ref _head);

    /// <inheritdoc />
    public async ValueTask AppendAsync(RoundResult result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            AuditLogHead head = _head;
            long sequence = head.Entries + 1;
            string previous = head.HeadHash;
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

            Volatile.Write(ref _head, new AuditLogHead(sequence, hash));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Checks every entry's hash and its link to the previous one.</summary>
    /// <remarks>The chain alone cannot tell a log that lost its last entries, or one rewritten with every hash recomputed; pass the checkpoint's head to <see cref="Verify(string, AuditLogHead?)"/> for that.</remarks>
    public static AuditVerification Verify(string path) => Verify(path, anchor: null);

    /// <summary>
    /// Checks every entry's hash and its link to the previous one and, when <paramref name="anchor"/> is given
    /// (the <see cref="Head"/> a checkpoint recorded), that the log still holds at least <see cref="AuditLogHead.Entries"/>
    /// entries and that entry number <see cref="AuditLogHead.Entries"/> still has the hash <see cref="AuditLogHead.HeadHash"/>.
    /// Entries appended after the checkpoint (a crash between the audit append and the checkpoint save) are accepted.
    /// </summary>
    /// <param name="path">The log file; a missing file is an empty log.</param>
    /// <param name="anchor">The head a checkpoint recorded, or null to check the chain only.</param>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    public static AuditVerification Verify(string path, AuditLogHead? anchor)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        (AuditVerification chain, string? anchoredHash) = VerifyChain(path, anchor?.Entries ?? -1);
        if (!chain.IsValid || anchor is null)
        {
            return chain;
        }

        if (chain.Entries < anchor.Entries)
        {
            return chain with
            {
                IsValid = false,
                BrokenLine = checked((int)chain.Entries + 1),
                Problem = $"truncated: the log has {chain.Entries} entries but the checkpoint recorded {anchor.Entries}",
                Failure = AuditFailure.Truncated,
            };
        }

        if (!string.Equals(anchoredHash, anchor.HeadHash, StringComparison.Ordinal))
        {
            return chain with
            {
                IsValid = false,
                BrokenLine = anchor.Entries == 0 ? null : checked((int)anchor.Entries),
                Problem = $"rewritten: entry {anchor.Entries}'s hash {anchoredHash} differs from the checkpoint's head {anchor.HeadHash} (the log was changed and its hashes recomputed)",
                Failure = AuditFailure.Rewritten,
            };
        }

        return chain;
    }

    /// <summary>Verifies the chain and returns the hash of entry <paramref name="captureAt"/> (the genesis hash for 0) when the log reaches it.</summary>
    private static (AuditVerification Result, string? Captured) VerifyChain(string path, long captureAt)
    {
        string previous = GenesisHash;
        string? captured = captureAt == 0 ? GenesisHash : null;
        if (!File.Exists(path))
        {
            return (new AuditVerification(true, 0, null, null, null), captured);
        }

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
                    return (Broken(entries, previous, lineNumber, $"sequence {e.GetProperty("seq").GetInt64()} where {entries + 1} was expected (a line was removed or reordered)"), captured);
                }

                if (!string.Equals(e.GetProperty("prev").GetString(), previous, StringComparison.Ordinal))
                {
                    return (Broken(entries, previous, lineNumber, "the previous-entry hash does not match (a line was removed, inserted or reordered)"), captured);
                }

                string hash = Hash(body);
                if (!string.Equals(e.GetProperty("hash").GetString(), hash, StringComparison.Ordinal))
                {
                    return (Broken(entries, previous, lineNumber, "the entry's hash does not match its content (the line was edited)"), captured);
                }

                previous = hash;
                entries++;
                if (entries == captureAt)
                {
                    captured = hash;
                }
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return (Broken(entries, previous, lineNumber, "unreadable entry: " + ex.Message), captured);
            }
        }

        return (new AuditVerification(true, entries, entries == 0 ? null : previous, null, null), captured);
    }

    private static AuditVerification Broken(long entries, string previous, int line, string problem) =>
        new(false, entries, entries == 0 ? null : previous, line, problem, AuditFailure.BrokenChain);

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
