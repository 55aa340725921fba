using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FedEdge.Mud.Discovery;

/// <summary>Where a MUD URL was learned.</summary>
public enum MudUrlSource
{
    /// <summary>DHCPv4 option 161.</summary>
    DhcpV4,

    /// <summary>DHCPv6 option 112.</summary>
    DhcpV6,

    /// <summary>LLDP organisation-specific TLV (OUI 00-00-5E, subtype 1).</summary>
    Lldp,

    /// <summary>The device's X.509 certificate (id-pe-mud-url).</summary>
    Certificate,
}

/// <summary>A discovered MUD URL.</summary>
/// <param name="Url">The URL.</param>
/// <param name="Source">Where it came from.</param>
/// <param name="Quality">Whether its encoding was conformant.</param>
/// <param name="Note">What was tolerated, if anything.</param>
public sealed record MudUrlDiscovery(Uri Url, MudUrlSource Source, MudEncodingQuality Quality, string? Note = null)
{
    /// <summary>
    /// True when the URL is bound to the device's identity (a certificate); DHCP and LLDP are unauthenticated and
    /// therefore weak (RFC 8520 s10-s12 security considerations).
    /// </summary>
    public bool IsStrong => Source == MudUrlSource.Certificate;

    /// <summary>True when the URL uses https, as RFC 8520 requires.</summary>
    public bool IsHttps => Url.Scheme == Uri.UriSchemeHttps;
}

/// <summary>
/// Decoders for the RFC 8520 MUD URL carriers: DHCPv4 option 161, DHCPv6 option 112, the LLDP TLV and the
/// X.509 extension. They never throw on malformed input; they return null when no URL can be read.
/// </summary>
public static class MudUrlDecoders
{
    /// <summary>DHCPv4 MUD URL option code.</summary>
    public const byte DhcpV4Option = 161;

    /// <summary>DHCPv6 OPTION_MUD_URL_V6.</summary>
    public const ushort DhcpV6Option = 112;

    private const int MaxUrlBytes = 4096;

    /// <summary>Reads option 161 from a whole BOOTP/DHCPv4 packet (fixed header, magic cookie, options).</summary>
    public static MudUrlDiscovery? FromDhcpV4Packet(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 240 || packet[236] != 99 || packet[237] != 130 || packet[238] != 83 || packet[239] != 99)
        {
            return null;
        }

