using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Security;

/// <summary>
/// The validator reuses an accepted chain per certificate thumbprint and role; these tests pin down that the reuse
/// never hides what changed since: a revocation, the end of the validity period, a new CRL, its nextUpdate, another
/// certificate with the same names.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CertificateValidatorCacheTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("cache federation", Start, TimeSpan.FromDays(3650));

    public void Dispose() => _ca.Dispose();

    private X509Certificate2 Device(string id, X509Certificate2? ca = null, TimeSpan? validity = null)
        => FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id, Validity = validity ?? TimeSpan.FromDays(365) }, Start);

    [Fact]
    public void Validate_SameCertificateAgain_ReusesTheChain()
    {
        using X509Certificate2 device = Device("cached-1");
        var validator = new CertificateValidator(_ca, FederationPki.CreateEmptyCrl(_ca, Start, TimeSpan.FromDays(7)), _clock);

        for (int i = 0; i < 3; i++)
        {
            CertificateValidation result = validator.Validate(device);
            Assert.True(result.IsValid, result.Reason);
            Assert.Equal("cached-1", result.DeviceId);
        }

        Assert.Equal(1, validator.ChainBuilds);

        // The role is part of the key: a device certificate is still refused as a server's.
        Assert.Equal(CertificateRefusal.WrongUsage, validator.Validate(device, CertificateRole.Server).Refusal);
        Assert.Equal(2, validator.ChainBuilds);
    }

    [Fact]
    public void Validate_CertificateRevokedAfterItsChainWasCached_RefusedAsRevoked()
    {
        using X509Certificate2 device = Device("revoked-later");
        using X509Certificate2 other = Device("still-good");
        byte[] crl = FederationPki.CreateEmptyCrl(_ca, Start, TimeSpan.FromDays(7));
        var validator = new CertificateValidator(_ca, crl, _clock);
        Assert.True(validator.Validate(device).IsValid);
        Assert.True(validator.Validate(other).IsValid);

        validator.ReloadCrl(FederationPki.Revoke(_ca, crl, device, Start, TimeSpan.FromDays(7)));

        CertificateValidation again = validator.Validate(device);
        Assert.Equal(CertificateRefusal.Revoked, again.Refusal);
        Assert.Contains("revoked", again.Reason, StringComparison.Ordinal);
        Assert.True(validator.Validate(other).IsValid);
        Assert.Equal(CertificateRefusal.Revoked, validator.ValidateClaim(device, "revoked-later").Refusal);
    }

    [Fact]
    public void Validate_CachedCertificateRevoked_RefusedOnEveryLaterCall()
    {
        using X509Certificate2 device = Device("revoked-twice");
        byte[] crl = FederationPki.CreateEmptyCrl(_ca, Start, TimeSpan.FromDays(7));
        var validator = new CertificateValidator(_ca, crl, _clock);
        Assert.True(validator.Validate(device).IsValid);
        validator.ReloadCrl(FederationPki.Revoke(_ca, crl, device, Start, TimeSpan.FromDays(7)));

        // Refusals are not remembered as acceptances: the revoked certificate stays refused however often it comes back.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(CertificateRefusal.Revoked, validator.Validate(device).Refusal);
        }
    }

    [Fact]
    public void Validate_CachedCertificateExpires_RefusedAsExpired()
    {
        using X509Certificate2 device = Device("short-lived", validity: TimeSpan.FromDays(2));
        var validator = new CertificateValidator(_ca, timeProvider: _clock);
        Assert.True(validator.Validate(device).IsValid);

        _clock.Advance(TimeSpan.FromDays(3));

        Assert.Equal(CertificateRefusal.Expired, validator.Validate(device).Refusal);
    }

    [Fact]
    public void Validate_ChainReuse_EndsAtTheCrlNextUpdateAndAtAReload()
    {
        using X509Certificate2 device = Device("refreshed");
        byte[] crl = FederationPki.CreateEmptyCrl(_ca, Start, TimeSpan.FromMinutes(10));
        var validator = new CertificateValidator(_ca, crl, _clock);
        Assert.True(validator.Validate(device).IsValid);
        Assert.True(validator.Validate(device).IsValid);
        Assert.Equal(1, validator.ChainBuilds);

        _clock.Advance(TimeSpan.FromMinutes(11));
        Assert.True(validator.Validate(device).IsValid);
        Assert.Equal(2, validator.ChainBuilds);

        validator.ReloadCrl(FederationPki.CreateEmptyCrl(_ca, _clock.GetUtcNow(), TimeSpan.FromDays(1)));
        Assert.True(validator.Validate(device).IsValid);
        Assert.Equal(3, validator.ChainBuilds);
    }

    [Fact]
    public void Validate_WithoutCrl_ReuseBoundedByChainCacheLifetime()
    {
        using X509Certificate2 device = Device("no-crl");
        var validator = new CertificateValidator(_ca, timeProvider: _clock);
        Assert.True(validator.Validate(device).IsValid);
        _clock.Advance(CertificateValidator.ChainCacheLifetime - TimeSpan.FromSeconds(1));
        Assert.True(validator.Validate(device).IsValid);
        Assert.Equal(1, validator.ChainBuilds);

        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(validator.Validate(device).IsValid);
        Assert.Equal(2, validator.ChainBuilds);
    }

    [Fact]
    public void Validate_ForeignCertificateWithTheSameNames_StillUntrusted()
    {
        using X509Certificate2 foreignCa = FederationPki.CreateCertificateAuthority("cache federation", Start, TimeSpan.FromDays(3650));
        using X509Certificate2 genuine = Device("twin");
        using X509Certificate2 forged = Device("twin", foreignCa);
        var validator = new CertificateValidator(_ca, timeProvider: _clock);
        Assert.True(validator.Validate(genuine).IsValid);

        Assert.Equal(CertificateRefusal.UntrustedIssuer, validator.Validate(forged).Refusal);
        Assert.Equal(CertificateRefusal.UntrustedIssuer, validator.Validate(forged).Refusal);
        Assert.True(validator.Validate(genuine).IsValid);
    }
}
