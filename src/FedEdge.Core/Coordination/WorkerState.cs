using System.Text.Json;

namespace FedEdge.Coordination;

/// <summary>The worker's life cycle (Flake's state machine): NotReady → Online / Offline → ReadyForLearning → Running, plus Inference.</summary>
public enum WorkerState
{
    /// <summary>Starting, refused, or unable to train (bad local data, declined); <see cref="Worker.StateReason"/> says why.</summary>
    NotReady = 0,

    /// <summary>Connected to the coordinator, not yet admitted.</summary>
    Online = 1,

    /// <summary>Cannot reach the coordinator; retrying with back-off.</summary>
    Offline = 2,

    /// <summary>Admitted, local data valid, waiting for a round task.</summary>
    ReadyForLearning = 3,

    /// <summary>Training a round.</summary>
    Running = 4,

    /// <summary>Admitted for inference: scores local data with each new global model.</summary>
    Inference = 5,
}

/// <summary>What a worker persists about itself so it survives a crash or power loss.</summary>
public sealed record WorkerStateRecord
{
    /// <summary>The device id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The state when the record was written.</summary>
    public required WorkerState State { get; init; }

    /// <summary>Why the worker was in that state, when there is a reason.</summary>
    public string? Reason { get; init; }

    /// <summary>The last round the worker started training.</summary>
    public long LastRound { get; init; }

    /// <summary>The version of the last global model the worker received.</summary>
    public long GlobalVersion { get; init; }

    /// <summary>When the record was written.</summary>
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>Reads and writes a <see cref="WorkerStateRecord"/> file atomically (temporary file, flush, rename).</summary>
internal static class WorkerStateFile
{
    public static WorkerStateRecord? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement r = doc.RootElement;
            return new WorkerStateRecord
            {
                DeviceId = r.GetProperty("deviceId").GetString()!,
                State = Enum.Parse<WorkerState>(r.GetProperty("state").GetString()!),
                Reason = r.TryGetProperty("reason", out JsonElement reason) ? reason.GetString() : null,
                LastRound = r.GetProperty("lastRound").GetInt64(),
                GlobalVersion = r.GetProperty("globalVersion").GetInt64(),
                UpdatedAt = r.GetProperty("updatedAt").GetDateTimeOffset(),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException or FormatException)
        {
            throw new InvalidDataException($"The worker state file '{path}' is unreadable ({ex.Message}); delete it to start fresh.", ex);
        }
    }

    public static void Write(string path, WorkerStateRecord record)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        string temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
                {
                    w.WriteStartObject();
                    w.WriteString("deviceId", record.DeviceId);
                    w.WriteString("state", record.State.ToString());
                    if (record.Reason is not null)
                    {
                        w.WriteString("reason", record.Reason);
                    }

                    w.WriteNumber("lastRound", record.LastRound);
                    w.WriteNumber("globalVersion", record.GlobalVersion);
                    w.WriteString("updatedAt", record.UpdatedAt);
                    w.WriteEndObject();
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
