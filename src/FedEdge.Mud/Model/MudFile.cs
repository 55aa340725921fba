namespace FedEdge.Mud;

/// <summary>A parsed Manufacturer Usage Description (RFC 8520 <c>ietf-mud:mud</c> plus its ACLs).</summary>
public sealed record MudFile
{
    /// <summary>mud-version (1 for RFC 8520).</summary>
    public int MudVersion { get; init; }

    /// <summary>mud-url as written.</summary>
    public string MudUrl { get; init; } = string.Empty;

    /// <summary>last-update, when present and parseable.</summary>
    public DateTimeOffset? LastUpdate { get; init; }

    /// <summary>mud-signature URL, if declared.</summary>
    public string? MudSignature { get; init; }

    /// <summary>cache-validity in hours (48 when absent).</summary>
    public int CacheValidityHours { get; init; } = 48;

    /// <summary>is-supported.</summary>
    public bool IsSupported { get; init; } = true;

    /// <summary>systeminfo.</summary>
    public string? SystemInfo { get; init; }

    /// <summary>mfg-name.</summary>
    public string? ManufacturerName { get; init; }

    /// <summary>model-name.</summary>
    public string? ModelName { get; init; }

    /// <summary>documentation URL.</summary>
    public string? Documentation { get; init; }

    /// <summary>Declared extension names (the <c>extensions</c> leaf-list).</summary>
    public IReadOnlyList<string> Extensions { get; init; } = [];

    /// <summary>ACL names of the from-device policy.</summary>
    public IReadOnlyList<string> FromDevicePolicy { get; init; } = [];

    /// <summary>ACL names of the to-device policy.</summary>
    public IReadOnlyList<string> ToDevicePolicy { get; init; } = [];

    /// <summary>Every ACL in the file.</summary>
    public IReadOnlyList<MudAcl> Acls { get; init; } = [];

    /// <summary>The FedEdge federated-learning extension, when declared and present.</summary>
    public MudFederationExtension? Federation { get; init; }

    /// <summary>The ACL with a given name, or null.</summary>
    public MudAcl? FindAcl(string name) => Acls.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.Ordinal));

    /// <summary>The resolved ACLs of one direction, in policy order.</summary>
    public IEnumerable<MudAcl> AclsFor(MudDirection direction)
    {
        foreach (string name in direction == MudDirection.FromDevice ? FromDevicePolicy : ToDevicePolicy)
        {
            MudAcl? acl = FindAcl(name);
            if (acl is not null)
            {
                yield return acl;
            }
        }
    }
}

/// <summary>A direction relative to the device.</summary>
public enum MudDirection
{
    /// <summary>Traffic sent by (or a connection initiated by) the device.</summary>
    FromDevice,

    /// <summary>Traffic sent to (or a connection initiated towards) the device.</summary>
    ToDevice,
}

/// <summary>RFC 8519 ACL types.</summary>
public enum MudAclType
{
    /// <summary>ipv4-acl-type.</summary>
    Ipv4,

    /// <summary>ipv6-acl-type.</summary>
    Ipv6,

    /// <summary>eth-acl-type.</summary>
    Ethernet,

    /// <summary>mixed-eth-ipv4-acl-type, mixed-eth-ipv6-acl-type, mixed-eth-ipv4-ipv6-acl-type.</summary>
    Mixed,

    /// <summary>Not recognised.</summary>
    Unknown,
}

/// <summary>One access control list.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Type">Its type.</param>
/// <param name="Aces">Its entries, in order.</param>
public sealed record MudAcl(string Name, MudAclType Type, IReadOnlyList<MudAce> Aces);

/// <summary>An ACE forwarding action.</summary>
public enum MudForwarding
{
    /// <summary>accept.</summary>
    Accept,

    /// <summary>drop.</summary>
    Drop,

    /// <summary>reject.</summary>
    Reject,
}

/// <summary>One access control entry.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Matches">What it matches.</param>
/// <param name="Action">What it does.</param>
public sealed record MudAce(string Name, MudMatches Matches, MudForwarding Action);

/// <summary>The matches of an ACE. Absent containers match anything.</summary>
public sealed record MudMatches
{
    /// <summary>IPv4 match.</summary>
    public MudIpMatch? Ipv4 { get; init; }

    /// <summary>IPv6 match.</summary>
    public MudIpMatch? Ipv6 { get; init; }

    /// <summary>TCP match.</summary>
    public MudPortMatch? Tcp { get; init; }

    /// <summary>UDP match.</summary>
    public MudPortMatch? Udp { get; init; }

    /// <summary>ICMP match.</summary>
    public MudIcmpMatch? Icmp { get; init; }

