using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using FedEdge.Transparency;

namespace FedEdge.Core.Tests.Transparency;

public sealed class FileTransparencyLogTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly X509Certificate2 Ca = FederationPki.CreateCertificateAuthority("ledger tests", Start, TimeSpan.FromDays(3650));
    private static readonly X509Certificate2 OtherCa = FederationPki.CreateCertificateAuthority("another federation", Start, TimeSpan.FromDays(3650));
    private static readonly X509Certificate2 DeviceA = FederationPki.IssueDevice(Ca, new DeviceCertificateRequest { DeviceId = "dev-a" }, Start);
    private static readonly X509Certificate2 Stranger = FederationPki.IssueDevice(OtherCa, new DeviceCertificateRequest { DeviceId = "dev-a" }, Start);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-ledger-" + Guid.NewGuid().ToString("N"));
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public void Dispose()
    {
        _key.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task AppendAsync_ThreeRounds_VerifiesWithEveryProof()
    {
        var log = new FileTransparencyLog(_dir, _key, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Start));
        for (int round = 1; round <= 3; round++)
        {
            await log.AppendAsync([Signed(DeviceA, round), Refusal(round), RoundRecord(round)]);
        }

        LedgerVerification result = LedgerVerifier.Verify(_dir, new LedgerVerifyOptions { DeviceAuthority = Ca });
        Assert.True(result.IsValid, result.Problem);
        Assert.Equal(9, result.Entries);
        Assert.Equal(3, result.Heads);
        Assert.Equal(9, result.InclusionProofsChecked);
        Assert.Equal(2, result.ConsistencyProofsChecked);
        Assert.Equal(3, result.DeviceSignaturesChecked);
        Assert.Equal(3, result.CertificatesChecked);
        Assert.Equal(9, log.Head!.Size);
    }

    [Fact]
    public async Task Reopen_ExistingLog_ContinuesTheTree()
    {
        var first = new FileTransparencyLog(_dir, _key);
        await first.AppendAsync([RoundRecord(1)]);
        var second = new FileTransparencyLog(_dir, _key);
        Assert.Equal(1, second.Size);
        await second.AppendAsync([RoundRecord(2)]);
        Assert.True(LedgerVerifier.Verify(_dir).IsValid);
    }

    [Fact]
    public async Task Reopen_WithAnotherKey_Refused()
    {
        await new FileTransparencyLog(_dir, _key).AppendAsync([RoundRecord(1)]);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Throws<InvalidDataException>(() => new FileTransparencyLog(_dir, other));
    }

    [Fact]
    public async Task Verify_CertificateFromAnotherCa_NamesTheEntry()
    {
        await new FileTransparencyLog(_dir, _key).AppendAsync([RoundRecord(1), Signed(Stranger, 2)]);
        LedgerVerification result = LedgerVerifier.Verify(_dir, new LedgerVerifyOptions { DeviceAuthority = Ca });
        Assert.Equal(LedgerFailure.ForgedDeviceSignature, result.Failure);
        Assert.Equal(1, result.FirstBadEntry);
        Assert.True(LedgerVerifier.Verify(_dir).IsValid, "without a CA only the signature itself is checked");
    }

    [Fact]
    public async Task Verify_SignatureOverAnotherDigest_NamesTheEntry()
    {
        LedgerEntry forged = Signed(DeviceA, 1) with { Digest = Convert.ToHexStringLower(SHA256.HashData([1, 2, 3])) };
        await new FileTransparencyLog(_dir, _key).AppendAsync([RoundRecord(1), forged]);
        LedgerVerification result = LedgerVerifier.Verify(_dir, new LedgerVerifyOptions { DeviceAuthority = Ca });
        Assert.Equal(LedgerFailure.ForgedDeviceSignature, result.Failure);
        Assert.Equal(1, result.FirstBadEntry);
        Assert.Contains("dev-a", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_PinnedKeyOfAnotherLog_FailsOnTheFirstReceipt()
    {
        await new FileTransparencyLog(_dir, _key).AppendAsync([RoundRecord(1)]);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        LedgerVerification result = LedgerVerifier.Verify(_dir, new LedgerVerifyOptions { LogKeyPem = other.ExportSubjectPublicKeyInfoPem() });
        Assert.Equal(LedgerFailure.Rewritten, result.Failure);
        Assert.Equal(0, result.FirstBadEntry);
    }

    [Fact]
    public void Parse_GarbageLine_InvalidData()
    {
        Assert.Throws<InvalidDataException>(() => LedgerEntry.Parse("{\"index\":1}"u8));
        Assert.Throws<InvalidDataException>(() => LedgerEntry.Parse("[1,2"u8));
        Assert.Throws<InvalidDataException>(() => SignedTreeHead.Parse("{\"size\":1,\"root\":\"zz\"}"));
    }

    private static LedgerEntry Signed(X509Certificate2 device, long round)
    {
        byte[] digest = SHA256.HashData(BitConverter.GetBytes(round));
        using ECDsa key = device.GetECDsaPrivateKey()!;
        return new LedgerEntry
        {
            Kind = LedgerEntryKind.Update,
            Round = round,
            DeviceId = "dev-a",
            Digest = Convert.ToHexStringLower(digest),
            Signature = key.SignHash(digest, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
            Certificate = device.RawData,
            SampleCount = 100,
            Outcome = "accepted",
        };
    }

    private static LedgerEntry Refusal(long round) => new() { Kind = LedgerEntryKind.Refusal, Round = round, DeviceId = "dev-b", Reason = "late update" };

    private static LedgerEntry RoundRecord(long round) => new() { Kind = LedgerEntryKind.Round, Round = round, Strategy = "median", Participants = ["dev-a"], ModelHash = "abc", Completed = true };
}
