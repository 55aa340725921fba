using System.Globalization;
using System.Net;
using System.Text;

namespace FedEdge.Mud.Compilation;

/// <summary>The firewall syntax to render.</summary>
public enum MudFirewallFormat
{
    /// <summary>An <c>nft -f</c> script (table inet).</summary>
    Nftables,

    /// <summary>A shell script of iptables / ip6tables commands.</summary>
    Iptables,
}

/// <summary>
/// Renders a <see cref="CompiledPolicy"/> as an nftables or iptables script. DNS names are resolved by the tool when the script loads.
/// Every value is checked against its grammar before it is emitted (addresses, MAC, host names) or reduced to printable ASCII
/// inside a quoted comment, so no value can start a new line or a new shell command; a value that fails its grammar throws
/// <see cref="ArgumentException"/> and nothing is rendered.
/// </summary>
public static partial class MudFirewallRenderer
{
    /// <summary>Renders in the given format.</summary>
    public static string Render(CompiledPolicy policy, MudFirewallFormat format)
        => format == MudFirewallFormat.Nftables ? ToNftables(policy) : ToIptables(policy);

    /// <summary>An nftables script: one table, a forward chain dispatching on the device, one chain per direction.</summary>
    /// <exception cref="ArgumentException">A device address, MAC or remote host does not fit its grammar.</exception>
    public static string ToNftables(CompiledPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        string id = ChainId(policy.Device.Name).ToLowerInvariant();
        var sb = new StringBuilder();
        string? deviceMac = policy.Device.Mac is null ? null : Mac(policy.Device.Mac);
        string[] deviceAddresses = (policy.Device.Addresses ?? []).Select(a => Address(a, "policy.Device.Addresses")).ToArray();
        sb.Append("# FedEdge MUD policy for ").Append(Comment(policy.Device.Name)).Append(" from ").AppendLine(Comment(policy.MudUrl));
        foreach (string note in policy.Notes)
        {
            sb.Append("# note: ").AppendLine(Comment(note));
        }

        sb.AppendLine("table inet fededge_mud {");
        foreach ((MudDirection dir, string suffix) in new[] { (MudDirection.FromDevice, "from"), (MudDirection.ToDevice, "to") })
        {
            sb.Append("  chain ").Append(id).Append('_').Append(suffix).AppendLine(" {");
            foreach (CompiledRule rule in policy.Rules.Where(r => r.Direction == dir))
            {
                foreach (string line in NftRule(rule))
                {
                    sb.Append("    ").AppendLine(line);
                }
            }

            sb.AppendLine("  }");
        }

        sb.AppendLine("  chain forward {");
        sb.AppendLine("    type filter hook forward priority 0; policy accept;");
        if (deviceMac is { } mac)
        {
            sb.Append("    ether saddr ").Append(mac).Append(" jump ").Append(id).AppendLine("_from");
            sb.Append("    ether daddr ").Append(mac).Append(" jump ").Append(id).AppendLine("_to");
        }

        foreach (string addr in deviceAddresses)
        {
            string fam = IsV6(addr) ? "ip6" : "ip";
            sb.Append("    ").Append(fam).Append(" saddr ").Append(addr).Append(" jump ").Append(id).AppendLine("_from");
            sb.Append("    ").Append(fam).Append(" daddr ").Append(addr).Append(" jump ").Append(id).AppendLine("_to");
        }

        sb.AppendLine("  }");
        sb.AppendLine("}");
        return sb.ToString();
    }