        return FromDhcpV4Options(packet[240..]);
    }

    /// <summary>
    /// Reads option 161 from a DHCPv4 options area. Several instances are concatenated (RFC 3396 long options);
    /// a truncated last option is read as far as it goes and flagged.
    /// </summary>
    public static MudUrlDiscovery? FromDhcpV4Options(ReadOnlySpan<byte> options)
    {
        var url = new List<byte>();
        bool truncated = false;
        int parts = 0;
        int i = 0;
        while (i < options.Length)
        {
            byte code = options[i];
            if (code == 0)
            {
                i++;
                continue;
            }

            if (code == 255 || i + 1 >= options.Length)
            {
                break;
            }

            int len = options[i + 1];
            int start = i + 2;
            int available = Math.Min(len, options.Length - start);
            if (available < len)
            {
                truncated = true;
            }

            if (code == DhcpV4Option && url.Count + available <= MaxUrlBytes)
            {
                url.AddRange(options.Slice(start, Math.Max(available, 0)).ToArray());
                parts++;
            }

            i = start + len;
        }

        if (parts == 0)
        {
            return null;
        }

        string? note = truncated ? "option truncated" : parts > 1 ? $"concatenated from {parts} option instances (RFC 3396)" : null;
        return Make(url.ToArray(), MudUrlSource.DhcpV4, note);
    }

    /// <summary>Reads option 112 from a DHCPv6 client/server message (msg-type, transaction id, options).</summary>
    public static MudUrlDiscovery? FromDhcpV6Message(ReadOnlySpan<byte> message)
        => message.Length < 4 ? null : FromDhcpV6Options(message[4..]);

    /// <summary>Reads option 112 from a DHCPv6 options area.</summary>
    public static MudUrlDiscovery? FromDhcpV6Options(ReadOnlySpan<byte> options)
    {
        int i = 0;
        while (i + 4 <= options.Length)
        {
            ushort code = BinaryPrimitives.ReadUInt16BigEndian(options[i..]);
            int len = BinaryPrimitives.ReadUInt16BigEndian(options[(i + 2)..]);
            int start = i + 4;
            int available = Math.Min(len, options.Length - start);
            if (code == DhcpV6Option)
            {
                return Make(options.Slice(start, available).ToArray(), MudUrlSource.DhcpV6, available < len ? "option truncated" : null);
            }

            i = start + len;
        }

        return null;
    }

    /// <summary>Reads the MUD TLV (type 127, OUI 00-00-5E, subtype 1) from an LLDPDU.</summary>
    public static MudUrlDiscovery? FromLldpdu(ReadOnlySpan<byte> lldpdu)
    {
        int i = 0;
        while (i + 2 <= lldpdu.Length)
        {
            ushort header = BinaryPrimitives.ReadUInt16BigEndian(lldpdu[i..]);
            int type = header >> 9;
            int len = header & 0x1FF;
            int start = i + 2;
            if (type == 0)
            {
                break;
            }

            int available = Math.Min(len, lldpdu.Length - start);
            if (type == 127 && available >= 4 && lldpdu[start] == 0x00 && lldpdu[start + 1] == 0x00 && lldpdu[start + 2] == 0x5E && lldpdu[start + 3] == 1)
            {
                return Make(lldpdu.Slice(start + 4, available - 4).ToArray(), MudUrlSource.Lldp, available < len ? "TLV truncated" : null);
            }

            i = start + len;
        }

        return null;
    }

    /// <summary>Reads the MUD TLV from an Ethernet frame carrying LLDP (ethertype 0x88CC, optionally 802.1Q tagged).</summary>
    public static MudUrlDiscovery? FromEthernetFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14)
        {
            return null;
        }

        int offset = 12;
        ushort ethertype = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        if (ethertype == 0x8100 && frame.Length >= 18)
        {
            offset += 4;
            ethertype = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }

        return ethertype == 0x88CC ? FromLldpdu(frame[(offset + 2)..]) : null;
    }

    /// <summary>Reads id-pe-mud-url from a DER or PEM certificate; null when absent, unreadable or not a certificate.</summary>
    public static MudUrlDiscovery? FromCertificate(ReadOnlySpan<byte> certificate)
    {
        try
        {
            using X509Certificate2 cert = certificate.Length > 0 && certificate[0] == (byte)'-'
                ? X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(certificate))
                : X509CertificateLoader.LoadCertificate(certificate);
            MudExtensionValue? v = MudCertificateExtensions.ReadMudUrl(cert);
            return v is null ? null : new MudUrlDiscovery(new Uri(v.Value), MudUrlSource.Certificate, v.Quality, v.Note);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private static MudUrlDiscovery? Make(byte[] bytes, MudUrlSource source, string? note)
    {
        var notes = new List<string>();
        if (note is not null)
        {
            notes.Add(note);
        }

        int end = bytes.Length;
        while (end > 0 && (bytes[end - 1] == 0 || bytes[end - 1] == (byte)' ' || bytes[end - 1] == (byte)'\n' || bytes[end - 1] == (byte)'\r'))
        {
            end--;
        }

        if (end != bytes.Length)
        {
            notes.Add("trailing NUL/whitespace removed");
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(bytes, 0, end);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        if (text.Any(c => c < ' ' || c > '~'))
        {
            return null;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return null;
        }

        if (uri.Scheme != Uri.UriSchemeHttps)
        {
            notes.Add("not https: a MUD manager MUST NOT fetch it");
        }

        return new MudUrlDiscovery(uri, source, notes.Count == 0 ? MudEncodingQuality.Conformant : MudEncodingQuality.Tolerated, notes.Count == 0 ? null : string.Join("; ", notes));
    }
}
