using System.Formats.Asn1;
using System.Text;
using FedEdge.Mud.Discovery;
using FsCheck.Xunit;

namespace FedEdge.Mud.Tests;

public class DiscoveryTests
{
    private const string Url = "https://lighting.example.com/lightbulb2000";

    private static byte[] DhcpV4Packet(params byte[][] options)
    {
        var p = new byte[240];
        p[0] = 1;
        p[236] = 99;
        p[237] = 130;
        p[238] = 83;
        p[239] = 99;
        return [.. p, .. options.SelectMany(o => o), 255];
    }

    private static byte[] Opt4(byte code, string value) => [code, (byte)Encoding.ASCII.GetByteCount(value), .. Encoding.ASCII.GetBytes(value)];

    [Fact]
    public void FromDhcpV4Packet_Option161_ReturnsWeakConformantUrl()
    {
        byte[] packet = DhcpV4Packet([53, 1, 1], Opt4(12, "bulb"), Opt4(161, Url));
        MudUrlDiscovery d = MudUrlDecoders.FromDhcpV4Packet(packet)!;
        Assert.Equal(Url, d.Url.AbsoluteUri);
        Assert.Equal(MudUrlSource.DhcpV4, d.Source);
        Assert.False(d.IsStrong);
        Assert.Equal(MudEncodingQuality.Conformant, d.Quality);
    }

    [Fact]
    public void FromDhcpV4Options_SplitLongOptionAndTrailingNul_Tolerated()
    {
        byte[] options = [.. Opt4(161, Url[..20]), 0, .. Opt4(161, Url[20..] + "\0")];
        MudUrlDiscovery d = MudUrlDecoders.FromDhcpV4Options(options)!;
        Assert.Equal(Url, d.Url.AbsoluteUri);
        Assert.Equal(MudEncodingQuality.Tolerated, d.Quality);
        Assert.Contains("RFC 3396", d.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void FromDhcpV4Packet_NoCookieOrNoOption_ReturnsNull()
    {
        Assert.Null(MudUrlDecoders.FromDhcpV4Packet(new byte[300]));
        Assert.Null(MudUrlDecoders.FromDhcpV4Packet(DhcpV4Packet(Opt4(12, "x"))));
        Assert.Null(MudUrlDecoders.FromDhcpV4Options(Opt4(161, "not a url")));
    }

    [Fact]
    public void FromDhcpV6Message_Option112_ReturnsUrl()
    {
        byte[] url = Encoding.ASCII.GetBytes(Url);
        byte[] msg = [1, 0xAA, 0xBB, 0xCC, 0, 1, 0, 2, 9, 9, 0, 112, (byte)(url.Length >> 8), (byte)url.Length, .. url];
        MudUrlDiscovery d = MudUrlDecoders.FromDhcpV6Message(msg)!;
        Assert.Equal(Url, d.Url.AbsoluteUri);
        Assert.Equal(MudUrlSource.DhcpV6, d.Source);
    }

    [Fact]
    public void FromEthernetFrame_LldpMudTlv_ReturnsUrl()
    {
        byte[] url = Encoding.ASCII.GetBytes("http://example.com/mud");
        int len = 4 + url.Length;
        byte[] lldpdu =
        [
            0x02, 0x07, 4, 0, 0x11, 0x22, 0x33, 0x44, 0x55, // chassis id
            0x04, 0x02, 7, 1, // port id
            0x06, 0x02, 0, 120, // ttl
            (byte)((127 << 1) | (len >> 8)), (byte)len, 0x00, 0x00, 0x5E, 1, .. url,
            0, 0,
        ];
        byte[] frame = [1, 0x80, 0xC2, 0, 0, 0x0E, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x88, 0xCC, .. lldpdu];
        MudUrlDiscovery d = MudUrlDecoders.FromEthernetFrame(frame)!;
        Assert.Equal("http://example.com/mud", d.Url.AbsoluteUri);
        Assert.Equal(MudUrlSource.Lldp, d.Source);
        Assert.False(d.IsHttps);
        Assert.Contains("not https", d.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void FromLldpdu_OtherOuiOrSubtype_Ignored()
    {
        byte[] url = Encoding.ASCII.GetBytes(Url);
        int len = 4 + url.Length;
        byte[] wrongOui = [(byte)((127 << 1) | (len >> 8)), (byte)len, 0x00, 0x12, 0x0F, 1, .. url, 0, 0];
        byte[] wrongSub = [(byte)((127 << 1) | (len >> 8)), (byte)len, 0x00, 0x00, 0x5E, 2, .. url, 0, 0];
        Assert.Null(MudUrlDecoders.FromLldpdu(wrongOui));
        Assert.Null(MudUrlDecoders.FromLldpdu(wrongSub));
    }

    [Fact]
    public void FromCertificate_DeviceCert_IsStrong()
    {
        MudUrlDiscovery d = MudUrlDecoders.FromCertificate(File.ReadAllBytes(Path.Combine(Corpus.Signed, "device.cert.pem")))!;
        Assert.Equal(Url, d.Url.AbsoluteUri);
        Assert.True(d.IsStrong);
        Assert.Null(MudUrlDecoders.FromCertificate(File.ReadAllBytes(Path.Combine(Corpus.Signed, "mfr-signer.cert.pem"))));
        Assert.Null(MudUrlDecoders.FromCertificate([1, 2, 3]));
    }

    [Fact]
    public void DecodeMudUrl_MalformedEncodingsSeenInTheWild_AreToleratedAndFlagged()
    {
        var utf8 = new AsnWriter(AsnEncodingRules.DER);
        utf8.WriteCharacterString(UniversalTagNumber.UTF8String, Url);
        var octet = new AsnWriter(AsnEncodingRules.DER);
        var inner = new AsnWriter(AsnEncodingRules.DER);
        inner.WriteCharacterString(UniversalTagNumber.IA5String, Url);
        octet.WriteOctetString(inner.Encode());

        Assert.Equal(MudEncodingQuality.Tolerated, MudCertificateExtensions.DecodeMudUrl(utf8.Encode())!.Quality);
        Assert.Equal(Url, MudCertificateExtensions.DecodeMudUrl(octet.Encode())!.Value);
        Assert.Equal(Url, MudCertificateExtensions.DecodeMudUrl(Encoding.ASCII.GetBytes(Url))!.Value);
        Assert.Null(MudCertificateExtensions.DecodeMudUrl([0x16, 0x05, 1, 2]));
        Assert.Null(MudCertificateExtensions.DecodeMudSigner([0x30, 0x03, 1]));
    }

    [Property(MaxTest = 300)]
    public bool Decoders_ArbitraryBytes_NeverThrow(byte[] bytes)
    {
        bytes ??= [];
        _ = MudUrlDecoders.FromDhcpV4Options(bytes);
        _ = MudUrlDecoders.FromDhcpV4Packet(bytes);
        _ = MudUrlDecoders.FromDhcpV6Message(bytes);
        _ = MudUrlDecoders.FromLldpdu(bytes);
        _ = MudUrlDecoders.FromEthernetFrame(bytes);
        _ = MudUrlDecoders.FromCertificate(bytes);
        _ = MudCertificateExtensions.DecodeMudUrl(bytes);
        _ = MudCertificateExtensions.DecodeMudSigner(bytes);
        return true;
    }
}
