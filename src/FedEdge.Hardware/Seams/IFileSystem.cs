namespace FedEdge.Hardware.Seams;

/// <summary>What happened when a file was read.</summary>
internal enum FileState
{
    /// <summary>The file (or its folder) does not exist: the reading is not available.</summary>
    Missing = 0,

    /// <summary>The file exists but could not be read (permissions, a driver returning ENODATA, ...).</summary>
    Unreadable = 1,

    /// <summary>The text was read.</summary>
    Read = 2,
}

/// <summary>The outcome of reading one file.</summary>
internal readonly record struct FileContent(FileState State, string? Text, string? Error)
{
    public static FileContent Missing { get; } = new(FileState.Missing, null, null);

    public static FileContent Unreadable(string error) => new(FileState.Unreadable, null, error);

    public static FileContent Of(string text) => new(FileState.Read, text, null);
}

/// <summary>
/// The file-system seam of the probes. Paths are the logical absolute paths a Linux device has
/// (<c>/sys/class/thermal</c>, <c>/proc/meminfo</c>); an implementation maps them under a root so that
/// tests and <c>fededge device probe --root</c> can feed a copied or canned tree.
/// </summary>
internal interface IFileSystem
{
    /// <summary>Reads a whole file. Never throws for a missing or unreadable file.</summary>
    FileContent ReadAllText(string path);

    /// <summary>The logical paths of the sub-folders (or links to folders) of <paramref name="path"/> whose names match <paramref name="searchPattern"/>, sorted ordinally; empty when the folder does not exist.</summary>
    IReadOnlyList<string> GetDirectories(string path, string searchPattern);
}

/// <summary>The real file system, with logical paths mapped under a root folder ("/" for the live system).</summary>
internal sealed class RootedFileSystem : IFileSystem
{
    private readonly string _root;

    public RootedFileSystem(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        _root = Path.GetFullPath(root);
    }

    public string Root => _root;

    public FileContent ReadAllText(string path)
    {
        string physical = Map(path);
        if (!File.Exists(physical))
        {
            // The common "not available" case, without the cost of an exception.
            return FileContent.Missing;
        }

        try
        {
            return FileContent.Of(File.ReadAllText(physical));
        }
        catch (FileNotFoundException)
        {
            return FileContent.Missing;
        }
        catch (DirectoryNotFoundException)
        {
            return FileContent.Missing;
        }
        catch (UnauthorizedAccessException ex)
        {
            return FileContent.Unreadable(ex.Message);
        }
        catch (IOException ex)
        {
            // sysfs attributes of a powered-down sensor fail on read (ENODATA, EAGAIN): not available now.
            return FileContent.Unreadable(ex.Message);
        }
    }

    public IReadOnlyList<string> GetDirectories(string path, string searchPattern)
    {
        string physical = Map(path);
        if (!Directory.Exists(physical))
        {
            return [];
        }

        List<string> result = [];
        foreach (string dir in Directory.EnumerateDirectories(physical, searchPattern))
        {
            result.Add(path.TrimEnd('/') + "/" + Path.GetFileName(dir));
        }

        result.Sort(StringComparer.Ordinal);
        return result;
    }

    private string Map(string logicalPath)
    {
        if (!logicalPath.StartsWith('/'))
        {
            throw new ArgumentException("Probe paths are absolute Linux paths such as /proc/meminfo.", nameof(logicalPath));
        }

        return _root == "/" ? logicalPath : Path.Join(_root, logicalPath.TrimStart('/'));
    }
}
