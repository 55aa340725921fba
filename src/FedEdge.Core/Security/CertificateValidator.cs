using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedEdge.Security;

/// <summary>Why a certificate was refused.</summary>
public enum CertificateRefusal
{
    /// <summary>Not refused.</summary>
    None = 0,

    /// <summary>No certificate was presented.</summary>
    Missing,

    /// <summary>The certificate does not chain to the federation CA (issued by another CA, or its signature is wrong).</summary>
    UntrustedIssuer,

    /// <summary>The certificate's validity period has ended.</summary>
    Expired,

    /// <summary>The certificate's validity period has not begun.</summary>
    NotYetValid,

    /// <summary>The federation CA's CRL lists the certificate.</summary>
    Revoked,

    /// <summary>The certificate is not for this use (for example a device certificate presented as a server's).</summary>
    WrongUsage,

    /// <summary>A device certificate without a device id in its subject alternative name.</summary>
    NoDeviceId,

    /// <summary>The identity the peer claimed differs from the one its certificate proves.</summary>
    IdentityMismatch,

    /// <summary>The certificate is malformed or failed another chain check.</summary>
    Invalid,
}

/// <summary>Which role a certificate is checked for.</summary>
public enum CertificateRole
{
    /// <summary>A device (TLS client): client authentication, a device id in the SAN.</summary>
    Device,

    /// <summary>A coordinator or edge (TLS server): server authentication.</summary>
    Server,
}

/// <summary>The outcome of checking a certificate against the federation CA.</summary>
/// <param name="Refusal">Why it was refused, or <see cref="CertificateRefusal.None"/>.</param>
/// <param name="Reason">A sentence for logs and for the refused party.</param>
/// <param name="DeviceId">The device id the certificate proves (device role, when valid).</param>
public sealed record CertificateValidation(CertificateRefusal Refusal, string Reason, string? DeviceId = null)
{
    /// <summary>True when the certificate was accepted.</summary>
    public bool IsValid => Refusal == CertificateRefusal.None;
}

/// <summary>
/// The one X.509 validator every transport shares: the certificate must chain to the federation CA, be within its
/// validity period (by the injected <see cref="TimeProvider"/>), not be on the CA's CRL, and suit its role. The CRL's
/// own signature is checked against the CA when the validator is created.
/// </summary>
/// <remarks>
/// Building an X.509 chain is the expensive part (a TLS handshake, a join). A certificate whose chain was built and
/// accepted is remembered by its SHA-256 thumbprint and role until the CRL's nextUpdate (at most
/// <see cref="ChainCacheLifetime"/>), the end of the certificate's or the CA's validity, or the next
/// <see cref="ReloadCrl"/>, whichever comes first. Every check that can change without a new chain is still made on each
/// call: the validity period against the current time and the serial number against the current CRL (a set lookup).
/// Refusals are not remembered.
/// </remarks>
public sealed class CertificateValidator
{
    /// <summary>The longest a built chain is reused when no CRL (or one without nextUpdate) bounds it.</summary>
    public static readonly TimeSpan ChainCacheLifetime = TimeSpan.FromHours(1);

    // Bounded: a device population is finite, but a stream of certificates must not grow the process without limit.
    private const int ChainCacheCapacity = 16_384;

