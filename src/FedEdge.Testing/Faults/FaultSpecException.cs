namespace FedEdge.Transport.Faults;

/// <summary>
/// A fault spec (<see cref="FaultOptions.Parse"/>) could not be read. The message quotes the bad entry (or the whole
/// spec when the entries do not fit together), says what is wrong and what is accepted.
/// </summary>
public sealed class FaultSpecException : FormatException
{
    /// <summary>Creates the error for one entry of a spec.</summary>
    /// <param name="spec">The whole spec.</param>
    /// <param name="token">The offending entry, or the whole spec when no single entry is at fault.</param>
    /// <param name="reason">What is wrong and what to write instead.</param>
    public FaultSpecException(string spec, string token, string reason)
        : base($"fault spec '{token}': {reason}")
    {
        Spec = spec;
        Token = token;
    }

    /// <summary>Creates the error with a default message.</summary>
    public FaultSpecException()
        : this("The fault spec is malformed.")
    {
    }

    /// <summary>Creates the error with a message.</summary>
    public FaultSpecException(string message)
        : base(message)
    {
        Spec = string.Empty;
        Token = string.Empty;
    }

    /// <summary>Creates the error with a message and an inner error.</summary>
    public FaultSpecException(string message, Exception innerException)
        : base(message, innerException)
    {
        Spec = string.Empty;
        Token = string.Empty;
    }

    /// <summary>The whole spec that was parsed (empty when unknown).</summary>
    public string Spec { get; }

    /// <summary>The offending entry, or the whole spec when the entries do not fit together (empty when unknown).</summary>
    public string Token { get; }
}
