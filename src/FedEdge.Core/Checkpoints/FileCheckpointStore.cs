using System.Runtime.InteropServices;
using System.Text.Json;
using FedEdge.Aggregation;
using FedEdge.Audit;
using FedEdge.Selection;

namespace FedEdge.Checkpoints;

/// <summary>
/// Keeps the latest checkpoint in one JSON file (<c>checkpoint.json</c> in a folder). A save writes
/// a temporary file next to it, flushes it to disk and renames it over the old one, so a crash
/// leaves either the previous or the new checkpoint. The parameters' SHA-256 is stored and checked
/// on load. The audit log's head (<see cref="CoordinatorCheckpoint.AuditLog"/>) is an optional field, absent
/// from checkpoints written before it existed.
/// </summary>
public sealed class FileCheckpointStore : ICheckpointStore
{
    private const int FormatVersion = 1;
    private readonly string _path;

    /// <summary>Creates a store in <paramref name="directory"/> (created when missing).</summary>
    public FileCheckpointStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        _path = Path.Combine(Path.GetFullPath(directory), "checkpoint.json");
    }

    /// <summary>The checkpoint file's path.</summary>
    public string FilePath => _path;

    /// <inheritdoc />
    public async ValueTask SaveAsync(CoordinatorCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        string temp = _path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
                await using (writer.ConfigureAwait(false))
                {
                    Write(writer, checkpoint);
                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, _path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<CoordinatorCheckpoint?> LoadAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(_path))
        {
            return null;
        }

        byte[] bytes = await File.ReadAllBytesAsync(_path, cancellationToken).ConfigureAwait(false);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(bytes);
            return Read(doc.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new CheckpointException($"The checkpoint '{_path}' is unreadable ({ex.Message}); delete it to start from scratch or restore a backup.", ex);
        }
    }

    private static void Write(Utf8JsonWriter w, CoordinatorCheckpoint c)
    {
        w.WriteStartObject();
        w.WriteNumber("format", FormatVersion);
        w.WriteNumber("round", c.Round);
        w.WriteString("savedAt", c.SavedAt);
        w.WriteString("hash", c.Parameters.ComputeHash());
        w.WriteStartArray("layout");
        foreach (TensorSpec spec in c.Parameters.Layout.Tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", spec.Name);
            w.WriteStartArray("shape");
            foreach (int d in spec.Shape)
            {
                w.WriteNumberValue(d);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBase64String("values", MemoryMarshal.AsBytes<float>(c.Parameters.Values));
        if (c.StrategyState is { } state)
        {
            w.WriteStartObject("strategy");
            w.WriteString("name", state.Strategy);
            w.WriteStartObject("arrays");
            foreach (KeyValuePair<string, float[]> pair in state.Arrays)
            {
                w.WriteBase64String(pair.Key, MemoryMarshal.AsBytes<float>(pair.Value));
            }

            w.WriteEndObject();
            w.WriteStartObject("scalars");
            foreach (KeyValuePair<string, double> pair in state.Scalars)
            {
                w.WriteNumber(pair.Key, pair.Value);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteStartArray("carriedOver");
        foreach (string id in c.CarriedOver)
        {
            w.WriteStringValue(id);
        }

        w.WriteEndArray();
        if (c.Window is { } window)
        {
            w.WriteStartObject("window");
            w.WriteNumber("sequence", window.Sequence);
            if (window.Duration is TimeSpan t)
            {
                w.WriteNumber("durationTicks", t.Ticks);
            }

            w.WriteStartArray("arrivalHistory");
            foreach (IReadOnlyList<double> arrivals in window.ArrivalHistory)
            {
                w.WriteStartArray();
                foreach (double offset in arrivals)
                {
                    w.WriteNumberValue(offset);
                }

                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        if (c.BestMetric is double best)
        {
            w.WriteNumber("bestMetric", best);
        }

        w.WriteNumber("roundsWithoutImprovement", c.RoundsWithoutImprovement);
        if (c.AuditLog is { } audit)
        {
            w.WriteStartObject("auditLog");
            w.WriteNumber("entries", audit.Entries);
            w.WriteString("head", audit.HeadHash);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private CoordinatorCheckpoint Read(JsonElement root)
    {
        int format = root.GetProperty("format").GetInt32();
        if (format != FormatVersion)
        {
            throw new CheckpointException($"The checkpoint '{_path}' has format {format}; this version reads format {FormatVersion}.");
        }

        var specs = new List<TensorSpec>();
        foreach (JsonElement t in root.GetProperty("layout").EnumerateArray())
        {
            int[] shape = t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            specs.Add(new TensorSpec(t.GetProperty("name").GetString()!, shape));
        }

        var layout = new ParameterLayout(specs);
        float[] values = ToFloats(root.GetProperty("values").GetBytesFromBase64());
        var parameters = new ParameterSet(layout, values);
        string expected = root.GetProperty("hash").GetString()!;
        string actual = parameters.ComputeHash();
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            throw new CheckpointException($"The checkpoint '{_path}' fails its integrity check: stored hash {expected}, parameters hash {actual}.");
        }

        StrategyState? strategy = null;
        if (root.TryGetProperty("strategy", out JsonElement s))
        {
            var arrays = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (JsonProperty p in s.GetProperty("arrays").EnumerateObject())
            {
                arrays[p.Name] = ToFloats(p.Value.GetBytesFromBase64());
            }

            var scalars = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (JsonProperty p in s.GetProperty("scalars").EnumerateObject())
            {
                scalars[p.Name] = p.Value.GetDouble();
            }

            strategy = new StrategyState { Strategy = s.GetProperty("name").GetString()!, Arrays = arrays, Scalars = scalars };
        }

        return new CoordinatorCheckpoint
        {
            Round = root.GetProperty("round").GetInt64(),
            SavedAt = root.GetProperty("savedAt").GetDateTimeOffset(),
            Parameters = parameters,
            StrategyState = strategy,
            CarriedOver = root.GetProperty("carriedOver").EnumerateArray().Select(e => e.GetString()!).ToArray(),
            Window = root.TryGetProperty("window", out JsonElement win) ? ReadWindow(win) : null,
            BestMetric = root.TryGetProperty("bestMetric", out JsonElement b) ? b.GetDouble() : null,
            RoundsWithoutImprovement = root.GetProperty("roundsWithoutImprovement").GetInt32(),
            AuditLog = root.TryGetProperty("auditLog", out JsonElement a) ? new AuditLogHead(a.GetProperty("entries").GetInt64(), a.GetProperty("head").GetString()!) : null,
        };
    }

    private static TemporalWindowState ReadWindow(JsonElement window) => new()
    {
        Phase = WindowPhase.Idle,
        Sequence = window.GetProperty("sequence").GetInt64(),
        Duration = window.TryGetProperty("durationTicks", out JsonElement d) ? TimeSpan.FromTicks(d.GetInt64()) : null,
        ArrivalHistory = window.GetProperty("arrivalHistory").EnumerateArray()
            .Select(h => (IReadOnlyList<double>)h.EnumerateArray().Select(e => e.GetDouble()).ToArray())
            .ToArray(),
    };

    private static float[] ToFloats(byte[] bytes)
    {
        if (bytes.Length % 4 != 0)
        {
            throw new FormatException($"{bytes.Length} bytes are not a whole number of float32 values.");
        }

        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }
}
