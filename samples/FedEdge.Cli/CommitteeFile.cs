using System.Text.Json;
using FedEdge.Transparency;

namespace FedEdge.Cli;

/// <summary>
/// A committee file: <c>{"validators": [{"name": "v0", "certificate": "v0.pem", "endpoint": "..."}]}</c>. Each
/// certificate (or PEM public key) path is relative to the file's folder; the endpoint is for a coordinator that
/// reaches remote validators and is ignored by <c>fededge ledger verify</c>. f is derived: the file lists 3f + 1.
/// </summary>
internal static class CommitteeFile
{
    public const string FileName = "committee.json";

    /// <summary>Writes a committee file for <paramref name="members"/> (name, PEM) in <paramref name="directory"/>, one PEM file per member.</summary>
    public static string Write(string directory, IEnumerable<(string Name, string PublicKeyPem)> members)
    {
        Directory.CreateDirectory(directory);
        var list = new List<Dictionary<string, string>>();
        foreach ((string name, string pem) in members)
        {
            File.WriteAllText(Path.Combine(directory, name + ".pem"), pem);
            list.Add(new Dictionary<string, string> { ["name"] = name, ["certificate"] = name + ".pem" });
        }

        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object> { ["validators"] = list }, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>Reads the members' names and public keys (PEM).</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable, or not 3f + 1 members with readable keys.</exception>
    public static Dictionary<string, string> Read(string path) => ReadMembers(path).ToDictionary(m => m.Name, m => m.Pem, StringComparer.Ordinal);

    /// <summary>Reads the members in order: name, public key or certificate (PEM), endpoint (or null).</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable, or not 3f + 1 members with readable keys.</exception>
    public static List<(string Name, string Pem, Uri? Endpoint)> ReadMembers(string path)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
            string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var members = new Dictionary<string, string>(StringComparer.Ordinal);
            var ordered = new List<(string, string, Uri?)>();
            foreach (JsonElement v in document.RootElement.GetProperty("validators").EnumerateArray())
            {
                string name = v.GetProperty("name").GetString() ?? throw new InvalidDataException("a validator has no name");
                string certificate = v.GetProperty("certificate").GetString() ?? throw new InvalidDataException($"validator '{name}' has no certificate");
                string pem = File.ReadAllText(Path.Combine(folder, certificate));
                using (TreeHeadCommittee.ImportKey(pem, name))
                {
                    // Only checks that the key reads.
                }

                if (!members.TryAdd(name, pem))
                {
                    throw new InvalidDataException($"validator '{name}' is listed twice");
                }

                Uri? endpoint = null;
                if (v.TryGetProperty("endpoint", out JsonElement e) && e.GetString() is { } text
                    && (!Uri.TryCreate(text, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("https" or "http") || (endpoint.Scheme == "http" && !endpoint.IsLoopback)))
                {
                    throw new InvalidDataException($"validator '{name}': endpoint '{text}' is not an https:// URL (http:// on loopback only)");
                }

                ordered.Add((name, pem, endpoint));
            }

            if (members.Count == 0 || (members.Count - 1) % 3 != 0)
            {
                throw new InvalidDataException($"a committee has 3f + 1 validators (1, 4, 7, ...); it lists {members.Count}");
            }

            return ordered;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"the committee file '{path}' is not usable: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }
    }
}
