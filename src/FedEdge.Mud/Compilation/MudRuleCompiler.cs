using System.Net;

namespace FedEdge.Mud.Compilation;

/// <summary>
/// Administrator mappings that expand the RFC 8520 section 8 abstractions into addresses, and the registry
/// of admitted devices for manufacturer / same-manufacturer / model.
/// </summary>
public sealed class MudAbstractionMappings
{
    /// <summary>Prefixes that make up "local-networks".</summary>
    public IList<string> LocalNetworks { get; } = [];

    /// <summary>Controller class URI to the addresses of its controllers.</summary>
    public IDictionary<string, IList<string>> Controllers { get; } = new Dictionary<string, IList<string>>(StringComparer.Ordinal);

    /// <summary>MUD URL to the addresses of that device's "my-controller".</summary>
    public IDictionary<string, IList<string>> MyControllers { get; } = new Dictionary<string, IList<string>>(StringComparer.Ordinal);

    /// <summary>Admitted devices: (MUD URL, address) pairs, used for manufacturer, same-manufacturer and model.</summary>
    public IList<(string MudUrl, string Address)> AdmittedDevices { get; } = [];

    /// <summary>DNS servers the default DNS allowance targets (empty = any destination on port 53).</summary>
    public IList<string> DnsServers { get; } = [];

    /// <summary>NTP servers the default NTP allowance targets (empty = any destination on port 123).</summary>
    public IList<string> NtpServers { get; } = [];

    /// <summary>Whether DNS and NTP are allowed after the explicit rules (RFC 8520 s1.8 / s8: "my-controller" style defaults). Default true.</summary>
    public bool AllowDnsAndNtp { get; set; } = true;
}

/// <summary>Compiles a MUD file into a <see cref="CompiledPolicy"/> and renders it as nftables or iptables.</summary>
public static class MudRuleCompiler
{
    /// <summary>Compiles <paramref name="file"/> for <paramref name="device"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:Public API with optional parameter(s) should have the most parameters amongst its public overloads", Justification = "The longer overload takes a required rule list; the short form is the common call and gains no parameters.")]
    public static CompiledPolicy Compile(MudFile file, MudDeviceBinding device, MudAbstractionMappings? mappings = null)
        => Compile(file, device, mappings, []);

    /// <summary>Compiles with administrator rules placed before the manufacturer's rules.</summary>
    public static CompiledPolicy Compile(MudFile file, MudDeviceBinding device, MudAbstractionMappings? mappings, IReadOnlyList<CompiledRule> precedingRules)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(precedingRules);
        mappings ??= new MudAbstractionMappings();
        var rules = new List<CompiledRule>(precedingRules);
        var notes = new List<string>();
        foreach (MudDirection direction in (MudDirection[])[MudDirection.FromDevice, MudDirection.ToDevice])
        {
            foreach (MudAcl acl in file.AclsFor(direction))
            {
                foreach (MudAce ace in acl.Aces)
                {
                    CompiledRule? rule = CompileAce(file, direction, acl, ace, mappings, notes);
                    if (rule is not null)
                    {
                        rules.Add(rule);
                    }
                }
            }
        }