    /// <summary>MUD abstraction match (RFC 8520 section 8).</summary>
    public MudAbstractionMatch? Mud { get; init; }

    /// <summary>Ethernet match.</summary>
    public MudEthMatch? Eth { get; init; }

    /// <summary>The L3 match of either family.</summary>
    public MudIpMatch? Ip => Ipv4 ?? Ipv6;
}

/// <summary>An IPv4 or IPv6 match.</summary>
public sealed record MudIpMatch
{
    /// <summary>IP protocol number (6 tcp, 17 udp, 1/58 icmp).</summary>
    public int? Protocol { get; init; }

    /// <summary>Source network (CIDR).</summary>
    public string? SourceNetwork { get; init; }

    /// <summary>Destination network (CIDR).</summary>
    public string? DestinationNetwork { get; init; }

    /// <summary>ietf-acldns:src-dnsname.</summary>
    public string? SourceDnsName { get; init; }

    /// <summary>ietf-acldns:dst-dnsname.</summary>
    public string? DestinationDnsName { get; init; }
}

/// <summary>A port comparison (RFC 8519 port-range-or-operator).</summary>
/// <param name="Operator">eq, lte, gte, neq or range.</param>
/// <param name="Port">The port (the lower port of a range).</param>
/// <param name="UpperPort">The upper port of a range.</param>
public sealed record MudPortRange(string Operator, int Port, int? UpperPort = null)
{
    /// <summary>True when <paramref name="port"/> satisfies this comparison.</summary>
    public bool Matches(int port) => Operator switch
    {
        "eq" => port == Port,
        "neq" => port != Port,
        "lte" => port <= Port,
        "gte" => port >= Port,
        "range" => port >= Port && port <= (UpperPort ?? Port),
        _ => false,
    };
}

/// <summary>A TCP or UDP match.</summary>
public sealed record MudPortMatch
{
    /// <summary>Source port condition.</summary>
    public MudPortRange? SourcePort { get; init; }

    /// <summary>Destination port condition.</summary>
    public MudPortRange? DestinationPort { get; init; }

    /// <summary>ietf-mud:direction-initiated (TCP only).</summary>
    public MudDirection? DirectionInitiated { get; init; }
}

/// <summary>An ICMP match.</summary>
/// <param name="Type">ICMP type.</param>
/// <param name="Code">ICMP code.</param>
public sealed record MudIcmpMatch(int? Type, int? Code);

/// <summary>An Ethernet match.</summary>
public sealed record MudEthMatch
{
    /// <summary>Destination MAC address.</summary>
    public string? DestinationMac { get; init; }

    /// <summary>Source MAC address.</summary>
    public string? SourceMac { get; init; }

    /// <summary>Ethertype.</summary>
    public string? EtherType { get; init; }
}

/// <summary>The RFC 8520 section 8 abstractions.</summary>
public sealed record MudAbstractionMatch
{
    /// <summary>manufacturer (a host name naming the authority of other devices' MUD URLs).</summary>
    public string? Manufacturer { get; init; }

    /// <summary>same-manufacturer.</summary>
    public bool SameManufacturer { get; init; }

    /// <summary>model (the MUD URL of another device model).</summary>
    public string? Model { get; init; }

    /// <summary>local-networks.</summary>
    public bool LocalNetworks { get; init; }

    /// <summary>controller (a class URI).</summary>
    public string? Controller { get; init; }

    /// <summary>my-controller.</summary>
    public bool MyController { get; init; }
}

/// <summary>
/// The FedEdge MUD extension (<c>fededge-federated-learning</c>): the federated tasks and models a device
/// may train, as proposed by CoLearn. Declared in <c>extensions</c> (RFC 8520 section 3.9) and carried as
/// <c>"fededge-federated-learning:federation": { "task": [ { "name": "...", "model": ["..."] } ] }</c>
/// inside the <c>ietf-mud:mud</c> container.
/// </summary>
public sealed record MudFederationExtension
{
    /// <summary>The extension name to list in <c>extensions</c>.</summary>
    public const string ExtensionName = "fededge-federated-learning";

    /// <summary>The member name inside the mud container.</summary>
    public const string MemberName = ExtensionName + ":federation";

    /// <summary>Task name to the models allowed for it (an empty set allows any model).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Tasks { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>True when the device may train <paramref name="model"/> (any when null) for <paramref name="task"/>.</summary>
    public bool Allows(string task, string? model)
        => Tasks.TryGetValue(task, out IReadOnlyList<string>? models)
           && (model is null || models.Count == 0 || models.Contains(model, StringComparer.Ordinal));
}