    private static IEnumerable<string> NftRule(CompiledRule r)
    {
        bool from = r.Direction == MudDirection.FromDevice;
        string remote = from ? "daddr" : "saddr";
        string remotePort = from ? "dport" : "sport";
        string devicePort = from ? "sport" : "dport";
        string? host = r.RemoteHost is null ? null : Host(r.RemoteHost);
        string[] remoteAddresses = r.RemoteAddresses.Select(a => Address(a, "rule.RemoteAddresses")).ToArray();
        foreach (int fam in Families(r))
        {
            var parts = new List<string>();
            string[] addrs = remoteAddresses.Where(a => IsV6(a) == (fam == 6)).ToArray();
            string ipk = fam == 6 ? "ip6" : "ip";
            if (host is not null)
            {
                parts.Add($"{ipk} {remote} {host}");
            }
            else if (addrs.Length > 0)
            {
                parts.Add($"{ipk} {remote} {(addrs.Length == 1 ? addrs[0] : "{ " + string.Join(", ", addrs) + " }")}");
            }
            else if (r.RemoteAddresses.Count > 0)
            {
                continue;
            }
            else if (fam != 0)
            {
                parts.Add($"meta nfproto {(fam == 6 ? "ipv6" : "ipv4")}");
            }

            string? l4 = r.Protocol switch { 6 => "tcp", 17 => "udp", _ => null };
            if (l4 is not null && (r.RemotePort is not null || r.DevicePort is not null))
            {
                if (r.RemotePort is not null)
                {
                    parts.Add($"{l4} {remotePort} {NftPort(r.RemotePort)}");
                }

                if (r.DevicePort is not null)
                {
                    parts.Add($"{l4} {devicePort} {NftPort(r.DevicePort)}");
                }
            }
            else if (r.Protocol is { } p)
            {
                parts.Add($"meta l4proto {p.ToString(CultureInfo.InvariantCulture)}");
            }

            if (r.IcmpType is { } type)
            {
                parts.Add($"{(fam == 6 ? "icmpv6" : "icmp")} type {type.ToString(CultureInfo.InvariantCulture)}");
                if (r.IcmpCode is { } code)
                {
                    parts.Add($"{(fam == 6 ? "icmpv6" : "icmp")} code {code.ToString(CultureInfo.InvariantCulture)}");
                }
            }

            if (r.State != MudConnectionState.Any)
            {
                parts.Add(r.State == MudConnectionState.Established ? "ct state established,related" : "ct state new,established");
            }

            parts.Add(r.Action switch { MudForwarding.Accept => "accept", MudForwarding.Reject => "reject", _ => "drop" });
            parts.Add($"comment \"{Comment(r.Source)}\"");
            yield return string.Join(' ', parts);
        }
    }

    /// <summary>A shell script of iptables (IPv4) and ip6tables (IPv6) commands.</summary>
    /// <exception cref="ArgumentException">A device address, MAC or remote host does not fit its grammar.</exception>
    public static string ToIptables(CompiledPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        string id = "FE_" + ChainId(policy.Device.Name).ToUpperInvariant();
        id = id.Length > 24 ? id[..24] : id;
        var sb = new StringBuilder();
        string? deviceMac = policy.Device.Mac is null ? null : Mac(policy.Device.Mac);
        string[] deviceAddresses = (policy.Device.Addresses ?? []).Select(a => Address(a, "policy.Device.Addresses")).ToArray();
        var rules = policy.Rules.Select(r => IptRule(r, id).ToList()).ToList();
        sb.AppendLine("#!/bin/sh");
        sb.Append("# FedEdge MUD policy for ").Append(Comment(policy.Device.Name)).Append(" from ").AppendLine(Comment(policy.MudUrl));
        foreach (string note in policy.Notes)
        {
            sb.Append("# note: ").AppendLine(Comment(note));
        }

        sb.AppendLine("set -e");
        foreach (string tool in (string[])["iptables", "ip6tables"])
        {
            foreach (string suffix in (string[])["_FR", "_TO"])
            {
                sb.Append(tool).Append(" -N ").Append(id).Append(suffix).AppendLine(" 2>/dev/null || true");
                sb.Append(tool).Append(" -F ").Append(id).AppendLine(suffix);
            }

            if (deviceMac is { } mac)
            {
                sb.Append(tool).Append(" -A FORWARD -m mac --mac-source ").Append(mac).Append(" -j ").Append(id).AppendLine("_FR");
                if (deviceAddresses.Length == 0)
                {
                    sb.Append("# ").Append(tool).Append(": iptables cannot match a destination MAC; hook ").Append(id).AppendLine("_TO with -d <device address> (give the device's addresses).");
                }
            }

            foreach (string addr in deviceAddresses.Where(a => IsV6(a) == (tool == "ip6tables")))
            {
                sb.Append(tool).Append(" -A FORWARD -s ").Append(addr).Append(" -j ").Append(id).AppendLine("_FR");
                sb.Append(tool).Append(" -A FORWARD -d ").Append(addr).Append(" -j ").Append(id).AppendLine("_TO");
            }
        }

        foreach (List<string> lines in rules)
        {
            foreach (string line in lines)
            {
                sb.AppendLine(line);
            }
        }

        return sb.ToString();
    }