    private volatile HashSet<BigInteger> _revoked = [];
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Thumbprint, CertificateRole Role), AcceptedChain> _accepted = new();
    private long _chainBuilds;

    /// <summary>Creates a validator for <paramref name="authority"/> with an optional DER or PEM CRL.</summary>
    /// <exception cref="CredentialException">The CRL is unreadable or not signed by <paramref name="authority"/>.</exception>
    public CertificateValidator(X509Certificate2 authority, ReadOnlyMemory<byte> crl = default, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(authority);
        Authority = authority;
        _time = timeProvider ?? TimeProvider.System;
        if (!crl.IsEmpty)
        {
            (_revoked, CrlNextUpdate) = LoadCrl(crl.Span);
        }
    }

    /// <summary>The federation CA.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>How many serial numbers the CRL revokes.</summary>
    public int RevokedCount => _revoked.Count;

    /// <summary>The time the CRL expires (its nextUpdate), when a CRL was given.</summary>
    public DateTimeOffset? CrlNextUpdate { get; private set; }

    /// <summary>
    /// Replaces the CRL without a restart (e.g. after <c>fededge pki revoke</c> rewrote it): the new list is checked
    /// (signed by the federation CA) before it replaces the old one, atomically; a bad CRL leaves the old one in force.
    /// </summary>
    /// <exception cref="CredentialException">The CRL is unreadable or not signed by the federation CA.</exception>
    public void ReloadCrl(ReadOnlyMemory<byte> crl)
    {
        (HashSet<BigInteger> revoked, DateTimeOffset? nextUpdate) = LoadCrl(crl.Span);
        CrlNextUpdate = nextUpdate;
        _revoked = revoked;

        // Chains accepted under the old CRL are built again: the new list (and its nextUpdate) governs from now on.
        _accepted.Clear();
        CrlReloaded?.Invoke(this, EventArgs.Empty);
    }

    /// <summary>
    /// Raised after <see cref="ReloadCrl"/> put a new CRL in force, on the reloading thread: transports use it to drop
    /// the connections whose certificates are now revoked (<see cref="IsRevoked"/>). Handlers must return quickly.
    /// </summary>
    public event EventHandler? CrlReloaded;

    /// <summary>True when the current CRL lists <paramref name="certificate"/> (a cheap check for connections verified earlier).</summary>
    public bool IsRevoked(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return _revoked.Contains(Serial(certificate.SerialNumberBytes.Span));
    }

    /// <summary>A name from a presented certificate as it may appear in a reason: control characters as '?', at most 256 characters.</summary>
    private static string Printable(string name)
    {
        string shown = string.Create(Math.Min(name.Length, 256), name, static (span, source) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
        return shown.Length < name.Length ? shown + "…" : shown;
    }

    /// <summary>Creates a validator from a CA certificate file and an optional CRL file (DER or PEM).</summary>
    public static CertificateValidator FromFiles(string authorityPath, string? crlPath = null, TimeProvider? timeProvider = null)
    {
        X509Certificate2 authority = KeyFiles.ReadCertificate(authorityPath);
        byte[] crl = [];
        if (!string.IsNullOrWhiteSpace(crlPath))
        {
            if (!File.Exists(crlPath))
            {
                throw new CredentialException($"The CRL file '{crlPath}' was not found.");
            }

            crl = File.ReadAllBytes(crlPath);
        }

        return new CertificateValidator(authority, crl, timeProvider);
    }

    /// <summary>How many X.509 chains this validator has built (calls that found no accepted chain to reuse).</summary>
    public long ChainBuilds => Interlocked.Read(ref _chainBuilds);

    /// <summary>Checks <paramref name="certificate"/> for <paramref name="role"/>.</summary>
    public CertificateValidation Validate(X509Certificate2? certificate, CertificateRole role = CertificateRole.Device)
    {
        if (certificate is null)
        {
            return new(CertificateRefusal.Missing, "no client certificate was presented");
        }

        var key = (Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)), role);
        DateTimeOffset checkedAt = _time.GetUtcNow();
        if (_accepted.TryGetValue(key, out AcceptedChain? accepted))
        {
            if (checkedAt >= accepted.ValidFrom && checkedAt < accepted.Until)
            {
                return Recheck(certificate, accepted, checkedAt);
            }

            _accepted.TryRemove(key, out _);
        }

        CertificateValidation result = Build(certificate, role);
        if (result.IsValid)
        {
            Remember(key, certificate, result, checkedAt);
        }

        return result;
    }

    /// <summary>The checks a reused chain still needs: the validity period now and the CRL now.</summary>
    private CertificateValidation Recheck(X509Certificate2 certificate, AcceptedChain accepted, DateTimeOffset now)
    {
        if (now > accepted.NotAfter || now < accepted.NotBefore)
        {
            string subject = Printable(certificate.Subject);
            return now > accepted.NotAfter
                ? new(CertificateRefusal.Expired, $"certificate '{subject}' expired at {certificate.NotAfter.ToUniversalTime():O}")
                : new(CertificateRefusal.NotYetValid, $"certificate '{subject}' is not valid before {certificate.NotBefore.ToUniversalTime():O}");
        }

        if (_revoked.Contains(accepted.Serial))
        {
            return new(CertificateRefusal.Revoked, $"certificate '{Printable(certificate.Subject)}' (serial {certificate.SerialNumber}) is revoked by the federation CRL");
        }

        return accepted.Result;
    }

    private void Remember((string Thumbprint, CertificateRole Role) key, X509Certificate2 certificate, CertificateValidation result, DateTimeOffset checkedAt)
    {
        DateTimeOffset notAfter = certificate.NotAfter.ToUniversalTime();
        DateTimeOffset notBefore = certificate.NotBefore.ToUniversalTime();

        // The chain holds while the CA is valid and until the CRL it was checked under is due to be replaced.
        DateTimeOffset until = Min(Min(checkedAt + ChainCacheLifetime, CrlNextUpdate ?? DateTimeOffset.MaxValue), Authority.NotAfter.ToUniversalTime());
        DateTimeOffset validFrom = Max(checkedAt, Authority.NotBefore.ToUniversalTime());
        if (until <= checkedAt)
        {
            return;
        }

        if (_accepted.Count >= ChainCacheCapacity)
        {
            _accepted.Clear();
        }

        _accepted[key] = new AcceptedChain(result, Serial(certificate.SerialNumberBytes.Span), notBefore, notAfter, validFrom, until);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>A chain that was built and accepted: what a later call with the same certificate and role may reuse.</summary>
    private sealed record AcceptedChain(CertificateValidation Result, BigInteger Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter, DateTimeOffset ValidFrom, DateTimeOffset Until);

    private CertificateValidation Build(X509Certificate2 certificate, CertificateRole role)
    {
        Interlocked.Increment(ref _chainBuilds);

        // The presented certificate's names are the client's words: quoted printable and bounded, never a new log line.
        string subject = Printable(certificate.Subject);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(role == CertificateRole.Device ? FederationPki.ClientAuthOid : FederationPki.ServerAuthOid));
        bool built;
        try
        {
            built = chain.Build(certificate);
        }
        catch (CryptographicException ex)
        {
            return new(CertificateRefusal.Invalid, $"certificate '{subject}' could not be checked: {ex.Message}");
        }

        X509ChainStatusFlags flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        bool rootIsAuthority = chain.ChainElements.Count >= 2 && chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(Authority.RawData);
        if (!rootIsAuthority || (flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.NotSignatureValid)) != 0)
        {
            return new(CertificateRefusal.UntrustedIssuer, $"certificate '{subject}' (issuer '{Printable(certificate.Issuer)}') does not chain to the federation CA '{Authority.Subject}'");
        }

        DateTimeOffset now = _time.GetUtcNow();
        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0 || now > certificate.NotAfter.ToUniversalTime() || now < certificate.NotBefore.ToUniversalTime())
        {
            return now > certificate.NotAfter.ToUniversalTime()
                ? new(CertificateRefusal.Expired, $"certificate '{subject}' expired at {certificate.NotAfter.ToUniversalTime():O}")
                : new(CertificateRefusal.NotYetValid, $"certificate '{subject}' is not valid before {certificate.NotBefore.ToUniversalTime():O}");
        }

        if (_revoked.Contains(Serial(certificate.SerialNumberBytes.Span)))
        {
            return new(CertificateRefusal.Revoked, $"certificate '{subject}' (serial {certificate.SerialNumber}) is revoked by the federation CRL");
        }

        if ((flags & X509ChainStatusFlags.NotValidForUsage) != 0)
        {
            return new(CertificateRefusal.WrongUsage, $"certificate '{subject}' is not for {(role == CertificateRole.Device ? "client" : "server")} authentication");
        }

        if (!built || flags != X509ChainStatusFlags.NoError)
        {
            return new(CertificateRefusal.Invalid, $"certificate '{subject}' failed the chain checks: {flags}");
        }

        if (role == CertificateRole.Server)
        {
            return new(CertificateRefusal.None, "valid");
        }

        string? deviceId = FederationPki.ReadDeviceId(certificate);
        return deviceId is null
            ? new(CertificateRefusal.NoDeviceId, $"certificate '{subject}' names no device (no {FederationPki.DeviceUriPrefix}ID subject alternative name)")
            : new(CertificateRefusal.None, "valid", deviceId);
    }

    /// <summary>Checks a device certificate and that it proves <paramref name="claimedId"/>.</summary>
    public CertificateValidation ValidateClaim(X509Certificate2? certificate, string? claimedId)
    {
        CertificateValidation result = Validate(certificate, CertificateRole.Device);
        if (result.IsValid && !string.Equals(result.DeviceId, claimedId, StringComparison.Ordinal))
        {
            return new(CertificateRefusal.IdentityMismatch, $"the sender claimed to be '{claimedId}' but its certificate is device '{result.DeviceId}'", result.DeviceId);
        }

        return result;
    }

    private static BigInteger Serial(ReadOnlySpan<byte> bigEndian) => new(bigEndian, isUnsigned: true, isBigEndian: true);

    private (HashSet<BigInteger> Revoked, DateTimeOffset? NextUpdate) LoadCrl(ReadOnlySpan<byte> crl)
    {
        var revoked = new HashSet<BigInteger>();
        DateTimeOffset? nextUpdate = null;
        byte[] der = Pem(crl);
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            ReadOnlyMemory<byte> tbs = outer.ReadEncodedValue();
            outer.ReadSequence();
            byte[] signature = outer.ReadBitString(out _);
            using ECDsa? key = Authority.GetECDsaPublicKey();
            if (key is null || !key.VerifyData(tbs.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
            {
                throw new CredentialException($"The CRL is not signed by the federation CA '{Authority.Subject}'.");
            }

            var list = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
            if (list.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                list.ReadInteger();
            }

            list.ReadSequence();
            ReadOnlyMemory<byte> issuer = list.ReadEncodedValue();
            if (!issuer.Span.SequenceEqual(Authority.SubjectName.RawData))
            {
                throw new CredentialException($"The CRL's issuer is not the federation CA '{Authority.Subject}'.");
            }

            ReadTime(list);
            if (list.HasData && IsTime(list.PeekTag()))
            {
                nextUpdate = ReadTime(list);
            }

            if (list.HasData && list.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                AsnReader entries = list.ReadSequence();
                while (entries.HasData)
                {
                    AsnReader entry = entries.ReadSequence();
                    revoked.Add(Serial(entry.ReadIntegerBytes().Span.TrimStart((byte)0)));
                }
            }

            return (revoked, nextUpdate);
        }
        catch (AsnContentException ex)
        {
            throw new CredentialException($"The CRL is not a readable X.509 CRL: {ex.Message}", ex);
        }
    }

    private static bool IsTime(Asn1Tag tag) => tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader)
        => reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

    private static byte[] Pem(ReadOnlySpan<byte> data)
    {
        string text = System.Text.Encoding.ASCII.GetString(data);
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            return data.ToArray();
        }

        if (!PemEncoding.TryFind(text, out PemFields fields))
        {
            throw new CredentialException("The CRL file holds no PEM block.");
        }

        return Convert.FromBase64String(text[fields.Base64Data]);
    }
}
