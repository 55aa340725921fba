namespace FedEdge.Admission;

/// <summary>
/// The admission port: decides whether a device may join a federation. Implemented by FedEdge.Mud
/// (RFC 8520 MUD admission); a host may compose several.
/// </summary>
public interface IAdmissionPolicy
{
    /// <summary>Decides on one join request. Expected refusals are results, not exceptions.</summary>
    ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default);
}

/// <summary>What a device presents when it joins.</summary>
public sealed record AdmissionRequest
{
    /// <summary>The device id it claims.</summary>
    public required string DeviceId { get; init; }

    /// <summary>
    /// The device id its certificate names, once the coordinator verified that certificate (chain to the federation
    /// CA, validity period, revocation, and the id it claims); null when the federation uses no certificates. Unlike
    /// <see cref="DeviceId"/> and <see cref="Attributes"/>, nothing the device sends can set it.
    /// </summary>
    public string? AuthenticatedDeviceId { get; init; }

    /// <summary>Its MUD URL, if it presented one.</summary>
    public Uri? MudUrl { get; init; }

    /// <summary>Where the MUD URL came from (certificate, DHCP, LLDP, configuration).</summary>
    public string? MudUrlSource { get; init; }

    /// <summary>Its X.509 certificate (DER), if it presented one.</summary>
    public ReadOnlyMemory<byte> CertificateDer { get; init; }

    /// <summary>The federated task it asks to join.</summary>
    public string? Task { get; init; }

    /// <summary>The model it will train.</summary>
    public string? Model { get; init; }

    /// <summary>Further attributes (MAC address, capabilities, ...).</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();
}

/// <summary>An admission verdict with its reasons.</summary>
public sealed record AdmissionDecision
{
    /// <summary>True when the device may join.</summary>
    public required bool Admitted { get; init; }

    /// <summary>Why (every reason for a refusal; informational notes for an admission).</summary>
    public IReadOnlyList<string> Reasons { get; init; } = [];

    /// <summary>An admitted decision.</summary>
    public static AdmissionDecision Admit(params string[] notes) => new() { Admitted = true, Reasons = notes };

    /// <summary>A refusal with reasons.</summary>
    public static AdmissionDecision Refuse(params string[] reasons) => new() { Admitted = false, Reasons = reasons };
}
