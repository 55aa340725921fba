using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Mud.Discovery;

namespace FedEdge.Mud.Signatures;

/// <summary>Why a MUD signature did not verify. Each failure has its own value; verification fails closed.</summary>
public enum MudSignatureFailure
{
    /// <summary>The signature verified.</summary>
    None,

    /// <summary>No trust anchor is configured.</summary>
    NoTrustAnchors,

    /// <summary>The signature is not a DER CMS SignedData (for example a raw RSA signature).</summary>
    Malformed,

    /// <summary>The SignedData embeds content; RFC 8520 requires a detached signature.</summary>
    NotDetached,

    /// <summary>eContentType is neither id-data nor id-ct-mudtype.</summary>
    UnexpectedContentType,

    /// <summary>No signer, or more than one.</summary>
    SignerCount,

    /// <summary>The signer certificate is not in the SignedData.</summary>
    SignerCertificateMissing,

    /// <summary>The messageDigest signed attribute does not match the file's raw bytes.</summary>
    ContentDigestMismatch,

    /// <summary>The file was signed in S/MIME text mode (LF to CRLF canonicalised), not over its raw bytes.</summary>
    TextModeSignature,

    /// <summary>The cryptographic signature does not verify.</summary>
    SignatureMismatch,

    /// <summary>The signer certificate has no KeyUsage extension.</summary>
    KeyUsageMissing,

    /// <summary>The signer KeyUsage lacks digitalSignature.</summary>
    KeyUsageLacksDigitalSignature,

    /// <summary>The signer does not chain to a configured trust anchor.</summary>
    UntrustedSigner,

    /// <summary>A certificate in the chain is not valid at the verification time.</summary>
    CertificateNotTimeValid,

    /// <summary>The chain is invalid for another reason (named in the message).</summary>
    ChainInvalid,

    /// <summary>The device certificate's id-pe-mudsigner names a different signer.</summary>
    MudSignerMismatch,

    /// <summary>The device certificate's id-pe-mudsigner is present but unreadable.</summary>
    MudSignerUnreadable,
}

/// <summary>The outcome of verifying a MUD file's detached CMS signature.</summary>
public sealed record MudSignatureResult
{
    /// <summary>True when every check passed.</summary>
    public bool IsValid => Failure == MudSignatureFailure.None;

    /// <summary>The first failing check (fail closed).</summary>
    public MudSignatureFailure Failure { get; init; }

    /// <summary>A sentence explaining the outcome.</summary>
    public string Reason { get; init; } = string.Empty;

    /// <summary>The signer's subject, when known.</summary>
    public string? Signer { get; init; }

    /// <summary>The eContentType OID, when the message decoded.</summary>
    public string? ContentType { get; init; }

    /// <summary>Whether the signer used signed attributes.</summary>
    public bool HasSignedAttributes { get; init; }

    /// <summary>A failed result.</summary>
    public static MudSignatureResult Fail(MudSignatureFailure failure, string reason, string? signer = null)
        => new() { Failure = failure, Reason = reason, Signer = signer };
}

/// <summary>Options for <see cref="MudSignatureVerifier"/>.</summary>
public sealed class MudSignatureVerifierOptions
{
    /// <summary>The trust anchors (manufacturer CAs) a signer must chain to.</summary>
    public IList<X509Certificate2> TrustAnchors { get; } = [];

    /// <summary>A fixed verification time; null means the injected clock's now.</summary>
    public DateTimeOffset? VerificationTime { get; set; }

    /// <summary>Adds every certificate of a PEM file as a trust anchor.</summary>
    public MudSignatureVerifierOptions AddTrustAnchorsFromPem(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        foreach (X509Certificate2 c in collection)
        {
            TrustAnchors.Add(c);
        }

        return this;
    }
}

/// <summary>
/// Verifies RFC 8520 section 13.2 detached CMS signatures over the raw bytes of a MUD file: with or without
/// signed attributes, id-data or id-ct-mudtype content, signer KeyUsage with digitalSignature, a chain to the
/// configured trust anchors at the verification time, and, when the device certificate carries
/// id-pe-mudsigner, a signer equal to it.
/// </summary>
public sealed class MudSignatureVerifier
{
    /// <summary>id-data.</summary>
    public const string IdData = "1.2.840.113549.1.7.1";

    /// <summary>id-ct-mudtype (RFC 8520 section 12).</summary>
    public const string IdCtMudType = "1.2.840.113549.1.9.16.1.41";

    private readonly MudSignatureVerifierOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates a verifier.</summary>
    public MudSignatureVerifier(MudSignatureVerifierOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Verifies <paramref name="signature"/> (DER CMS) over the raw <paramref name="content"/> bytes.</summary>
    /// <param name="content">The MUD file's exact bytes.</param>
    /// <param name="signature">The detached signature (DER; PEM "CMS"/"PKCS7" armour is accepted too).</param>
    /// <param name="deviceCertificate">The device's certificate, whose id-pe-mudsigner (if any) the signer must match.</param>
    /// <param name="at">The verification time (overrides the options and the clock).</param>
    public MudSignatureResult Verify(ReadOnlySpan<byte> content, ReadOnlySpan<byte> signature, X509Certificate2? deviceCertificate = null, DateTimeOffset? at = null)
    {
        if (_options.TrustAnchors.Count == 0)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.NoTrustAnchors, "No trust anchor is configured; MUD signatures cannot be trusted.");
        }

