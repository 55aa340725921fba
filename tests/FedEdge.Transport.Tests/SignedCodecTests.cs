using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Updates encoded by a codec are signed over the encoded bytes: what the device sent verifies after the wire, any
/// single-bit change of those bytes does not; the worker's encoder keeps top-k's error feedback between consecutive
/// rounds only; decoders refuse hostile bytes with typed errors.
/// </summary>
public sealed class SignedCodecTests
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly X509Certificate2 Ca = FederationPki.CreateCertificateAuthority("signed codec tests", Start, TimeSpan.FromDays(3650));
    private static readonly X509Certificate2 Device = FederationPki.IssueDevice(Ca, new DeviceCertificateRequest { DeviceId = "dev-a" }, Start);
    private static readonly string[] Specs = ["f16", "int8", "topk:0.1"];

    private static RoundTask Task(long round, string? codec) => new()
    {
        Round = round,
        Nonce = "n-" + round,
        GlobalParameters = new ParameterSet(new ParameterLayout(new TensorSpec("w", 1))),
        HyperParameters = new TrainingHyperParameters(),
        Deadline = Start,
        UpdateCodec = codec,
    };

    private static ModelUpdate Delta(float[] values, long round = 3) => new()
    {
        SenderId = "dev-a",
        Round = round,
        Nonce = "n-" + round,
        SampleCount = 10,
        Kind = UpdateKind.Delta,
        Values = new ParameterSet(new ParameterLayout(new TensorSpec("w", values.Length)), values),
    };

    private static ModelUpdate EncodeAndSign(float[] values, string codec)
    {
        ModelUpdate encoded = new WorkerUpdateEncoder(ParameterCodecs.Float32).Encode(Delta(values), Task(3, codec));
        using ECDsa key = Device.GetECDsaPrivateKey()!;
        return UpdateSigning.Sign(encoded, key);
    }

    private static Gen<float[]> Values() =>
        from n in Gen.Choose(1, 64)
        from v in Gen.ArrayOf(Gen.Choose(-100000, 100000).Select(i => i / 1000f), n)
        select v;

    [Property(MaxTest = 150)]
    public Property AnySingleBitFlipInEncodedBytes_FailsVerification() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Elements(Specs).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (values, codec, pick) =>
        {
            ModelUpdate signed = EncodeAndSign(values, codec);
            byte[] bytes = signed.Encoded!.Data.ToArray();
            int bit = pick % (bytes.Length * 8);
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            ModelUpdate tampered = signed with { Encoded = signed.Encoded with { Data = bytes } };
            return UpdateSigning.Verify(signed, Device) == SignatureCheck.Valid && UpdateSigning.Verify(tampered, Device) == SignatureCheck.Invalid;
        });

    [Property(MaxTest = 60)]
    public Property SignedEncodedUpdate_VerifiesAfterTheWire_WithTheValuesItsBytesDecodeTo() =>
        Prop.ForAll(Values().ToArbitrary(), Gen.Elements(Specs).ToArbitrary(), (values, codec) =>
        {
            ModelUpdate signed = EncodeAndSign(values, codec);
            byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = "m-1", Body = signed }, ParameterCodecs.Float32);
            var received = (ModelUpdate)WireSerializer.Deserialize(envelope).Body;
            return UpdateSigning.Verify(received, Device) == SignatureCheck.Valid
                && received.Encoded!.Codec == signed.Encoded!.Codec
                && received.Values.Values.SequenceEqual(signed.Values.Values);
        });

    [Fact]
    public void SignedEncodedUpdate_ClaimingAnotherCodec_FailsVerification()
    {
        ModelUpdate signed = EncodeAndSign([1f, 2f, 3f, 4f], "f16");
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(signed with { Encoded = signed.Encoded! with { Codec = "sparse-f16" } }, Device));
        Assert.Equal(SignatureCheck.Invalid, UpdateSigning.Verify(signed with { Encoded = null }, Device));
    }

    [Fact]
    public void Float32_KeepsTheV1Signature_SoOldCoordinatorsStillVerify()
    {
        ModelUpdate plain = Delta([1f, -2f, 3.5f]);
        ModelUpdate encoded = new WorkerUpdateEncoder(ParameterCodecs.Float32).Encode(plain, Task(3, "f32"));
        Assert.Equal("f32", encoded.Encoded!.Codec);
        Assert.Equal(UpdateSigning.Digest(plain), UpdateSigning.Digest(encoded));

        // A float32 update arrives without Encoded (its bytes are the values): the worker's signature still verifies.
        using ECDsa key = Device.GetECDsaPrivateKey()!;
        byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = "m-1", Body = UpdateSigning.Sign(encoded, key) });
        var received = (ModelUpdate)WireSerializer.Deserialize(envelope).Body;
        Assert.Null(received.Encoded);
        Assert.Equal(SignatureCheck.Valid, UpdateSigning.Verify(received, Device));
    }

    [Fact]
    public void TaskWithoutCodec_UsesTheTransportsConfiguredCodec()
    {
        ModelUpdate encoded = new WorkerUpdateEncoder(ParameterCodecs.Float16).Encode(Delta([1f, 2f]), Task(1, null));
        Assert.Equal("f16", encoded.Encoded!.Codec);
        Assert.Equal(4, encoded.Encoded.Data.Length);
    }

    [Fact]
    public void TopK_CarriesItsResidualToTheNextRound_AndDropsItWhenTheRoundsJump()
    {
        var encoder = new WorkerUpdateEncoder(ParameterCodecs.Float32);

        // Round 1 sends the largest of four values (k = 1) and keeps 3, 2 and 1 as its residual.
        ModelUpdate first = encoder.Encode(Delta([4f, 3f, 2f, 1f], 1), Task(1, "topk:0.25"));
        Assert.Equal([4f, 0f, 0f, 0f], first.Values.Values.ToArray());

        // Round 2 adds the residual: 3 + 0.5 beats the new 1.
        ModelUpdate second = encoder.Encode(Delta([0f, 0.5f, 0f, 1f], 2), Task(2, "topk:0.25"));
        Assert.Equal([0f, 3.5f, 0f, 0f], second.Values.Values.ToArray());

        // Round 4 follows a round this worker missed: the residual is stale and dropped.
        ModelUpdate fourth = encoder.Encode(Delta([0f, 0f, 0f, 1f], 4), Task(4, "topk:0.25"));
        Assert.Equal([0f, 0f, 0f, 1f], fourth.Values.Values.ToArray());
    }

    [Fact]
    public void TopK_OnFullParameters_IsRefused()
    {
        ModelUpdate parameters = Delta([1f, 2f]) with { Kind = UpdateKind.Parameters };
        Assert.Throws<ParameterCodecException>(() => new WorkerUpdateEncoder(ParameterCodecs.Float32).Encode(parameters, Task(1, "topk:0.5")));
    }

    [Fact]
    public void TopK_FewBytesClaimingAHugeLayout_AreRefused()
    {
        var huge = new ParameterLayout(new TensorSpec("w", 50_000, 1_000));
        byte[] data = new byte[4 + 8];
        BinaryPrimitives.WriteInt32LittleEndian(data, 1);
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.TopK, huge, data));
    }

    [Fact]
    public void TopK_WithinItsExpansionBound_ButBeyondTheDecodeLimit_IsRefusedBeforeAllocating()
    {
        // 2^29 values with one kept in 10,000 passes top-k's own expansion rule (about 430 KB of data would claim 2 GB).
        var huge = new ParameterLayout(new TensorSpec("w", 1 << 15, 1 << 14));
        int kept = (int)((huge.TotalLength / 10_000) + 1);
        byte[] data = new byte[4 + (8L * kept)];
        BinaryPrimitives.WriteInt32LittleEndian(data, kept);
        WireFormatException refused = Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.TopK, huge, data));
        Assert.Contains($"at most {ParameterCodecs.MaxDecodedValues}", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TopK_NonFiniteValue_IsRefused()
    {
        var layout = new ParameterLayout(new TensorSpec("w", 4));
        byte[] data = new byte[4 + 8];
        BinaryPrimitives.WriteInt32LittleEndian(data, 1);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(8), float.NaN);
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.TopK, layout, data));
    }

    [Fact]
    public void Float16_Infinity_IsRefused()
    {
        var layout = new ParameterLayout(new TensorSpec("w", 2));
        byte[] data = new byte[4];
        BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(2), Half.PositiveInfinity);
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.Float16, layout, data));
    }

    [Fact]
    public void Int8_HeaderThatOverflowsWhenDecoded_IsRefused()
    {
        var layout = new ParameterLayout(new TensorSpec("w", 2));
        byte[] data = new byte[8 + 2];
        BinaryPrimitives.WriteSingleLittleEndian(data, float.MaxValue);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), float.MaxValue);
        data[9] = 255;
        Assert.Throws<WireFormatException>(() => ParameterCodecs.Decode(ParameterCodecKind.Int8, layout, data));
    }

    [Theory]
    [InlineData("topk:0")]
    [InlineData("zip")]
    public void RoundTask_WithAnUnknownCodec_IsAWireFormatError(string codec)
    {
        var proto = new Wire.Proto.Envelope
        {
            ProtocolVersion = (uint)ProtocolVersion.Current,
            MessageId = "m-1",
            RoundTask = new Wire.Proto.RoundTaskMessage
            {
                Round = 1,
                Nonce = "n",
                GlobalParameters = WireSerializer.ToProto(new ParameterSet(new ParameterLayout(new TensorSpec("w", 1))), ParameterCodecs.Float32),
                HyperParameters = new Wire.Proto.HyperParametersMessage(),
                UpdateCodec = codec,
            },
        };
        Assert.Throws<WireFormatException>(() => WireSerializer.Deserialize(Google.Protobuf.MessageExtensions.ToByteArray(proto)));
    }

    [Fact]
    public void RoundTask_CarriesTheCodec_AndOldTasksCarryNone()
    {
        byte[] announced = WireSerializer.Serialize(new WireMessage { MessageId = "m-1", Body = Task(1, "topk:0.01") });
        Assert.Equal("topk:0.01", ((RoundTask)WireSerializer.Deserialize(announced).Body).UpdateCodec);
        byte[] old = WireSerializer.Serialize(new WireMessage { MessageId = "m-2", Body = Task(1, null) });
        Assert.Null(((RoundTask)WireSerializer.Deserialize(old).Body).UpdateCodec);
    }
}