    private static IEnumerable<string> IptRule(CompiledRule r, string id)
    {
        bool from = r.Direction == MudDirection.FromDevice;
        string chain = id + (from ? "_FR" : "_TO");
        string? host = r.RemoteHost is null ? null : Host(r.RemoteHost);
        string[] remoteAddresses = r.RemoteAddresses.Select(a => Address(a, "rule.RemoteAddresses")).ToArray();
        foreach (int fam in Families(r).SelectMany(f => f == 0 ? (int[])[4, 6] : [f]))
        {
            string tool = fam == 6 ? "ip6tables" : "iptables";
            IEnumerable<string?> targets;
            string[] addrs = remoteAddresses.Where(a => IsV6(a) == (fam == 6)).ToArray();
            if (host is not null)
            {
                targets = [host];
            }
            else if (addrs.Length > 0)
            {
                targets = addrs;
            }
            else if (r.RemoteAddresses.Count > 0)
            {
                continue;
            }
            else
            {
                targets = [null];
            }

            foreach (string? target in targets)
            {
                var sb = new StringBuilder();
                sb.Append(tool).Append(" -A ").Append(chain);
                if (target is not null)
                {
                    sb.Append(from ? " -d " : " -s ").Append(target);
                }

                if (r.Protocol is { } p)
                {
                    string proto = p switch { 6 => "tcp", 17 => "udp", 1 when fam == 4 => "icmp", 58 when fam == 6 => "ipv6-icmp", _ => p.ToString(CultureInfo.InvariantCulture) };
                    sb.Append(" -p ").Append(proto);
                    if (p is 6 or 17)
                    {
                        AppendPort(sb, from ? "--dport" : "--sport", r.RemotePort);
                        AppendPort(sb, from ? "--sport" : "--dport", r.DevicePort);
                    }
                }

                if (r.IcmpType is { } type)
                {
                    sb.Append(fam == 6 ? " --icmpv6-type " : " --icmp-type ").Append(type.ToString(CultureInfo.InvariantCulture));
                    if (r.IcmpCode is { } code)
                    {
                        sb.Append('/').Append(code.ToString(CultureInfo.InvariantCulture));
                    }
                }

                if (r.State != MudConnectionState.Any)
                {
                    sb.Append(" -m conntrack --ctstate ").Append(r.State == MudConnectionState.Established ? "ESTABLISHED,RELATED" : "NEW,ESTABLISHED");
                }

                sb.Append(" -m comment --comment \"").Append(Comment(r.Source)).Append('"');
                sb.Append(" -j ").Append(r.Action switch { MudForwarding.Accept => "ACCEPT", MudForwarding.Reject => "REJECT", _ => "DROP" });
                yield return sb.ToString();
            }
        }
    }

