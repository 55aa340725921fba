using System.Text.RegularExpressions;
using FedEdge.Testing;

namespace FedEdge.Mud.Tests;

/// <summary>One row of the corpus PROVENANCE.md.</summary>
public sealed record CorpusEntry(string Folder, string File, string Conformant, string Remarks)
{
    public string FullPath => Path.Combine(RepoPaths.MudCorpus, Folder, File);

    public override string ToString() => $"{Folder}/{File}";
}

/// <summary>Reads the corpus PROVENANCE.md tables (the judgement each test checks against).</summary>
public static partial class Corpus
{
    public static string Signed => Path.Combine(RepoPaths.MudCorpus, "signed");

    public static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(string path)
    {
        var collection = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection[0];
    }

    public static string PathOf(string folder, string file) => Path.Combine(RepoPaths.MudCorpus, folder, file);

    public static IReadOnlyList<CorpusEntry> Entries { get; } = Load();

    public static IEnumerable<CorpusEntry> MudFiles => Entries.Where(e => !e.Conformant.StartsWith("n/a", StringComparison.Ordinal));

    public static TheoryData<string> MudFileIds()
    {
        var data = new TheoryData<string>();
        foreach (CorpusEntry e in MudFiles)
        {
            data.Add(e.ToString());
        }

        return data;
    }

    public static CorpusEntry Get(string id) => MudFiles.Single(e => e.ToString() == id);

    [GeneratedRegex(@"^## (\S+)\s*$")]
    private static partial Regex Heading();

    private static List<CorpusEntry> Load()
    {
        var list = new List<CorpusEntry>();
        string? folder = null;
        foreach (string line in File.ReadLines(Path.Combine(RepoPaths.MudCorpus, "PROVENANCE.md")))
        {
            Match h = Heading().Match(line);
            if (h.Success)
            {
                folder = h.Groups[1].Value;
                continue;
            }

            if (folder is null || !line.StartsWith("| `", StringComparison.Ordinal))
            {
                continue;
            }

            string[] cells = line.Split('|').Select(c => c.Trim()).ToArray();
            // | file | original | bytes | sha | conformant | remarks | signature |
            if (cells.Length < 8)
            {
                continue;
            }

            list.Add(new CorpusEntry(folder, cells[1].Trim('`'), cells[5], cells[6]));
        }

        return list;
    }
}
