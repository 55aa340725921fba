namespace FedEdge.Security;

/// <summary>A key or certificate file could not be used; the message says which file and what to do.</summary>
public class CredentialException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CredentialException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public CredentialException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public CredentialException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A private key file can be read by its group or by others, so the tool refuses to load it.</summary>
public sealed class KeyFilePermissionException : CredentialException
{
    /// <summary>Creates the exception.</summary>
    public KeyFilePermissionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public KeyFilePermissionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public KeyFilePermissionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The key file.</summary>
    public string? Path { get; init; }

    /// <summary>The file's Unix mode when it was refused.</summary>
    public UnixFileMode Mode { get; init; }
}
