namespace FedEdge.Flower;

/// <summary>
/// Something received from, or meant for, a Flower SuperLink breaks Flower's rules: a malformed object,
/// an id that does not re-hash, an unexpected object tree, an unsupported message. The message says what
/// was wrong; nothing a SuperLink sends is trusted before it is checked.
/// </summary>
public class FlowerProtocolException : Exception
{
    /// <summary>Creates the error with a message.</summary>
    public FlowerProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the error with a message and its cause.</summary>
    public FlowerProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the error with a default message.</summary>
    public FlowerProtocolException()
        : base("The Flower protocol was broken.")
    {
    }
}

/// <summary>
/// A <c>.npy</c> array cannot be read or written: a bad header, a truncated body, Fortran order, or a dtype
/// other than little-endian float32 / float64 (see <see cref="Dtype"/>).
/// </summary>
public sealed class NpyFormatException : FlowerProtocolException
{
    /// <summary>Creates the error with a message.</summary>
    public NpyFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the error for an unsupported dtype.</summary>
    public NpyFormatException(string message, string dtype)
        : base(message)
    {
        Dtype = dtype;
    }

    /// <summary>Creates the error with a message and its cause.</summary>
    public NpyFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the error with a default message.</summary>
    public NpyFormatException()
        : base("Malformed .npy array.")
    {
    }

    /// <summary>The dtype that was refused (e.g. <c>&lt;i8</c> or <c>int64</c>), or null when the problem is not the dtype.</summary>
    public string? Dtype { get; }
}
