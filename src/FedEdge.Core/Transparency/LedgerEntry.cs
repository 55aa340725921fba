using System.Globalization;
using System.Text.Json;

namespace FedEdge.Transparency;

/// <summary>What a transparency-log entry records.</summary>
public enum LedgerEntryKind
{
    /// <summary>An update the round accepted: device, digest, the device's signature, sample count, validation outcome.</summary>
    Update = 0,

    /// <summary>An update refused, or a participant that sent none, with the reason.</summary>
    Refusal,

    /// <summary>The round record: strategy, participants, the new global model's hash.</summary>
    Round,

    /// <summary>A change of a device's reputation score, with its cause.</summary>
    Reputation,

    /// <summary>
    /// The withdrawal of a round whose head did not reach the committee's quorum: appended alone, right after that
    /// head, with the round and the committee's reason. The round's model was not published.
    /// </summary>
    Withdrawal,

    /// <summary>
    /// A secure-aggregation round's transcript: the roster, the threshold, the contributors, the recovered dropouts and
    /// the hash of the unmasked sum (appended before the round record).
    /// </summary>
    Transcript,
}

/// <summary>
/// One entry of the transparency log. Its leaf bytes are the UTF-8 JSON <see cref="ToJson"/> writes, with the entry's
/// index and time, and the log stores exactly those bytes (one line each), so a verifier hashes what it reads.
/// </summary>
public sealed record LedgerEntry
{
    /// <summary>What the entry records.</summary>
    public required LedgerEntryKind Kind { get; init; }

    /// <summary>The round the entry belongs to.</summary>
    public required long Round { get; init; }

    /// <summary>The device concerned (updates, refusals, reputation changes).</summary>
    public string? DeviceId { get; init; }

    /// <summary>The update's digest, lower-case hex SHA-256 of its canonical bytes (<see cref="Security.UpdateSigning.Digest"/>).</summary>
    public string? Digest { get; init; }

    /// <summary>The device's ECDSA signature over <see cref="Digest"/> (empty when the federation has no certificates).</summary>
    public ReadOnlyMemory<byte> Signature { get; init; }

    /// <summary>The device's certificate (DER) that verified <see cref="Signature"/>, so an auditor can check it against the federation CA.</summary>
    public ReadOnlyMemory<byte> Certificate { get; init; }

    /// <summary>The update's sample count (its aggregation weight as sent).</summary>
    public long? SampleCount { get; init; }

    /// <summary>The validation outcome of an update (e.g. <c>accepted</c>).</summary>
    public string? Outcome { get; init; }

    /// <summary>Why: a refusal's reason, a failed round's reason, or a reputation change's cause.</summary>
    public string? Reason { get; init; }

    /// <summary>The aggregation strategy (round records).</summary>
    public string? Strategy { get; init; }

    /// <summary>
    /// The pre-aggregation the robust rule ran after (round records of median, trimmedmean, krum, multikrum and bulyan):
    /// <c>nnm</c> (<see cref="Aggregation.PreAggregation.NearestNeighbourMixing"/>) or <c>none</c>. Null for the other
    /// strategies and in logs written before it was recorded.
    /// </summary>
    public string? Mixing { get; init; }

    /// <summary>The devices whose updates made the new model (round records).</summary>
    public IReadOnlyList<string>? Participants { get; init; }

    /// <summary>The new global model's hash (round records; the previous model's when the round failed).</summary>
    public string? ModelHash { get; init; }

    /// <summary>True when the round produced a new global model (round records).</summary>
    public bool? Completed { get; init; }

    /// <summary>The devices that received the secure-aggregation roster (transcripts).</summary>
    public IReadOnlyList<string>? Roster { get; init; }

    /// <summary>The secret-sharing threshold (transcripts).</summary>
    public int? Threshold { get; init; }

    /// <summary>Devices whose masks were removed after they dropped out (transcripts).</summary>
    public IReadOnlyList<string>? Dropouts { get; init; }

    /// <summary>Lower-case hex SHA-256 of the unmasked sum's float32 bytes (transcripts).</summary>
    public string? SumHash { get; init; }

    /// <summary>The hash of the strategy's server-optimiser state before the round (round records of stateful strategies; <see cref="StrategyStateHash"/>).</summary>
    public string? StateBefore { get; init; }

    /// <summary>The hash of the strategy's server-optimiser state after the round (round records of stateful strategies).</summary>
    public string? StateAfter { get; init; }

    /// <summary>The device's new score (reputation changes).</summary>
    public double? Score { get; init; }

    /// <summary>The device's score before the change (reputation changes).</summary>
    public double? PreviousScore { get; init; }

    /// <summary>True when the change quarantined the device (reputation changes).</summary>
    public bool? Quarantined { get; init; }