    private static void AppendPort(StringBuilder sb, string flag, MudPortRange? port)
    {
        if (port is null)
        {
            return;
        }

        string p = port.Port.ToString(CultureInfo.InvariantCulture);
        switch (port.Operator)
        {
            case "neq":
                sb.Append(" ! ").Append(flag).Append(' ').Append(p);
                break;
            case "lte":
                sb.Append(' ').Append(flag).Append(" 0:").Append(p);
                break;
            case "gte":
                sb.Append(' ').Append(flag).Append(' ').Append(p).Append(":65535");
                break;
            case "range":
                sb.Append(' ').Append(flag).Append(' ').Append(p).Append(':').Append((port.UpperPort ?? port.Port).ToString(CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(' ').Append(flag).Append(' ').Append(p);
                break;
        }
    }

    private static string NftPort(MudPortRange port)
    {
        string p = port.Port.ToString(CultureInfo.InvariantCulture);
        return port.Operator switch
        {
            "neq" => "!= " + p,
            "lte" => "<= " + p,
            "gte" => ">= " + p,
            "range" => $"{p}-{(port.UpperPort ?? port.Port).ToString(CultureInfo.InvariantCulture)}",
            _ => p,
        };
    }

    private static IEnumerable<int> Families(CompiledRule r)
    {
        if (r.Family != 0)
        {
            return [r.Family];
        }

        if (r.RemoteAddresses.Count > 0 && r.RemoteHost is null)
        {
            return r.RemoteAddresses.Select(a => IsV6(a) ? 6 : 4).Distinct();
        }

        return [0];
    }

    private static bool IsV6(string address)
        => IPAddress.TryParse(address.Split('/')[0], out IPAddress? ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;

    private static string ChainId(string name)
    {
        var sb = new StringBuilder();
        foreach (char c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        }

        string s = sb.Length == 0 ? "device" : sb.ToString();
        return s.Length > 20 ? s[..20] : s;
    }

    /// <summary>
    /// Comment text: printable ASCII only, without the characters that end a quoted string or expand inside shell double
    /// quotes (<c>" \ ` $</c>); anything else becomes '_'. At most 120 characters, so it fits the nftables comment limit.
    /// </summary>
    private static string Comment(string? text)
    {
        var sb = new StringBuilder();
        foreach (char c in text ?? string.Empty)
        {
            if (sb.Length == 120)
            {
                break;
            }

            sb.Append(c is >= ' ' and <= '~' and not ('"' or '\\' or '`' or '$') ? c : '_');
        }

        return sb.ToString();
    }

    /// <summary>An IP address or prefix, re-emitted in canonical form; anything else throws.</summary>
    private static string Address(string value, string paramName)
    {
        int slash = value.IndexOf('/', StringComparison.Ordinal);
        string ip = slash < 0 ? value : value[..slash];
        if (ip.Length > 0 && ip.All(c => char.IsAsciiHexDigit(c) || c is '.' or ':') && IPAddress.TryParse(ip, out IPAddress? address))
        {
            int max = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32;
            if (slash < 0)
            {
                return address.ToString();
            }

            string len = value[(slash + 1)..];
            if (len.Length is > 0 and <= 3 && len.All(char.IsAsciiDigit) && int.Parse(len, CultureInfo.InvariantCulture) <= max)
            {
                return $"{address}/{int.Parse(len, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture)}";
            }
        }

        throw new ArgumentException($"'{Comment(value)}' is not an IP address or prefix; refusing to render it.", paramName);
    }

    /// <summary>A MAC address (six hex pairs separated by ':' or '-'), emitted lower case with ':'; anything else throws.</summary>
    private static string Mac(string value)
    {
        if (!MacRegex().IsMatch(value))
        {
            throw new ArgumentException($"'{Comment(value)}' is not a MAC address (xx:xx:xx:xx:xx:xx); refusing to render it.", "policy.Device.Mac");
        }

        return value.Replace('-', ':').ToLowerInvariant();
    }

    /// <summary>A remote host: a DNS host name (letters, digits, '-' and '.') or an IP address; anything else throws.</summary>
    private static string Host(string value)
    {
        if (MudParser.IsHostName(value))
        {
            return value;
        }

        return Address(value, "rule.RemoteHost");
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\\1[0-9A-Fa-f]{2}){4}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant, 100)]
    private static partial System.Text.RegularExpressions.Regex MacRegex();
}
