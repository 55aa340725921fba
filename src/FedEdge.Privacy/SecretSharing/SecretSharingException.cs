namespace FedEdge.Privacy.SecretSharing;

/// <summary>What was wrong with a set of shares.</summary>
public enum SecretSharingError
{
    /// <summary>Fewer shares than the threshold were given; the secret is information-theoretically hidden.</summary>
    InsufficientShares = 0,

    /// <summary>The shares do not lie on one polynomial of degree threshold − 1 (a share was corrupted or mixed from another secret).</summary>
    InconsistentShares = 1,

    /// <summary>Two shares carry the same x-coordinate.</summary>
    DuplicateShare = 2,

    /// <summary>A share is malformed: x out of range, a value outside the field, or lengths that differ.</summary>
    MalformedShare = 3,
}

/// <summary>Thrown when shares cannot be combined into a secret, with the reason in <see cref="Error"/>.</summary>
public sealed class SecretSharingException : Exception
{
    /// <summary>Creates an exception with no details.</summary>
    public SecretSharingException()
        : this(SecretSharingError.MalformedShare, "The shares are malformed.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public SecretSharingException(string message)
        : this(SecretSharingError.MalformedShare, message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    public SecretSharingException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = SecretSharingError.MalformedShare;
    }

    /// <summary>Creates an exception for <paramref name="error"/>.</summary>
    public SecretSharingException(SecretSharingError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>What was wrong.</summary>
    public SecretSharingError Error { get; }
}