        rules.AddRange(Defaults(mappings));
        return new CompiledPolicy { Device = device, MudUrl = file.MudUrl, Rules = rules, Notes = notes };
    }

    /// <summary>The rules appended after the explicit ones: DNS and NTP (when allowed), then deny in each direction.</summary>
    public static IEnumerable<CompiledRule> Defaults(MudAbstractionMappings mappings)
    {
        ArgumentNullException.ThrowIfNull(mappings);
        if (mappings.AllowDnsAndNtp)
        {
            foreach ((int proto, int port, IList<string> servers, string name) in new[] { (17, 53, mappings.DnsServers, "DNS"), (6, 53, mappings.DnsServers, "DNS"), (17, 123, mappings.NtpServers, "NTP") })
            {
                yield return new CompiledRule { Direction = MudDirection.FromDevice, Origin = MudRuleOrigin.DefaultService, Protocol = proto, RemoteAddresses = servers.ToArray(), RemotePort = new MudPortRange("eq", port), State = MudConnectionState.NewOrEstablished, Action = MudForwarding.Accept, Source = $"default {name}" };
                yield return new CompiledRule { Direction = MudDirection.ToDevice, Origin = MudRuleOrigin.DefaultService, Protocol = proto, RemoteAddresses = servers.ToArray(), RemotePort = new MudPortRange("eq", port), State = MudConnectionState.Established, Action = MudForwarding.Accept, Source = $"default {name} replies" };
            }
        }

        yield return new CompiledRule { Direction = MudDirection.FromDevice, Origin = MudRuleOrigin.DefaultDeny, Action = MudForwarding.Drop, Source = "default deny" };
        yield return new CompiledRule { Direction = MudDirection.ToDevice, Origin = MudRuleOrigin.DefaultDeny, Action = MudForwarding.Drop, Source = "default deny" };
    }

    private static CompiledRule? CompileAce(MudFile file, MudDirection direction, MudAcl acl, MudAce ace, MudAbstractionMappings mappings, List<string> notes)
    {
        MudMatches m = ace.Matches;
        string source = $"{acl.Name}/{ace.Name}";
        bool from = direction == MudDirection.FromDevice;
        MudIpMatch? ip = m.Ip;
        int family = m.Ipv4 is not null ? 4 : m.Ipv6 is not null ? 6 : acl.Type switch { MudAclType.Ipv4 => 4, MudAclType.Ipv6 => 6, _ => 0 };
        string? remoteHost = from ? ip?.DestinationDnsName : ip?.SourceDnsName;
        string? remoteNet = from ? ip?.DestinationNetwork : ip?.SourceNetwork;
        var addresses = new List<string>();
        if (remoteNet is not null)
        {
            addresses.Add(remoteNet);
        }

        if (remoteHost is not null && IPAddress.TryParse(remoteHost, out _))
        {
            addresses.Add(remoteHost);
            remoteHost = null;
        }

        if (m.Mud is { } abs)
        {
            IEnumerable<string>? expanded = Expand(file, abs, mappings, out string what);
            if (expanded is null)
            {
                notes.Add($"{source}: {what} has no administrator mapping; rule omitted (fail closed).");
                return null;
            }

            addresses.AddRange(expanded);
            if (addresses.Count == 0)
            {
                notes.Add($"{source}: {what} currently maps to no address; rule omitted (fail closed).");
                return null;
            }
        }

        MudPortMatch? l4 = m.Tcp ?? m.Udp;
        int? protocol = ip?.Protocol ?? (m.Tcp is not null ? 6 : m.Udp is not null ? 17 : null);
        MudConnectionState state = MudConnectionState.Any;
        if (m.Tcp?.DirectionInitiated is { } initiated)
        {
            bool deviceInitiates = initiated == MudDirection.FromDevice;
            state = from == deviceInitiates ? MudConnectionState.NewOrEstablished : MudConnectionState.Established;
        }

        return new CompiledRule
        {
            Direction = direction,
            Origin = MudRuleOrigin.Explicit,
            Family = family,
            Protocol = protocol,
            RemoteHost = remoteHost,
            RemoteAddresses = addresses,
            RemotePort = from ? l4?.DestinationPort : l4?.SourcePort,
            DevicePort = from ? l4?.SourcePort : l4?.DestinationPort,
            IcmpType = m.Icmp?.Type,
            IcmpCode = m.Icmp?.Code,
            State = state,
            Action = ace.Action,
            Source = source,
        };
    }

    private static IEnumerable<string>? Expand(MudFile file, MudAbstractionMatch abs, MudAbstractionMappings map, out string what)
    {
        string Authority(string url) => Uri.TryCreate(url, UriKind.Absolute, out Uri? u) ? u.Host : url;
        if (abs.LocalNetworks)
        {
            what = "local-networks";
            return map.LocalNetworks.Count > 0 ? map.LocalNetworks : null;
        }

        if (abs.Controller is { } controller)
        {
            what = $"controller '{controller}'";
            return controller switch
            {
                "urn:ietf:params:mud:dns" when map.DnsServers.Count > 0 => map.DnsServers,
                "urn:ietf:params:mud:ntp" when map.NtpServers.Count > 0 => map.NtpServers,
                _ => map.Controllers.TryGetValue(controller, out IList<string>? a) ? a : null,
            };
        }

        if (abs.MyController)
        {
            what = "my-controller";
            return map.MyControllers.TryGetValue(file.MudUrl, out IList<string>? a) ? a : null;
        }

        if (abs.SameManufacturer)
        {
            what = "same-manufacturer";
            string me = Authority(file.MudUrl);
            return map.AdmittedDevices.Where(d => string.Equals(Authority(d.MudUrl), me, StringComparison.OrdinalIgnoreCase)).Select(d => d.Address).ToList();
        }

        if (abs.Manufacturer is { } mfg)
        {
            what = $"manufacturer '{mfg}'";
            return map.AdmittedDevices.Where(d => string.Equals(Authority(d.MudUrl), mfg, StringComparison.OrdinalIgnoreCase)).Select(d => d.Address).ToList();
        }

        if (abs.Model is { } model)
        {
            what = $"model '{model}'";
            return map.AdmittedDevices.Where(d => string.Equals(d.MudUrl, model, StringComparison.Ordinal)).Select(d => d.Address).ToList();
        }

        what = "empty abstraction";
        return [];
    }
}
