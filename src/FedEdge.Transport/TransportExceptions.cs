namespace FedEdge.Transport;

/// <summary>The base of every error FedEdge.Transport raises about bytes, codecs or peers.</summary>
public class TransportException : Exception
{
    /// <summary>Creates an error with a message.</summary>
    public TransportException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public TransportException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error without a message (serialisation frameworks).</summary>
    public TransportException()
    {
    }
}

/// <summary>
/// The broker could not be reached (down, restarting, network gone) — as opposed to a broker that answered and refused
/// (a <see cref="TransportException"/>). Trying again later can succeed, so it is an <see cref="IOException"/>: the worker
/// engine retries it with back-off. The message names the broker's endpoint.
/// </summary>
public sealed class BrokerUnreachableException : IOException
{
    /// <summary>Creates an error with a message.</summary>
    public BrokerUnreachableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public BrokerUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error without a message (serialisation frameworks).</summary>
    public BrokerUnreachableException()
    {
    }
}

/// <summary>Inbound bytes are not a valid FedEdge message: not protobuf, a required field missing, a shape or length that does not add up.</summary>
public class WireFormatException : TransportException
{
    /// <summary>Creates an error with a message.</summary>
    public WireFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public WireFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error without a message.</summary>
    public WireFormatException()
    {
    }
}

/// <summary>The peer speaks another protocol version than this build (<see cref="Messaging.ProtocolVersion.Current"/>).</summary>
public sealed class ProtocolVersionException : WireFormatException
{
    /// <summary>Creates the error for a received version.</summary>
    public ProtocolVersionException(int receivedVersion, int supportedVersion)
        : base($"The peer speaks FedEdge protocol version {receivedVersion} but this side speaks version {supportedVersion}; upgrade the older side so both speak version {supportedVersion}.")
    {
        ReceivedVersion = receivedVersion;
        SupportedVersion = supportedVersion;
    }

    /// <summary>Creates an error with a message.</summary>
    public ProtocolVersionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public ProtocolVersionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error without a message.</summary>
    public ProtocolVersionException()
    {
    }

    /// <summary>The version the peer sent.</summary>
    public int ReceivedVersion { get; }

    /// <summary>The version this side speaks.</summary>
    public int SupportedVersion { get; }
}

/// <summary>A chunked transfer could not be reassembled: a chunk is missing, corrupted, or inconsistent with its siblings. Its content is discarded, never used.</summary>
public sealed class ChunkIntegrityException : WireFormatException
{
    /// <summary>Creates the error for one transfer.</summary>
    public ChunkIntegrityException(string transferId, string message, IReadOnlyList<int>? missingChunks = null)
        : base($"Chunked transfer '{transferId}': {message}")
    {
        TransferId = transferId;
        MissingChunks = missingChunks ?? [];
    }

    /// <summary>Creates an error with a message.</summary>
    public ChunkIntegrityException(string message)
        : base(message)
    {
        TransferId = string.Empty;
        MissingChunks = [];
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public ChunkIntegrityException(string message, Exception innerException)
        : base(message, innerException)
    {
        TransferId = string.Empty;
        MissingChunks = [];
    }

    /// <summary>Creates an error without a message.</summary>
    public ChunkIntegrityException()
    {
        TransferId = string.Empty;
        MissingChunks = [];
    }

    /// <summary>The transfer's id.</summary>
    public string TransferId { get; }

    /// <summary>The indices of chunks that never arrived (empty when the problem was corruption).</summary>
    public IReadOnlyList<int> MissingChunks { get; }
}

/// <summary>Values cannot be encoded by the chosen codec (e.g. NaN for int8, a value beyond float16's range, top-k on full parameters).</summary>
public sealed class ParameterCodecException : TransportException
{
    /// <summary>Creates an error with a message.</summary>
    public ParameterCodecException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public ParameterCodecException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error without a message.</summary>
    public ParameterCodecException()
    {
    }
}

/// <summary>A model update whose envelope parsed but whose content is invalid; carries the round the update named.</summary>
internal sealed class UpdateFormatException(long round, string message, Exception? innerException) : WireFormatException(message, innerException!)
{
    /// <summary>The round the update named.</summary>
    public long Round { get; } = round;
}

/// <summary>
/// Inbound bytes passed a configured reassembly limit (<see cref="Wire.ReassemblyOptions"/>): a frame larger than
/// allowed, a transfer declaring too many chunks or bytes, or a source holding too many bytes of incomplete transfers.
/// The bytes are discarded; the transport goes on.
/// </summary>
public sealed class ReassemblyLimitException : WireFormatException
{
    /// <summary>Creates the error for the limit named <paramref name="limit"/>.</summary>
    public ReassemblyLimitException(string limit, string message)
        : base(message)
    {
        Limit = limit;
    }

    /// <summary>Creates an error with a message.</summary>
    public ReassemblyLimitException(string message)
        : base(message)
    {
        Limit = string.Empty;
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public ReassemblyLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
        Limit = string.Empty;
    }

    /// <summary>Creates an error without a message.</summary>
    public ReassemblyLimitException()
        : base("A reassembly limit was passed.")
    {
        Limit = string.Empty;
    }

    /// <summary>The name of the <see cref="Wire.ReassemblyOptions"/> property whose limit was passed.</summary>
    public string Limit { get; }
}

/// <summary>
/// A chunked message arrived without the framing's SHA-256 digests where no signature check covers it: the receiver
/// verifies no end-to-end signature (a plain federation, or an engine without federation credentials), or the message is
/// not a signed update (at a coordinator) or a signed global model (at a worker). The message is discarded, never used.
/// A sender leaves the digests out only for messages it signs (see the transports' <c>OmitDigestsWhenSigned</c> options).
/// </summary>
public sealed class MissingChunkDigestException : WireFormatException
{
    /// <summary>Creates the error for one transfer.</summary>
    public MissingChunkDigestException(string transferId, string message)
        : base($"Chunked transfer '{transferId}': {message}")
    {
        TransferId = transferId;
    }

    /// <summary>Creates an error with a message.</summary>
    public MissingChunkDigestException(string message)
        : base(message)
    {
        TransferId = string.Empty;
    }

    /// <summary>Creates an error with a message and a cause.</summary>
    public MissingChunkDigestException(string message, Exception innerException)
        : base(message, innerException)
    {
        TransferId = string.Empty;
    }

    /// <summary>Creates an error without a message.</summary>
    public MissingChunkDigestException()
    {
        TransferId = string.Empty;
    }

    /// <summary>The transfer's id.</summary>
    public string TransferId { get; }
}
