using System.Net;

namespace FedEdge.Mud.Compilation;

/// <summary>Connection-tracking state a compiled rule requires.</summary>
public enum MudConnectionState
{
    /// <summary>Stateless: any packet matching the rule.</summary>
    Any,

    /// <summary>New or established connections (the side that may initiate).</summary>
    NewOrEstablished,

    /// <summary>Only packets of established connections (direction-initiated by the other side).</summary>
    Established,
}

/// <summary>Where a compiled rule came from.</summary>
public enum MudRuleOrigin
{
    /// <summary>An ACE of the MUD file (or an administrator overlay).</summary>
    Explicit,

    /// <summary>The default DNS / NTP allowance after the explicit rules.</summary>
    DefaultService,

    /// <summary>The final default deny.</summary>
    DefaultDeny,
}

/// <summary>One firewall rule, from the device's point of view.</summary>
public sealed record CompiledRule
{
    /// <summary>Traffic direction relative to the device.</summary>
    public required MudDirection Direction { get; init; }

    /// <summary>Origin of the rule.</summary>
    public MudRuleOrigin Origin { get; init; }

    /// <summary>IP family: 4, 6, or 0 for both.</summary>
    public int Family { get; init; }

    /// <summary>IP protocol number, or null for any.</summary>
    public int? Protocol { get; init; }

    /// <summary>Remote DNS name (resolved by the firewall at load time), or null.</summary>
    public string? RemoteHost { get; init; }

    /// <summary>Remote addresses or prefixes (empty with a null <see cref="RemoteHost"/> means any).</summary>
    public IReadOnlyList<string> RemoteAddresses { get; init; } = [];

    /// <summary>Port of the remote end.</summary>
    public MudPortRange? RemotePort { get; init; }

    /// <summary>Port of the device end.</summary>
    public MudPortRange? DevicePort { get; init; }

    /// <summary>ICMP type, if an ICMP match.</summary>
    public int? IcmpType { get; init; }

    /// <summary>ICMP code.</summary>
    public int? IcmpCode { get; init; }

    /// <summary>Required connection state.</summary>
    public MudConnectionState State { get; init; }

    /// <summary>accept, drop or reject.</summary>
    public MudForwarding Action { get; init; }

    /// <summary>ACL/ACE the rule came from (for comments and override reports).</summary>
    public string Source { get; init; } = string.Empty;

    /// <summary>True when this rule matches a connection to/from <paramref name="remote"/> on the given protocol and remote port.</summary>
    public bool Matches(string remote, int protocol, int remotePort, bool newConnection)
    {
        if (Protocol is not null && Protocol != protocol)
        {
            return false;
        }

        if (State == MudConnectionState.Established && newConnection)
        {
            return false;
        }

        if (RemotePort is not null && !RemotePort.Matches(remotePort))
        {
            return false;
        }

        if (RemoteHost is null && RemoteAddresses.Count == 0)
        {
            return true;
        }

        if (RemoteHost is not null && string.Equals(RemoteHost.TrimEnd('.'), remote.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(remote, out IPAddress? ip) && RemoteAddresses.Any(a => Contains(a, ip));
    }

    private static bool Contains(string prefix, IPAddress ip)
    {
        if (!prefix.Contains('/', StringComparison.Ordinal))
        {
            return IPAddress.TryParse(prefix, out IPAddress? a) && a.Equals(ip);
        }

        return IPNetwork.TryParse(prefix, out IPNetwork net) && net.Contains(ip);
    }
}

/// <summary>The device a policy is compiled for.</summary>
/// <param name="Name">A short identifier (used in chain names).</param>
/// <param name="Mac">Its MAC address, if known.</param>
/// <param name="Addresses">Its IP addresses, if known.</param>
public sealed record MudDeviceBinding(string Name, string? Mac = null, IReadOnlyList<string>? Addresses = null);

/// <summary>A MUD file compiled into ordered rules for one device: explicit rules, then DNS/NTP, then deny.</summary>
public sealed record CompiledPolicy
{
    /// <summary>The device.</summary>
    public required MudDeviceBinding Device { get; init; }

    /// <summary>The MUD URL compiled.</summary>
    public string MudUrl { get; init; } = string.Empty;

    /// <summary>Rules, first match wins.</summary>
    public IReadOnlyList<CompiledRule> Rules { get; init; } = [];

    /// <summary>What could not be expanded (an abstraction without an administrator mapping), each omitted (fail closed).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// True when the device may open a connection to <paramref name="host"/>:<paramref name="port"/> over
    /// <paramref name="protocol"/> (6 tcp, 17 udp) and receive its replies.
    /// </summary>
    public bool AllowsConnection(string host, int port, int protocol)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        CompiledRule? outbound = Rules.FirstOrDefault(r => r.Direction == MudDirection.FromDevice && r.Matches(host, protocol, port, newConnection: true));
        CompiledRule? reply = Rules.FirstOrDefault(r => r.Direction == MudDirection.ToDevice && r.Matches(host, protocol, port, newConnection: false));
        return outbound?.Action == MudForwarding.Accept && reply?.Action == MudForwarding.Accept;
    }
}
