using FedEdge.Devices;
using FedEdge.Training;

namespace FedEdge.Messaging;

/// <summary>The version of FedEdge's message protocol; a coordinator refuses other versions with a clear reason.</summary>
public static class ProtocolVersion
{
    /// <summary>The current protocol version.</summary>
    public const int Current = 1;
}

/// <summary>A device asks to join a federation.</summary>
public sealed record JoinRequest
{
    /// <summary>The device id it claims.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The protocol version the device speaks.</summary>
    public int ProtocolVersion { get; init; } = Messaging.ProtocolVersion.Current;

    /// <summary>Its MUD URL, if any.</summary>
    public Uri? MudUrl { get; init; }

    /// <summary>Its X.509 certificate (DER), if any.</summary>
    public ReadOnlyMemory<byte> CertificateDer { get; init; }

    /// <summary>The federated task it asks to join.</summary>
    public string? Task { get; init; }

    /// <summary>The model it trains.</summary>
    public string? Model { get; init; }

    /// <summary>Capabilities and attributes (trainer engine, codecs, MAC, ...).</summary>
    public IReadOnlyDictionary<string, string> Capabilities { get; init; } = new Dictionary<string, string>();
}

/// <summary>The coordinator's answer to a join request.</summary>
public sealed record JoinResponse
{
    /// <summary>True when admitted.</summary>
    public required bool Accepted { get; init; }

    /// <summary>The reasons (all of them, for a refusal).</summary>
    public IReadOnlyList<string> Reasons { get; init; } = [];
}

/// <summary>A round task sent to selected participants.</summary>
public sealed record RoundTask
{
    /// <summary>The round number (1-based).</summary>
    public required long Round { get; init; }

    /// <summary>A fresh random nonce for this round; updates must echo it.</summary>
    public required string Nonce { get; init; }

    /// <summary>The global parameters to start from.</summary>
    public required ParameterSet GlobalParameters { get; init; }

    /// <summary>The local training hyper-parameters.</summary>
    public required TrainingHyperParameters HyperParameters { get; init; }

    /// <summary>When the coordinator stops accepting updates for this round.</summary>
    public required DateTimeOffset Deadline { get; init; }

    /// <summary>Strategy-specific configuration (e.g. FedProx μ, secure-aggregation phase settings).</summary>
    public IReadOnlyDictionary<string, string> Config { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The codec the federation asks workers to encode their updates with (<c>f32</c>, <c>f16</c>, <c>int8</c>,
    /// <c>topk:FRACTION</c>), as <see cref="Coordination.CoordinatorOptions.UpdateCodec"/> names it; null when the coordinator names
    /// none (a worker then uses float32 unless its transport is configured otherwise). A worker sends a delta for every
    /// codec but float32.
    /// </summary>
    public string? UpdateCodec { get; init; }
}

/// <summary>A published global model, for training and for inference.</summary>
public sealed record GlobalModel
{
    /// <summary>The round that produced it (0 for the initial model).</summary>
    public required long Version { get; init; }

    /// <summary>The parameters' <see cref="ParameterSet.ComputeHash"/>.</summary>
    public required string Hash { get; init; }

    /// <summary>The parameters.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary>Model metadata (normaliser, threshold, model kind), as text.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>The coordinator's verdict on an update.</summary>
public sealed record UpdateReceipt
{
    /// <summary>The round the update claimed.</summary>
    public required long Round { get; init; }

    /// <summary>True when folded into the aggregate.</summary>
    public required bool Accepted { get; init; }

    /// <summary>Why it was refused.</summary>
    public string? Reason { get; init; }
}

/// <summary>What a transport knows about an inbound message beyond its content.</summary>
public readonly record struct InboundContext
{
    /// <summary>The identity the transport authenticated (MQTT username or client certificate, gRPC peer certificate); null when unauthenticated (in-process).</summary>
    public string? AuthenticatedId { get; init; }

    /// <summary>Bytes the message occupied on the wire.</summary>
    public long WireBytes { get; init; }
}
