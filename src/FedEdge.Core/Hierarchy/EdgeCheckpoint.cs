using System.Text.Json;

namespace FedEdge.Hierarchy;

/// <summary>
/// Where an edge aggregator stands in the cloud round it is working on: which cloud model it started from (by hash),
/// the edge coordinator's completed round when that cloud round began, and k1/k2 in effect. With the edge
/// coordinator's own checkpoint (its model after each edge round, its devices' window) this lets a restarted edge
/// continue the cloud round at the edge round it had reached instead of starting it again.
/// </summary>
/// <param name="CloudModelHash">Hash of the cloud's global parameters the cloud round started from.</param>
/// <param name="EdgeRoundAtStart">The edge coordinator's completed round when the cloud round began.</param>
/// <param name="EdgeRoundsPerCloudRound">k2 in effect for this cloud round.</param>
/// <param name="LocalSteps">k1 in effect for this cloud round, or null when the edge coordinator's own setting applies.</param>
/// <param name="SampleCount">Samples behind the last completed edge round (the edge's aggregation weight).</param>
/// <param name="Loss">Training loss of the last completed edge round.</param>
public sealed record EdgeCheckpoint(string CloudModelHash, long EdgeRoundAtStart, int EdgeRoundsPerCloudRound, int? LocalSteps, long SampleCount, double Loss)
{
    /// <summary>Reads a checkpoint file; null when there is none.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not an edge checkpoint.</exception>
    public static EdgeCheckpoint? Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement r = doc.RootElement;
            return new EdgeCheckpoint(
                r.GetProperty("cloudModelHash").GetString() ?? throw new InvalidDataException("cloudModelHash is null"),
                r.GetProperty("edgeRoundAtStart").GetInt64(),
                r.GetProperty("edgeRoundsPerCloudRound").GetInt32(),
                r.TryGetProperty("localSteps", out JsonElement k1) && k1.ValueKind == JsonValueKind.Number ? k1.GetInt32() : null,
                r.GetProperty("sampleCount").GetInt64(),
                r.TryGetProperty("loss", out JsonElement loss) && loss.ValueKind == JsonValueKind.Number ? loss.GetDouble() : double.NaN);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"The edge checkpoint '{path}' is unreadable ({ex.Message}); delete it to start the cloud round afresh.", ex);
        }
    }

    /// <summary>Writes the checkpoint atomically (a temporary file renamed over the old one).</summary>
    public void Write(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteString("cloudModelHash", CloudModelHash);
                json.WriteNumber("edgeRoundAtStart", EdgeRoundAtStart);
                json.WriteNumber("edgeRoundsPerCloudRound", EdgeRoundsPerCloudRound);
                if (LocalSteps is int k1)
                {
                    json.WriteNumber("localSteps", k1);
                }
                else
                {
                    json.WriteNull("localSteps");
                }

                json.WriteNumber("sampleCount", SampleCount);
                if (double.IsFinite(Loss))
                {
                    json.WriteNumber("loss", Loss);
                }
                else
                {
                    json.WriteNull("loss");
                }

                json.WriteEndObject();
                json.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
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
