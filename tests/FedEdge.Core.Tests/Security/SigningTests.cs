using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Security;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Core.Tests.Security;

public sealed class SigningTests
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly X509Certificate2 Ca = FederationPki.CreateCertificateAuthority("signing tests", Start, TimeSpan.FromDays(3650));
    private static readonly X509Certificate2 DeviceA = FederationPki.IssueDevice(Ca, new DeviceCertificateRequest { DeviceId = "dev-a" }, Start);
    private static readonly X509Certificate2 DeviceB = FederationPki.IssueDevice(Ca, new DeviceCertificateRequest { DeviceId = "dev-b" }, Start);
    private static readonly X509Certificate2 Coordinator = FederationPki.IssueServer(Ca, "localhost", Start, TimeSpan.FromDays(30));

    private static ModelUpdate Update(float[] values, long round = 3, string nonce = "n-1", long samples = 10) => new()
    {
        SenderId = "dev-a",
        Round = round,
        Nonce = nonce,
        SampleCount = samples,
        Kind = UpdateKind.Delta,
        Values = new ParameterSet(new ParameterLayout(new TensorSpec("w", values.Length)), values),
    };

    private static ModelUpdate Sign(ModelUpdate update, X509Certificate2 cert)
    {
        using ECDsa key = cert.GetECDsaPrivateKey()!;
        return UpdateSigning.Sign(update, key);
    }

    private static Gen<float[]> Values() =>
        from n in Gen.Choose(1, 64)
        from v in Gen.ArrayOf(Gen.Choose(-100000, 100000).Select(i => i / 1000f), n)
        select v;

    [Property(MaxTest = 100)]
    public Property Digest_AnyUpdate_IsTheSha256OfTheCanonicalBytes() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Choose(0, 100000).ToArbitrary(), (values, round) =>
        {
            ModelUpdate update = Update(values, round, nonce: "n-" + round);
            return UpdateSigning.Digest(update).AsSpan().SequenceEqual(SHA256.HashData(UpdateSigning.CanonicalBytes(update)));
        });

    [Property(MaxTest = 100)]
    public Property SignThenVerify_AnyUpdate_Valid() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Choose(0, 100000).ToArbitrary(), (values, round) =>
            UpdateSigning.Verify(Sign(Update(values, round), DeviceA), DeviceA) == SignatureCheck.Valid);

    [Property(MaxTest = 100)]
    public Property AnySingleBitFlipInUpdateBytes_FailsVerification() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (values, pick) =>
        {
            ModelUpdate signed = Sign(Update(values), DeviceA);
            float[] flipped = (float[])values.Clone();
            int bit = pick % (values.Length * 32);
            int bits = BitConverter.SingleToInt32Bits(flipped[bit / 32]) ^ (1 << (bit % 32));
            flipped[bit / 32] = BitConverter.Int32BitsToSingle(bits);
            ModelUpdate tampered = signed with { Values = new ParameterSet(signed.Values.Layout, flipped) };
            return UpdateSigning.Verify(tampered, DeviceA) == SignatureCheck.Invalid;
        });

    [Property(MaxTest = 100)]
    public Property AnySingleBitFlipInSignature_FailsVerification() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Choose(0, 64 * 8 - 1).ToArbitrary(), (values, bit) =>
        {
            ModelUpdate signed = Sign(Update(values), DeviceA);
            byte[] signature = signed.Signature.ToArray();
            signature[bit / 8] ^= (byte)(1 << (bit % 8));
            return UpdateSigning.Verify(signed with { Signature = signature }, DeviceA) == SignatureCheck.Invalid;
        });

    [Fact]
    public void Verify_ValidSignatureOverDifferentBytes_Invalid()
    {
        ModelUpdate other = Sign(Update([1f, 2f, 3f]), DeviceA);
        ModelUpdate update = Update([1f, 2f, 4f]) with { Signature = other.Signature };
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(update, DeviceA));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(Sign(Update([1f]), DeviceA) with { Round = 4 }, DeviceA));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(Sign(Update([1f]), DeviceA) with { Nonce = "n-2" }, DeviceA));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(Sign(Update([1f]), DeviceA) with { SampleCount = 1000 }, DeviceA));
    }

    [Fact]
    public void Verify_SignedByAnotherDevice_Invalid_Unsigned_Missing()
    {
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(Sign(Update([1f, 2f]), DeviceB), DeviceA));
        Assert.Equal(SignatureCheck.Missing, UpdateSigning.Verify(Update([1f, 2f]), DeviceA));
    }

    private static GlobalModel Model(float[] values, long version)
    {
        var parameters = new ParameterSet(new ParameterLayout(new TensorSpec("w", values.Length)), values);
        return new GlobalModel { Version = version, Hash = parameters.ComputeHash(), Parameters = parameters };
    }

    [Fact]
    public void SignModel_VerifiedByTrustedCoordinator()
    {
        using ECDsa key = Coordinator.GetECDsaPrivateKey()!;
        GlobalModel signed = UpdateSigning.SignModel(Model([1f, 2f], 5), 5, key);
        Assert.Equal(SignatureCheck.Valid, UpdateSigning.VerifyModel(signed, Coordinator));
    }

    [Fact]
    public void VerifyModel_ForgedVersionUnsignedOrOtherSigner_Refused()
    {
        using ECDsa coordinatorKey = Coordinator.GetECDsaPrivateKey()!;
        using ECDsa deviceKey = DeviceA.GetECDsaPrivateKey()!;
        GlobalModel signed = UpdateSigning.SignModel(Model([1f, 2f], 5), 5, coordinatorKey);
        Assert.Equal(SignatureCheck.Missing, UpdateSigning.VerifyModel(Model([9f, 9f], 999999), Coordinator));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.VerifyModel(signed with { Version = 999999 }, Coordinator));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.VerifyModel(UpdateSigning.SignModel(Model([9f], 999999), 999999, deviceKey), Coordinator));
        GlobalModel swapped = signed with { Parameters = Model([9f, 9f], 5).Parameters };
        Assert.Equal(SignatureCheck.HashMismatch, UpdateSigning.VerifyModel(swapped, Coordinator));
        var garbage = new Dictionary<string, string>(signed.Metadata) { [UpdateSigning.ModelSignatureKey] = "not base64!" };
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.VerifyModel(signed with { Metadata = garbage }, Coordinator));
    }
}
