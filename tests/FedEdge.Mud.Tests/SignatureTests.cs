using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using FedEdge.Mud.Discovery;
using FedEdge.Mud.Signatures;

namespace FedEdge.Mud.Tests;

public class SignatureTests
{
    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < LoadCases().GetArrayLength(); i++)
        {
            data.Add(i);
        }

        return data;
    }

    private static JsonElement LoadCases()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Corpus.Signed, "expected.json")));
        return doc.RootElement.GetProperty("cases").Clone();
    }

    private static MudSignatureVerifier VerifierFor(string anchorFile)
        => new(new MudSignatureVerifierOptions().AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, anchorFile)));

    /// <summary>The distinct failure each negative case's reason text describes.</summary>
    private static MudSignatureFailure ExpectedFailure(string reason) => reason switch
    {
        _ when reason.Contains("messageDigest mismatch", StringComparison.Ordinal) => MudSignatureFailure.ContentDigestMismatch,
        _ when reason.Contains("signature mismatch", StringComparison.Ordinal) => MudSignatureFailure.SignatureMismatch,
        _ when reason.Contains("text mode", StringComparison.Ordinal) => MudSignatureFailure.TextModeSignature,
        _ when reason.Contains("no KeyUsage", StringComparison.Ordinal) => MudSignatureFailure.KeyUsageMissing,
        _ when reason.Contains("lacks digitalSignature", StringComparison.Ordinal) => MudSignatureFailure.KeyUsageLacksDigitalSignature,
        _ when reason.Contains("not to the configured trust anchor", StringComparison.Ordinal) => MudSignatureFailure.UntrustedSigner,
        _ when reason.Contains("id-pe-mudsigner", StringComparison.Ordinal) => MudSignatureFailure.MudSignerMismatch,
        _ => throw new InvalidOperationException("unmapped reason: " + reason),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Verify_ExpectedJsonCase_GivesExpectedOutcome(int index)
    {
        JsonElement c = LoadCases()[index];
        string content = c.GetProperty("content").GetString()!;
        string signature = c.GetProperty("signature").GetString()!;
        string anchor = c.GetProperty("trust_anchor").GetString()!;
        string expect = c.GetProperty("expect").GetString()!;
        string reason = c.GetProperty("reason").GetString()!;
        X509Certificate2? device = c.TryGetProperty("device_certificate", out JsonElement d)
            ? Corpus.LoadCertificate(Path.Combine(Corpus.Signed, d.GetString()!))
            : null;

        MudSignatureResult result = VerifierFor(anchor).Verify(
            File.ReadAllBytes(Path.Combine(Corpus.Signed, content)),
            File.ReadAllBytes(Path.Combine(Corpus.Signed, signature)),
            device);

        string label = $"{content} + {signature} / {anchor} / {device?.Subject}: {result.Failure} {result.Reason}";
        if (expect == "valid")
        {
            Assert.True(result.IsValid, label);
            Assert.Equal(MudSignatureFailure.None, result.Failure);
        }
        else
        {
            Assert.False(result.IsValid, label);
            Assert.Equal(ExpectedFailure(reason), result.Failure);
            Assert.False(string.IsNullOrWhiteSpace(result.Reason));
        }
    }

    [Fact]
    public void Verify_MudTypeContent_ReportsIdCtMudType()
    {
        MudSignatureResult result = VerifierFor("test-ca.cert.pem").Verify(
            File.ReadAllBytes(Path.Combine(Corpus.Signed, "ieft-draft.json")),
            File.ReadAllBytes(Path.Combine(Corpus.Signed, "ieft-draft.mudtype.p7s")));
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(MudSignatureVerifier.IdCtMudType, result.ContentType);
        Assert.True(result.HasSignedAttributes);
    }

    [Fact]
    public void Verify_RealCiscoLuminaire_ValidOnlyWhileItsCaWasValid()
    {
        byte[] content = File.ReadAllBytes(Corpus.PathOf("cisco-mud-manager", "Luminaire_150.json"));
        byte[] sig = File.ReadAllBytes(Corpus.PathOf("cisco-mud-manager", "Luminaire_150.p7s"));
        var verifier = new MudSignatureVerifier(new MudSignatureVerifierOptions().AddTrustAnchorsFromPem(Corpus.PathOf("cisco-mud-manager", "luminaire-cacert.pem")));

        MudSignatureResult in2019 = verifier.Verify(content, sig, at: new DateTimeOffset(2019, 1, 1, 0, 0, 0, TimeSpan.Zero));
        MudSignatureResult in2026 = verifier.Verify(content, sig, at: new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

        Assert.True(in2019.IsValid, in2019.Reason);
        Assert.Equal(MudSignatureFailure.CertificateNotTimeValid, in2026.Failure);
    }

    [Fact]
    public void Verify_VerificationTimeFromOptionsOrClock_IsUsed()
    {
        byte[] content = File.ReadAllBytes(Corpus.PathOf("cisco-mud-manager", "Luminaire_150.json"));
        byte[] sig = File.ReadAllBytes(Corpus.PathOf("cisco-mud-manager", "Luminaire_150.p7s"));
        var options = new MudSignatureVerifierOptions().AddTrustAnchorsFromPem(Corpus.PathOf("cisco-mud-manager", "luminaire-cacert.pem"));
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2018, 12, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.True(new MudSignatureVerifier(options, clock).Verify(content, sig).IsValid);
        clock.Advance(TimeSpan.FromDays(365));
        Assert.Equal(MudSignatureFailure.CertificateNotTimeValid, new MudSignatureVerifier(options, clock).Verify(content, sig).Failure);
        options.VerificationTime = new DateTimeOffset(2019, 2, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.True(new MudSignatureVerifier(options, clock).Verify(content, sig).IsValid);
    }

    [Fact]
    public void Verify_RealTextModePi4Signature_IsTextModeOrUntrusted()
    {
        byte[] content = File.ReadAllBytes(Corpus.PathOf("stef-a99-osmud", "pi4.json"));
        byte[] sig = File.ReadAllBytes(Corpus.PathOf("stef-a99-osmud", "pi4.p7s"));
        MudSignatureResult result = VerifierFor("test-ca.cert.pem").Verify(content, sig);
        Assert.Equal(MudSignatureFailure.TextModeSignature, result.Failure);
    }

    [Fact]
    public void Verify_RawRsaSignatureNotCms_IsMalformed()
    {
        byte[] content = File.ReadAllBytes(Corpus.PathOf("iith-iot-mud", "huebulb.json"));
        byte[] sig = File.ReadAllBytes(Corpus.PathOf("iith-iot-mud", "signhuebulb.json"));
        MudSignatureResult result = VerifierFor("test-ca.cert.pem").Verify(content, sig);
        Assert.Equal(MudSignatureFailure.Malformed, result.Failure);
    }

    [Fact]
    public void Verify_NoTrustAnchors_FailsClosed()
    {
        MudSignatureResult result = new MudSignatureVerifier(new MudSignatureVerifierOptions()).Verify(
            File.ReadAllBytes(Path.Combine(Corpus.Signed, "ieft-draft.json")),
            File.ReadAllBytes(Path.Combine(Corpus.Signed, "ieft-draft.p7s")));
        Assert.Equal(MudSignatureFailure.NoTrustAnchors, result.Failure);
    }

    [Fact]
    public void Verify_EmptyOrGarbageSignature_IsMalformed()
    {
        byte[] content = File.ReadAllBytes(Path.Combine(Corpus.Signed, "ieft-draft.json"));
        Assert.Equal(MudSignatureFailure.Malformed, VerifierFor("test-ca.cert.pem").Verify(content, []).Failure);
        Assert.Equal(MudSignatureFailure.Malformed, VerifierFor("test-ca.cert.pem").Verify(content, [0x30, 0x82, 0xFF, 0xFF, 1, 2, 3]).Failure);
    }

    [Fact]
    public void ReadMudExtensions_DeviceCertificate_ReturnsUrlAndSigner()
    {
        using X509Certificate2 device = Corpus.LoadCertificate(Path.Combine(Corpus.Signed, "device.cert.pem"));
        MudExtensionValue url = MudCertificateExtensions.ReadMudUrl(device)!;
        Assert.Equal("https://lighting.example.com/lightbulb2000", url.Value);
        Assert.Equal(MudEncodingQuality.Conformant, url.Quality);
        X500DistinguishedName signer = MudCertificateExtensions.ReadMudSigner(device)!;
        using X509Certificate2 mfr = Corpus.LoadCertificate(Path.Combine(Corpus.Signed, "mfr-signer.cert.pem"));
        Assert.True(MudCertificateExtensions.SameName(signer, mfr.SubjectName));
    }
}
