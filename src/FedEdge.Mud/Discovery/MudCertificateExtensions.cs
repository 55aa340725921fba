using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FedEdge.Mud.Discovery;

/// <summary>How a decoded value was encoded.</summary>
public enum MudEncodingQuality
{
    /// <summary>Exactly as RFC 8520 specifies.</summary>
    Conformant,

    /// <summary>Readable, but not as specified (for example UTF8String instead of IA5String, or no ASN.1 tag).</summary>
    Tolerated,
}

/// <summary>A MUD URL or signer name read from an X.509 extension.</summary>
/// <param name="Value">The decoded value (URL text or distinguished name).</param>
/// <param name="Quality">Whether the encoding was conformant.</param>
/// <param name="Note">What was tolerated, if anything.</param>
public sealed record MudExtensionValue(string Value, MudEncodingQuality Quality, string? Note = null);

/// <summary>Reads the RFC 8520 section 10 X.509 extensions id-pe-mud-url and id-pe-mudsigner.</summary>
public static class MudCertificateExtensions
{
    /// <summary>id-pe-mud-url (RFC 8520 section 10).</summary>
    public const string MudUrlOid = "1.3.6.1.5.5.7.1.25";

    /// <summary>id-pe-mudsigner (RFC 8520 section 11).</summary>
    public const string MudSignerOid = "1.3.6.1.5.5.7.1.30";

    /// <summary>The MUD URL in the certificate, or null when absent or unreadable.</summary>
    public static MudExtensionValue? ReadMudUrl(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        X509Extension? ext = certificate.Extensions[MudUrlOid];
        return ext is null ? null : DecodeMudUrl(ext.RawData);
    }

    /// <summary>The id-pe-mudsigner Name in the certificate, or null when absent or unreadable.</summary>
    public static X500DistinguishedName? ReadMudSigner(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        X509Extension? ext = certificate.Extensions[MudSignerOid];
        return ext is null ? null : DecodeMudSigner(ext.RawData);
    }

    /// <summary>True when the certificate carries an id-pe-mudsigner extension (readable or not).</summary>
    public static bool HasMudSigner(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.Extensions[MudSignerOid] is not null;
    }

    /// <summary>
    /// Decodes an id-pe-mud-url extension value: an IA5String per RFC 8520; tolerates UTF8String,
    /// PrintableString, VisibleString, an OCTET STRING wrapper and raw untagged ASCII.
    /// </summary>
    public static MudExtensionValue? DecodeMudUrl(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > 4096)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(value.ToArray(), AsnEncodingRules.BER);
            Asn1Tag tag = reader.PeekTag();
            if (tag.TagClass == TagClass.Universal)
            {
                switch ((UniversalTagNumber)tag.TagValue)
                {
                    case UniversalTagNumber.IA5String:
                        return Url(reader.ReadCharacterString(UniversalTagNumber.IA5String), MudEncodingQuality.Conformant, null);
                    case UniversalTagNumber.UTF8String:
                    case UniversalTagNumber.PrintableString:
                    case UniversalTagNumber.VisibleString:
                        var t = (UniversalTagNumber)tag.TagValue;
                        return Url(reader.ReadCharacterString(t), MudEncodingQuality.Tolerated, $"{t} instead of IA5String");
                    case UniversalTagNumber.OctetString:
                        MudExtensionValue? inner = DecodeMudUrl(reader.ReadOctetString());
                        return inner is null ? null : inner with { Quality = MudEncodingQuality.Tolerated, Note = "wrapped in an OCTET STRING" };
                }
            }
        }
        catch (AsnContentException)
        {
            // Not DER at all: fall through to the raw-ASCII reading below.
        }
        catch (ArgumentException)
        {
            // A string type with invalid characters: fall through.
        }

        string raw = Encoding.ASCII.GetString(value);
        return raw.StartsWith("http", StringComparison.OrdinalIgnoreCase) && raw.All(c => c is > ' ' and < (char)127)
            ? Url(raw, MudEncodingQuality.Tolerated, "raw ASCII without an ASN.1 tag")
            : null;
    }

    private static MudExtensionValue? Url(string text, MudEncodingQuality quality, string? note)
        => Uri.TryCreate(text.Trim(), UriKind.Absolute, out _) ? new MudExtensionValue(text.Trim(), quality, note) : null;

    /// <summary>Decodes an id-pe-mudsigner value: a DER Name; tolerates an OCTET STRING wrapper.</summary>
    public static X500DistinguishedName? DecodeMudSigner(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > 4096)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(value.ToArray(), AsnEncodingRules.BER);
            Asn1Tag tag = reader.PeekTag();
            if (tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString))
            {
                return DecodeMudSigner(reader.ReadOctetString());
            }

            if (tag.HasSameClassAndValue(Asn1Tag.Sequence))
            {
                ReadOnlyMemory<byte> seq = reader.ReadEncodedValue();
                var name = new X500DistinguishedName(seq.Span);
                _ = name.EnumerateRelativeDistinguishedNames().Count();
                return name;
            }
        }
        catch (AsnContentException)
        {
            return null;
        }
        catch (CryptographicException)
        {
            return null;
        }

        return null;
    }

    /// <summary>True when two names are the same: equal DER, or equal RDN sequences compared case-insensitively.</summary>
    public static bool SameName(X500DistinguishedName a, X500DistinguishedName b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.RawData.AsSpan().SequenceEqual(b.RawData))
        {
            return true;
        }

        try
        {
            var ra = a.EnumerateRelativeDistinguishedNames().Select(Describe).ToList();
            var rb = b.EnumerateRelativeDistinguishedNames().Select(Describe).ToList();
            return ra.Count == rb.Count && ra.Zip(rb).All(p => string.Equals(p.First, p.Second, StringComparison.OrdinalIgnoreCase));
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string Describe(X500RelativeDistinguishedName rdn)
        => rdn.HasMultipleElements ? Convert.ToHexString(rdn.RawData.Span) : $"{rdn.GetSingleElementType().Value}={rdn.GetSingleElementValue()?.Trim()}";
}
