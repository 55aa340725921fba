using System.Formats.Asn1;
using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedEdge.Security;

/// <summary>What a device certificate says about its device.</summary>
public sealed record DeviceCertificateRequest
{
    /// <summary>The device id; written as the subject CN and as the SAN URI <c>urn:fededge:device:ID</c>.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The device's MUD URL (RFC 8520 id-pe-mud-url extension), if any.</summary>
    public Uri? MudUrl { get; init; }

    /// <summary>The MUD file signer's name (RFC 8520 id-pe-mudsigner extension), if any.</summary>
    public X500DistinguishedName? MudSigner { get; init; }

    /// <summary>How long the certificate is valid from its issue time.</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(365);
}

/// <summary>
/// The federation's certificate authority operations, with the BCL only (<see cref="CertificateRequest"/>, ECDSA
/// P-256): create the CA, issue device and server certificates, revoke and write the CRL. The CLI's
/// <c>fededge pki</c> commands call these; a host application may enrol devices with them directly.
/// </summary>
public static class FederationPki
{
    /// <summary>The SAN URI prefix that carries a device id.</summary>
    public const string DeviceUriPrefix = "urn:fededge:device:";

    /// <summary>id-pe-mud-url (RFC 8520 section 10).</summary>
    public const string MudUrlOid = "1.3.6.1.5.5.7.1.25";

    /// <summary>id-pe-mudsigner (RFC 8520 section 11).</summary>
    public const string MudSignerOid = "1.3.6.1.5.5.7.1.30";

    /// <summary>id-kp-clientAuth.</summary>
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>id-kp-serverAuth.</summary>
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>The longest device id accepted.</summary>
    public const int MaxDeviceIdLength = 128;

    /// <summary>Creates a self-signed federation CA (ECDSA P-256) valid from <paramref name="now"/> for <paramref name="validity"/>; the result holds its private key.</summary>
    public static X509Certificate2 CreateCertificateAuthority(string name, DateTimeOffset now, TimeSpan validity)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(BuildName(name, "FedEdge federation CA"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now.AddMinutes(-5), now + validity);
    }

    /// <summary>Issues a device certificate (client authentication) signed by <paramref name="authority"/>; the result holds the new private key.</summary>
    /// <exception cref="ArgumentException">The device id is empty, too long or has control characters.</exception>
    public static X509Certificate2 IssueDevice(X509Certificate2 authority, DeviceCertificateRequest device, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(device);
        ValidateDeviceId(device.DeviceId);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(BuildName(device.DeviceId, "FedEdge device"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(DeviceUriPrefix + Uri.EscapeDataString(device.DeviceId)));
        request.CertificateExtensions.Add(san.Build());
        if (device.MudUrl is { } mudUrl)
        {
            if (!mudUrl.IsAbsoluteUri || mudUrl.Scheme != Uri.UriSchemeHttps)
            {
                throw new ArgumentException($"The MUD URL '{mudUrl}' must be an absolute https URL (RFC 8520 section 3.1).", nameof(device));
            }

            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.WriteCharacterString(UniversalTagNumber.IA5String, mudUrl.AbsoluteUri);
            request.CertificateExtensions.Add(new X509Extension(MudUrlOid, writer.Encode(), false));
        }

        if (device.MudSigner is { } signer)
        {
            request.CertificateExtensions.Add(new X509Extension(MudSignerOid, signer.RawData, false));
        }

        return Issue(authority, request, key, now, device.Validity);
    }

    /// <summary>Issues a server certificate for a coordinator or edge (server and client authentication, SAN = <paramref name="host"/>).</summary>
    public static X509Certificate2 IssueServer(X509Certificate2 authority, string host, DateTimeOffset now, TimeSpan validity)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(BuildName(host, "FedEdge server"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthOid), new Oid(ClientAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out IPAddress? address))
        {
            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(host);
        }

        request.CertificateExtensions.Add(san.Build());
        return Issue(authority, request, key, now, validity);
    }

    /// <summary>
    /// Adds <paramref name="revoked"/> to the CRL (<paramref name="currentCrl"/>, or a new one when empty) and returns
    /// the new DER CRL signed by <paramref name="authority"/>, with the next CRL number.
    /// </summary>
    public static byte[] Revoke(X509Certificate2 authority, ReadOnlySpan<byte> currentCrl, X509Certificate2 revoked, DateTimeOffset now, TimeSpan nextUpdate)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(revoked);
        CertificateRevocationListBuilder builder;
        BigInteger number = BigInteger.Zero;
        if (currentCrl.IsEmpty)
        {
            builder = new CertificateRevocationListBuilder();
        }
        else
        {
            try
            {
                builder = CertificateRevocationListBuilder.Load(currentCrl, out number, out _);
            }
            catch (CryptographicException ex)
            {
                throw new CredentialException($"The current CRL could not be read: {ex.Message}", ex);
            }
        }

        builder.AddEntry(revoked, now, X509RevocationReason.Unspecified);
        return builder.Build(authority, number + 1, now + nextUpdate, HashAlgorithmName.SHA256, null, now);
    }

    /// <summary>Writes an empty CRL (no revocations) signed by <paramref name="authority"/>.</summary>
    public static byte[] CreateEmptyCrl(X509Certificate2 authority, DateTimeOffset now, TimeSpan nextUpdate)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return new CertificateRevocationListBuilder().Build(authority, BigInteger.One, now + nextUpdate, HashAlgorithmName.SHA256, null, now);
    }

    /// <summary>The device id in the certificate's SAN URI <c>urn:fededge:device:ID</c>, or null when there is none.</summary>
    public static string? ReadDeviceId(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        foreach (X509Extension extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != "2.5.29.17")
            {
                continue;
            }

            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                AsnReader names = reader.ReadSequence();
                var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(uriTag))
                    {
                        string uri = names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag);
                        if (uri.StartsWith(DeviceUriPrefix, StringComparison.Ordinal))
                        {
                            string id = Uri.UnescapeDataString(uri[DeviceUriPrefix.Length..]);
                            return IsValidDeviceId(id) ? id : null;
                        }
                    }
                    else
                    {
                        names.ReadEncodedValue();
                    }
                }
            }
            catch (AsnContentException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="deviceId"/> is non-empty, at most <see cref="MaxDeviceIdLength"/> characters, without control characters or '/', '+', '#'.</summary>
    public static bool IsValidDeviceId(string? deviceId)
        => !string.IsNullOrWhiteSpace(deviceId) && deviceId.Length <= MaxDeviceIdLength && !deviceId.Any(c => char.IsControl(c) || c is '/' or '+' or '#' or ',' or '=');

    private static void ValidateDeviceId(string deviceId)
    {
        if (!IsValidDeviceId(deviceId))
        {
            throw new ArgumentException($"The device id '{deviceId}' is not valid: 1 to {MaxDeviceIdLength} characters, no control characters and none of / + # , = (MQTT topic and name rules).", nameof(deviceId));
        }
    }

    private static X500DistinguishedName BuildName(string commonName, string organisation)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName(organisation);
        builder.AddCommonName(commonName);
        return builder.Build();
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, CertificateRequest request, ECDsa key, DateTimeOffset now, TimeSpan validity)
    {
        if (!authority.HasPrivateKey)
        {
            throw new CredentialException("The CA certificate has no private key; load it with its key file.");
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        DateTimeOffset notAfter = now + validity;
        if (notAfter > authority.NotAfter)
        {
            notAfter = authority.NotAfter;
        }

        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        using X509Certificate2 issued = request.Create(authority, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }
}
