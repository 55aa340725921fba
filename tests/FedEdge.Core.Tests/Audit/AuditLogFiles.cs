using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FedEdge.Audit;
using FedEdge.Coordination;

namespace FedEdge.Core.Tests.Audit;

/// <summary>One audit entry's content, without its sequence number and hashes (which <see cref="AuditLogFiles.Chain"/> recomputes).</summary>
public sealed record AuditEntry(long Round, string Time, string Model, IReadOnlyList<string> Contributors, long Samples);

/// <summary>
/// Test helpers that write audit logs the way an attacker would: read the entries, change them, and recompute
/// every sequence number, previous-entry hash and entry hash exactly as <see cref="FileAuditLog"/> does.
/// </summary>
public static class AuditLogFiles
{
    public static RoundResult Round(long round)
    {
        var parameters = new ParameterSet(new ParameterLayout(new TensorSpec("w", 2)), [round, -round]);
        return new RoundResult
        {
            Round = round,
            Completed = true,
            Contributors = ["alice", "bob"],
            SampleCount = 10 * round,
            GlobalParameters = parameters,
            GlobalHash = parameters.ComputeHash(),
        };
    }

    /// <summary>Appends rounds <paramref name="first"/> .. <paramref name="first"/> + <paramref name="count"/> - 1 and returns the log's head.</summary>
    public static async Task<AuditLogHead> AppendRoundsAsync(FileAuditLog log, int count, long first = 1)
    {
        for (long r = first; r < first + count; r++)
        {
            await log.AppendAsync(Round(r));
        }

        return log.Head;
    }

    public static AuditEntry Entry(long round) => new(
        round,
        DateTimeOffset.UnixEpoch.AddDays(20_000).AddSeconds(round).ToString("O", CultureInfo.InvariantCulture),
        Round(round).GlobalHash,
        ["alice", "bob"],
        10 * round);

    public static List<AuditEntry> Read(string path) =>
        File.ReadLines(path).Select(line =>
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement e = doc.RootElement;
            return new AuditEntry(
                e.GetProperty("round").GetInt64(),
                e.GetProperty("time").GetString()!,
                e.GetProperty("model").GetString()!,
                e.GetProperty("contributors").EnumerateArray().Select(c => c.GetString()!).ToArray(),
                e.GetProperty("samples").GetInt64());
        }).ToList();

    /// <summary>The lines of a log holding <paramref name="entries"/>, numbered from 1 and chained from the genesis hash.</summary>
    public static string[] Chain(IEnumerable<AuditEntry> entries)
    {
        var lines = new List<string>();
        string previous = FileAuditLog.GenesisHash;
        long sequence = 0;
        foreach (AuditEntry entry in entries)
        {
            sequence++;
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteNumber("seq", sequence);
                w.WriteNumber("round", entry.Round);
                w.WriteString("time", entry.Time);
                w.WriteString("model", entry.Model);
                w.WriteStartArray("contributors");
                foreach (string c in entry.Contributors)
                {
                    w.WriteStringValue(c);
                }

                w.WriteEndArray();
                w.WriteNumber("samples", entry.Samples);
                w.WriteString("prev", previous);
                w.WriteEndObject();
            }

            string body = Encoding.UTF8.GetString(buffer.ToArray());
            previous = Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
            lines.Add(body[..^1] + ",\"hash\":\"" + previous + "\"}");
        }

        return [.. lines];
    }

    /// <summary>The "hash" field of a log line.</summary>
    public static string HashOf(string line)
    {
        using JsonDocument doc = JsonDocument.Parse(line);
        return doc.RootElement.GetProperty("hash").GetString()!;
    }

    /// <summary>Writes <paramref name="lines"/> the way the log does: one per line, each ending in '\n'.</summary>
    public static void Write(string path, IEnumerable<string> lines) =>
        File.WriteAllText(path, string.Concat(lines.Select(l => l + "\n")));
}
