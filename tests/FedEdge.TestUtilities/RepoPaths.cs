namespace FedEdge.Testing;

/// <summary>Locates the repository and the shared real-data folders from a test's working directory.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    /// <summary>The repository root (the folder that holds FedEdge.sln).</summary>
    public static string Root => RootLazy.Value;

    /// <summary>The shared folder next to the repository (real data and the MUD corpus).</summary>
    public static string Shared
    {
        get
        {
            string fromEnv = Environment.GetEnvironmentVariable("FEDEDGE_SHARED") ?? string.Empty;
            if (fromEnv.Length > 0 && Directory.Exists(fromEnv))
            {
                return fromEnv;
            }

            string sibling = Path.GetFullPath(Path.Combine(Root, "..", "shared"));
            if (Directory.Exists(sibling))
            {
                return sibling;
            }

            throw new DirectoryNotFoundException(
                $"The shared data folder was not found at '{sibling}'. Set FEDEDGE_SHARED to its path.");
        }
    }

    /// <summary>The real data sets (<c>shared/data</c>).</summary>
    public static string Data => Path.Combine(Shared, "data");

    /// <summary>The MUD corpus (<c>shared/mud-corpus</c>).</summary>
    public static string MudCorpus => Path.Combine(Shared, "mud-corpus");

    /// <summary>True when running in CI, where tests that need real servers must not skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null)
        {
            if (File.Exists(Path.Combine(dir, "FedEdge.sln")))
            {
                return dir;
            }

            dir = Path.GetDirectoryName(dir);
        }

        throw new DirectoryNotFoundException("FedEdge.sln was not found above " + AppContext.BaseDirectory);
    }
}