        byte[] der = Unarmour(signature);
        byte[] bytes = content.ToArray();
        SignedCms cms;
        try
        {
            cms = Decode(bytes, der, out string contentType);
            if (contentType is not (IdData or IdCtMudType))
            {
                return MudSignatureResult.Fail(MudSignatureFailure.UnexpectedContentType, $"eContentType {contentType} is neither id-data nor id-ct-mudtype.");
            }
        }
        catch (CryptographicException ex)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.Malformed, $"The signature is not a CMS SignedData: {ex.Message}");
        }
        catch (NotDetachedException)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.NotDetached, "The SignedData embeds its content; RFC 8520 requires a detached signature over the MUD file.");
        }

        if (cms.SignerInfos.Count != 1)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.SignerCount, $"The SignedData has {cms.SignerInfos.Count} signers; exactly one is required.");
        }

        SignerInfo signer = cms.SignerInfos[0];
        X509Certificate2? cert = signer.Certificate;
        if (cert is null)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.SignerCertificateMissing, "The signer certificate is not included in the SignedData.");
        }

        string subject = cert.Subject;
        bool hasAttrs = signer.SignedAttributes.Count > 0;
        MudSignatureResult? sig = CheckSignature(bytes, der, signer, hasAttrs, subject);
        if (sig is not null)
        {
            return sig;
        }

        X509KeyUsageExtension? ku = cert.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (ku is null)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.KeyUsageMissing, $"Signer '{subject}' has no KeyUsage extension; RFC 8520 s13.2 requires KeyUsage with digitalSignature.", subject);
        }

        if (!ku.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature))
        {
            return MudSignatureResult.Fail(MudSignatureFailure.KeyUsageLacksDigitalSignature, $"Signer '{subject}' KeyUsage is {ku.KeyUsages}, without digitalSignature.", subject);
        }

        DateTimeOffset when = at ?? _options.VerificationTime ?? _time.GetUtcNow();
        MudSignatureResult? chain = CheckChain(cert, cms.Certificates, when, subject);
        if (chain is not null)
        {
            return chain;
        }

        if (deviceCertificate is not null && MudCertificateExtensions.HasMudSigner(deviceCertificate))
        {
            X500DistinguishedName? expected = MudCertificateExtensions.ReadMudSigner(deviceCertificate);
            if (expected is null)
            {
                return MudSignatureResult.Fail(MudSignatureFailure.MudSignerUnreadable, "The device certificate's id-pe-mudsigner extension cannot be decoded; failing closed.", subject);
            }

            if (!MudCertificateExtensions.SameName(expected, cert.SubjectName))
            {
                return MudSignatureResult.Fail(MudSignatureFailure.MudSignerMismatch, $"The device certificate's id-pe-mudsigner names '{expected.Name}', but the file was signed by '{subject}'.", subject);
            }
        }

        return new MudSignatureResult
        {
            Failure = MudSignatureFailure.None,
            Reason = $"Signed by '{subject}' ({(hasAttrs ? "with" : "without")} signed attributes), chained to a trust anchor at {when:O}.",
            Signer = subject,
            ContentType = cms.ContentInfo.ContentType.Value,
            HasSignedAttributes = hasAttrs,
        };
    }

    private static MudSignatureResult? CheckSignature(byte[] content, byte[] der, SignerInfo signer, bool hasAttrs, string subject)
    {
        if (hasAttrs)
        {
            Pkcs9MessageDigest? md = signer.SignedAttributes.Cast<CryptographicAttributeObject>()
                .SelectMany(a => a.Values.Cast<AsnEncodedData>())
                .OfType<Pkcs9MessageDigest>()
                .FirstOrDefault();
            if (md is null)
            {
                return MudSignatureResult.Fail(MudSignatureFailure.ContentDigestMismatch, "Signed attributes lack messageDigest.", subject);
            }

            HashAlgorithmName alg = HashFor(signer.DigestAlgorithm.Value);
            if (alg.Name is null)
            {
                return MudSignatureResult.Fail(MudSignatureFailure.Malformed, $"Unsupported digest algorithm {signer.DigestAlgorithm.Value}.", subject);
            }

            if (!CryptographicOperations.FixedTimeEquals(Digest(alg, content), md.MessageDigest))
            {
                return CryptographicOperations.FixedTimeEquals(Digest(alg, ToCrLf(content)), md.MessageDigest)
                    ? MudSignatureResult.Fail(MudSignatureFailure.TextModeSignature, "The file was signed in S/MIME text mode (LF to CRLF canonicalised); RFC 8520 requires a signature over the raw bytes.", subject)
                    : MudSignatureResult.Fail(MudSignatureFailure.ContentDigestMismatch, "The file's digest does not match the signed messageDigest: the content changed after signing.", subject);
            }
        }

        try
        {
            signer.CheckSignature(verifySignatureOnly: true);
            return null;
        }
        catch (CryptographicException ex)
        {
            if (!hasAttrs && VerifiesOver(ToCrLf(content), der))
            {
                return MudSignatureResult.Fail(MudSignatureFailure.TextModeSignature, "The file was signed in S/MIME text mode (LF to CRLF canonicalised); RFC 8520 requires a signature over the raw bytes.", subject);
            }

            return MudSignatureResult.Fail(MudSignatureFailure.SignatureMismatch, $"The signature does not verify over the file's raw bytes: {ex.Message}", subject);
        }
    }

    private static bool VerifiesOver(byte[] content, byte[] der)
    {
        try
        {
            SignedCms cms = Decode(content, der, out _);
            cms.SignerInfos[0].CheckSignature(verifySignatureOnly: true);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (NotDetachedException)
        {
            return false;
        }
    }

    private MudSignatureResult? CheckChain(X509Certificate2 cert, X509Certificate2Collection extra, DateTimeOffset when, string subject)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = when.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        foreach (X509Certificate2 anchor in _options.TrustAnchors)
        {
            chain.ChainPolicy.CustomTrustStore.Add(anchor);
        }

        foreach (X509Certificate2 c in extra)
        {
            chain.ChainPolicy.ExtraStore.Add(c);
        }

        if (chain.Build(cert))
        {
            return null;
        }

        X509ChainStatusFlags flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (f, s) => f | s.Status);
        string detail = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.UntrustedSigner, $"Signer '{subject}' does not chain to a configured trust anchor ({detail}).", subject);
        }

        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            return MudSignatureResult.Fail(MudSignatureFailure.CertificateNotTimeValid, $"A certificate in the chain of '{subject}' is not valid at {when:O} ({detail}).", subject);
        }

        return MudSignatureResult.Fail(MudSignatureFailure.ChainInvalid, $"The chain of '{subject}' is invalid: {flags} ({detail}).", subject);
    }

    private sealed class NotDetachedException : Exception
    {
    }

    private static SignedCms Decode(byte[] content, byte[] der, out string contentType)
    {
        var probe = new SignedCms(new ContentInfo(content), detached: true);
        probe.Decode(der);
        if (!probe.Detached)
        {
            throw new NotDetachedException();
        }

        contentType = ReadEContentType(der);
        if (contentType == IdData)
        {
            return probe;
        }

        var typed = new SignedCms(new ContentInfo(new Oid(contentType), content), detached: true);
        typed.Decode(der);
        return typed;
    }

    /// <summary>Reads encapContentInfo.eContentType from a DER ContentInfo(SignedData).</summary>
    private static string ReadEContentType(byte[] der)
    {
        try
        {
            var outer = new System.Formats.Asn1.AsnReader(der, System.Formats.Asn1.AsnEncodingRules.BER).ReadSequence();
            outer.ReadObjectIdentifier();
            var signedData = outer.ReadSequence(new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 0, true)).ReadSequence();
            signedData.ReadInteger();
            signedData.ReadSetOf();
            return signedData.ReadSequence().ReadObjectIdentifier();
        }
        catch (System.Formats.Asn1.AsnContentException ex)
        {
            throw new CryptographicException("The SignedData structure cannot be read.", ex);
        }
    }

    private static byte[] Unarmour(ReadOnlySpan<byte> signature)
    {
        if (signature.Length > 10 && signature[0] == (byte)'-')
        {
            string text = System.Text.Encoding.ASCII.GetString(signature);
            foreach (string label in (string[])["CMS", "PKCS7"])
            {
                if (PemEncoding.TryFind(text, out PemFields fields) && text[fields.Label].Equals(label, StringComparison.Ordinal))
                {
                    return Convert.FromBase64String(text[fields.Base64Data]);
                }
            }
        }

        return signature.ToArray();
    }

    private static HashAlgorithmName HashFor(string? oid) => oid switch
    {
        "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
        "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
        "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
        "1.3.14.3.2.26" => HashAlgorithmName.SHA1,
        _ => default,
    };

    private static byte[] Digest(HashAlgorithmName alg, byte[] data)
    {
        using var h = IncrementalHash.CreateHash(alg);
        h.AppendData(data);
        return h.GetHashAndReset();
    }

    private static byte[] ToCrLf(byte[] content)
    {
        var list = new List<byte>(content.Length + (content.Length / 20));
        for (int i = 0; i < content.Length; i++)
        {
            if (content[i] == (byte)'\n' && (i == 0 || content[i - 1] != (byte)'\r'))
            {
                list.Add((byte)'\r');
            }

            list.Add(content[i]);
        }

        return list.ToArray();
    }
}