    /// <summary>The entry's leaf bytes: one JSON object, fields in a fixed order, with its log index and time.</summary>
    public byte[] ToJson(long index, DateTimeOffset time)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteNumber("index", index);
            json.WriteString("time", time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            json.WriteString("kind", KindName(Kind));
            json.WriteNumber("round", Round);
            Write(json, "device", DeviceId);
            Write(json, "digest", Digest);
            if (!Signature.IsEmpty)
            {
                json.WriteBase64String("signature", Signature.Span);
            }

            if (!Certificate.IsEmpty)
            {
                json.WriteBase64String("certificate", Certificate.Span);
            }

            if (SampleCount is long samples)
            {
                json.WriteNumber("samples", samples);
            }

            Write(json, "outcome", Outcome);
            Write(json, "reason", Reason);
            Write(json, "strategy", Strategy);
            Write(json, "mixing", Mixing);
            WriteList(json, "participants", Participants);

            Write(json, "model", ModelHash);
            if (Completed is bool completed)
            {
                json.WriteBoolean("completed", completed);
            }

            if (PreviousScore is double previous)
            {
                json.WriteNumber("previous_score", Math.Round(previous, 6));
            }

            if (Score is double score)
            {
                json.WriteNumber("score", Math.Round(score, 6));
            }

            if (Quarantined is bool quarantined)
            {
                json.WriteBoolean("quarantined", quarantined);
            }

            WriteList(json, "roster", Roster);
            if (Threshold is int threshold)
            {
                json.WriteNumber("threshold", threshold);
            }

            WriteList(json, "dropouts", Dropouts);
            Write(json, "sum", SumHash);
            Write(json, "state_before", StateBefore);
            Write(json, "state_after", StateAfter);

            json.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>Reads an entry's leaf bytes back.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an entry.</exception>
    public static (long Index, DateTimeOffset Time, LedgerEntry Entry) Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(json.ToArray());
            JsonElement e = document.RootElement;
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException("an entry is a JSON object");
            }

            long index = e.GetProperty("index").GetInt64();
            DateTimeOffset time = DateTimeOffset.Parse(e.GetProperty("time").GetString() ?? string.Empty, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            var entry = new LedgerEntry
            {
                Kind = ParseKind(e.GetProperty("kind").GetString()),
                Round = e.GetProperty("round").GetInt64(),
                DeviceId = Text(e, "device"),
                Digest = Text(e, "digest"),
                Signature = e.TryGetProperty("signature", out JsonElement s) ? s.GetBytesFromBase64() : ReadOnlyMemory<byte>.Empty,
                Certificate = e.TryGetProperty("certificate", out JsonElement c) ? c.GetBytesFromBase64() : ReadOnlyMemory<byte>.Empty,
                SampleCount = e.TryGetProperty("samples", out JsonElement n) ? n.GetInt64() : null,
                Outcome = Text(e, "outcome"),
                Reason = Text(e, "reason"),
                Strategy = Text(e, "strategy"),
                Mixing = Text(e, "mixing"),
                Participants = e.TryGetProperty("participants", out JsonElement p) ? p.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : null,
                ModelHash = Text(e, "model"),
                Completed = e.TryGetProperty("completed", out JsonElement done) ? done.GetBoolean() : null,
                PreviousScore = e.TryGetProperty("previous_score", out JsonElement ps) ? ps.GetDouble() : null,
                Score = e.TryGetProperty("score", out JsonElement sc) ? sc.GetDouble() : null,
                Quarantined = e.TryGetProperty("quarantined", out JsonElement q) ? q.GetBoolean() : null,
                Roster = e.TryGetProperty("roster", out JsonElement r) ? r.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : null,
                Threshold = e.TryGetProperty("threshold", out JsonElement t) ? t.GetInt32() : null,
                Dropouts = e.TryGetProperty("dropouts", out JsonElement dr) ? dr.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : null,
                SumHash = Text(e, "sum"),
                StateBefore = Text(e, "state_before"),
                StateAfter = Text(e, "state_after"),
            };
            return (index, time, entry);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("not a ledger entry: " + ex.Message, ex);
        }
    }

    /// <summary>The entry's kind as written in the log.</summary>
    public static string KindName(LedgerEntryKind kind) => kind switch
    {
        LedgerEntryKind.Update => "update",
        LedgerEntryKind.Refusal => "refusal",
        LedgerEntryKind.Round => "round",
        LedgerEntryKind.Reputation => "reputation",
        LedgerEntryKind.Withdrawal => "withdrawal",
        LedgerEntryKind.Transcript => "transcript",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static LedgerEntryKind ParseKind(string? kind) => kind switch
    {
        "update" => LedgerEntryKind.Update,
        "refusal" => LedgerEntryKind.Refusal,
        "round" => LedgerEntryKind.Round,
        "reputation" => LedgerEntryKind.Reputation,
        "withdrawal" => LedgerEntryKind.Withdrawal,
        "transcript" => LedgerEntryKind.Transcript,
        _ => throw new InvalidDataException($"unknown entry kind '{kind}'"),
    };

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static void WriteList(Utf8JsonWriter json, string name, IReadOnlyList<string>? values)
    {
        if (values is null)
        {
            return;
        }

        json.WriteStartArray(name);
        foreach (string v in values)
        {
            json.WriteStringValue(v);
        }

        json.WriteEndArray();
    }

    private static void Write(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
