using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Security;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PkiTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("test federation", Start, TimeSpan.FromDays(3650));
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-pki-").FullName;

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private X509Certificate2 Device(string id, Uri? mud = null, X509Certificate2? ca = null, TimeSpan? validity = null)
        => FederationPki.IssueDevice(ca ?? _ca, new DeviceCertificateRequest { DeviceId = id, MudUrl = mud, Validity = validity ?? TimeSpan.FromDays(365) }, Start);

    [Fact]
    public void IssueDevice_ValidCertificate_ValidatesWithDeviceIdFromSan()
    {
        using X509Certificate2 device = Device("sensor-7");
        CertificateValidation result = new CertificateValidator(_ca, timeProvider: _clock).Validate(device);
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal("sensor-7", result.DeviceId);
        Assert.Equal("sensor-7", FederationPki.ReadDeviceId(device));
        Assert.Contains("CN=sensor-7", device.Subject, StringComparison.Ordinal);
    }

    [Fact]
    public void IssueDevice_WithMudUrlAndSigner_WritesRfc8520Extensions()
    {
        var signer = new X500DistinguishedName("CN=Manufacturer MUD signer, O=Acme");
        using X509Certificate2 device = FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = "cam-1", MudUrl = new Uri("https://mud.example.com/cam.json"), MudSigner = signer }, Start);
        X509Extension mud = device.Extensions[FederationPki.MudUrlOid]!;
        Assert.False(mud.Critical);
        var reader = new System.Formats.Asn1.AsnReader(mud.RawData, System.Formats.Asn1.AsnEncodingRules.DER);
        Assert.Equal("https://mud.example.com/cam.json", reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String));
        Assert.Equal(signer.RawData, device.Extensions[FederationPki.MudSignerOid]!.RawData);
    }

    [Fact]
    public void IssueDevice_HttpMudUrl_Refused()
        => Assert.Throws<ArgumentException>(() => Device("d", new Uri("http://mud.example.com/x.json")));

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("dev#1")]
    [InlineData("dev\n1")]
    public void IssueDevice_BadDeviceId_Refused(string id) => Assert.Throws<ArgumentException>(() => Device(id));

    [Fact]
    public void Validate_OtherCa_RefusedAsUntrustedIssuer()
    {
        using X509Certificate2 other = FederationPki.CreateCertificateAuthority("test federation", Start, TimeSpan.FromDays(3650));
        using X509Certificate2 device = Device("dev-1", ca: other);
        CertificateValidation result = new CertificateValidator(_ca, timeProvider: _clock).Validate(device);
        Assert.Equal(CertificateRefusal.UntrustedIssuer, result.Refusal);
    }

    [Fact]
    public void Validate_ForeignCertificateWithLineBreaksInItsNames_ReasonStaysOneLineAndBounded()
    {
        // The refusal reason reaches logs and the edge's stdout, which simulate parses line by line.
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName("evil\nedge round 9 completed=True participants=2" + new string('x', 1000));
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 forged = new CertificateRequest(name.Build(), key, HashAlgorithmName.SHA256).CreateSelfSigned(Start.AddDays(-1), Start.AddDays(1));
        CertificateValidation result = new CertificateValidator(_ca, timeProvider: _clock).Validate(forged);
        Assert.Equal(CertificateRefusal.UntrustedIssuer, result.Refusal);
        Assert.DoesNotContain('\n', result.Reason);
        Assert.Contains("evil?edge round 9", result.Reason, StringComparison.Ordinal);
        Assert.True(result.Reason!.Length < 700, result.Reason);
    }

    [Fact]
    public void Validate_AfterNotAfter_RefusedAsExpired()
    {
        using X509Certificate2 device = Device("dev-1", validity: TimeSpan.FromDays(1));
        _clock.Advance(TimeSpan.FromDays(2));
        Assert.Equal(CertificateRefusal.Expired, new CertificateValidator(_ca, timeProvider: _clock).Validate(device).Refusal);
    }

    [Fact]
    public void Validate_BeforeNotBefore_RefusedAsNotYetValid()
    {
        var early = new FakeTimeProvider(Start.AddDays(-1));
        using X509Certificate2 device = Device("dev-1");
        Assert.Equal(CertificateRefusal.NotYetValid, new CertificateValidator(_ca, timeProvider: early).Validate(device).Refusal);
    }

    [Fact]
    public void Revoke_ThenValidate_RefusedAsRevoked_OthersStillValid()
    {
        using X509Certificate2 a = Device("dev-a");
        using X509Certificate2 b = Device("dev-b");
        using X509Certificate2 c = Device("dev-c");
        byte[] crl = FederationPki.Revoke(_ca, [], a, Start, TimeSpan.FromDays(30));
        crl = FederationPki.Revoke(_ca, crl, c, Start, TimeSpan.FromDays(30));
        var validator = new CertificateValidator(_ca, crl, _clock);
        Assert.Equal(2, validator.RevokedCount);
        Assert.Equal(CertificateRefusal.Revoked, validator.Validate(a).Refusal);
        Assert.Equal(CertificateRefusal.Revoked, validator.Validate(c).Refusal);
        Assert.True(validator.Validate(b).IsValid);
    }

    [Fact]
    public void Validator_CrlFromAnotherCa_Refused()
    {
        using X509Certificate2 other = FederationPki.CreateCertificateAuthority("other", Start, TimeSpan.FromDays(30));
        byte[] crl = FederationPki.CreateEmptyCrl(other, Start, TimeSpan.FromDays(1));
        Assert.Throws<CredentialException>(() => new CertificateValidator(_ca, crl, _clock));
    }

    [Fact]
    public void Validator_TamperedCrl_Refused()
    {
        using X509Certificate2 a = Device("dev-a");
        byte[] crl = FederationPki.Revoke(_ca, [], a, Start, TimeSpan.FromDays(30));
        crl[^70] ^= 0x01;
        Assert.Throws<CredentialException>(() => new CertificateValidator(_ca, crl, _clock));
    }

    [Fact]
    public void ValidateClaim_AnotherDevicesId_RefusedAsIdentityMismatch()
    {
        using X509Certificate2 a = Device("dev-a");
        CertificateValidation result = new CertificateValidator(_ca, timeProvider: _clock).ValidateClaim(a, "dev-b");
        Assert.Equal(CertificateRefusal.IdentityMismatch, result.Refusal);
        Assert.Equal("dev-a", result.DeviceId);
    }

    [Fact]
    public void Validate_ServerCertificateAsDevice_NoDeviceId_AndDeviceAsServer_WrongUsage()
    {
        using X509Certificate2 server = FederationPki.IssueServer(_ca, "localhost", Start, TimeSpan.FromDays(30));
        using X509Certificate2 device = Device("dev-a");
        var validator = new CertificateValidator(_ca, timeProvider: _clock);
        Assert.True(validator.Validate(server, CertificateRole.Server).IsValid);
        Assert.Equal(CertificateRefusal.NoDeviceId, validator.Validate(server, CertificateRole.Device).Refusal);
        Assert.Equal(CertificateRefusal.WrongUsage, validator.Validate(device, CertificateRole.Server).Refusal);
        Assert.Equal(CertificateRefusal.Missing, validator.Validate(null).Refusal);
    }

    [Fact]
    public void KeyFiles_WrittenOwnerOnly_RoundTrip()
    {
        using X509Certificate2 device = Device("dev-a");
        string key = Path.Combine(_dir, "dev-a.key");
        string cert = Path.Combine(_dir, "dev-a.crt");
        using (ECDsa k = device.GetECDsaPrivateKey()!)
        {
            KeyFiles.WritePrivateKey(key, k);
        }

        KeyFiles.WriteCertificate(cert, device);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        using X509Certificate2 loaded = KeyFiles.ReadCertificateWithKey(cert, key);
        Assert.True(loaded.HasPrivateKey);
        Assert.Equal(device.Thumbprint, loaded.Thumbprint);
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.OtherRead)]
    [InlineData(UnixFileMode.OtherWrite)]
    public void ReadPrivateKey_ReadableByOthers_RefusedWithTypedError(UnixFileMode extra)
    {
        using X509Certificate2 device = Device("dev-a");
        string key = Path.Combine(_dir, "k.key");
        using (ECDsa k = device.GetECDsaPrivateKey()!)
        {
            KeyFiles.WritePrivateKey(key, k);
        }

        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);
        KeyFilePermissionException ex = Assert.Throws<KeyFilePermissionException>(() => KeyFiles.ReadPrivateKey(key));
        Assert.Contains("chmod 600", ex.Message, StringComparison.Ordinal);
        Assert.Equal(key, ex.Path);
    }

    [Fact]
    public void ReadCertificateWithKey_KeyOfAnotherCertificate_Refused()
    {
        using X509Certificate2 a = Device("dev-a");
        using X509Certificate2 b = Device("dev-b");
        string key = Path.Combine(_dir, "b.key");
        string cert = Path.Combine(_dir, "a.crt");
        using (ECDsa k = b.GetECDsaPrivateKey()!)
        {
            KeyFiles.WritePrivateKey(key, k);
        }

        KeyFiles.WriteCertificate(cert, a);
        Assert.Throws<CredentialException>(() => KeyFiles.ReadCertificateWithKey(cert, key));
    }
}
