namespace FedEdge.Hardware;

/// <summary>The base of FedEdge.Hardware's exceptions.</summary>
public class HardwareException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HardwareException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public HardwareException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public HardwareException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A file or tool output exists but its contents are not what the kernel or firmware writes
/// (e.g. <c>/proc/meminfo</c> without <c>MemTotal</c>, <c>throttled=zz</c>). Names the source so an
/// operator can look at it.
/// </summary>
public sealed class ProbeDataException : HardwareException
{
    /// <summary>Creates the exception.</summary>
    public ProbeDataException()
        : this("(unknown)", "malformed probe data")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ProbeDataException(string message)
        : this("(unknown)", message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public ProbeDataException(string message, Exception innerException)
        : this("(unknown)", message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="sourceName"/> (a file path or a tool command line).</summary>
    public ProbeDataException(string sourceName, string message, Exception? innerException = null)
        : base($"'{sourceName}': {message}", innerException!)
    {
        SourceName = sourceName;
        Detail = message;
    }

    /// <summary>The file (<c>/proc/meminfo</c>) or tool command line (<c>vcgencmd get_throttled</c>) whose contents were bad.</summary>
    public string SourceName { get; }

    /// <summary>What was wrong, without the source name.</summary>
    public string Detail { get; }
}
