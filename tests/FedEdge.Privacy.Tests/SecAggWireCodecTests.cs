using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Privacy.Tests;

public class SecAggWireCodecTests
{
    private static readonly SecAggMessage[] Samples =
    [
        new SecAggAdvertiseKeys { Round = 3, Nonce = "n", SenderId = "dev-1", EncryptionPublicKey = [1, 2, 3], MaskingPublicKey = [4, 5] },
        new SecAggRoster
        {
            Round = 3, Nonce = "n", Threshold = 2, MinimumClients = 3, NeighbourCount = 4, VectorLength = 10, ClipRange = 0.5f, Scale = 12345.5, GraphSeed = new byte[32],
            Participants = [new SecAggParticipant { ClientId = "a", Index = 1, EncryptionPublicKey = [1], MaskingPublicKey = [2] }],
        },
        new SecAggShareKeys { Round = 3, Nonce = "n", SenderId = "a", Shares = [new SecAggEncryptedShare { SenderId = "a", RecipientId = "b", Ciphertext = new byte[40] }] },
        new SecAggForwardedShares { Round = 3, Nonce = "n", RecipientId = "b", Shares = [new SecAggEncryptedShare { SenderId = "a", RecipientId = "b", Ciphertext = new byte[40] }] },
        new SecAggMaskedInput { Round = 3, Nonce = "n", SenderId = "a", MaskedValues = [0, 1, uint.MaxValue, 42] },
        new SecAggUnmaskRequest { Round = 3, Nonce = "n", Survivors = ["a", "b"], Dropped = ["c"] },
        new SecAggUnmaskResponse { Round = 3, Nonce = "n", SenderId = "a", Shares = [new SecAggRevealedShare { OwnerId = "b", Kind = SecAggSecretKind.MaskingKey, X = 1, Values = [1, 2, ulong.MaxValue] }] },
        new SecAggAbort { Round = 3, Nonce = "n", Phase = SecAggPhase.Unmasking, Reason = SecAggAbortReason.InsufficientShares, Detail = "only 2 shares" },
    ];

    [Fact]
    public void Decode_EncodedMessage_RoundTripsEveryType()
    {
        foreach (SecAggMessage message in Samples)
        {
            SecAggMessage decoded = SecAggWireCodec.Decode(SecAggWireCodec.Encode(message));
            Assert.Equal(message.GetType(), decoded.GetType());
            Assert.Equal(SecAggWireCodec.Encode(message), SecAggWireCodec.Encode(decoded));
        }
    }

    [Fact]
    public void Encode_MaskedInput_CostsFourBytesPerValuePlusSmallHeader()
    {
        var message = new SecAggMaskedInput { Round = 1, Nonce = "0123456789abcdef", SenderId = "device-001", MaskedValues = new uint[100_000] };
        int size = SecAggWireCodec.Encode(message).Length;
        Assert.InRange(size, 400_000, 400_064);
    }

    [Property(MaxTest = 300)]
    public Property Decode_TruncatedOrMutated_ThrowsOnlyFormatException()
    {
        return Prop.ForAll(
            Gen.Choose(0, Samples.Length - 1).ToArbitrary(),
            Gen.Choose(0, 1000).ToArbitrary(),
            ArbMap.Default.ArbFor<byte>(),
            (which, position, value) =>
            {
                byte[] bytes = SecAggWireCodec.Encode(Samples[which]);
                int at = position % bytes.Length;
                byte[] truncated = bytes[..at];
                byte[] mutated = (byte[])bytes.Clone();
                mutated[at] = value;
                return Survives(truncated) && Survives(mutated);
            });
    }

    [Fact]
    public void Decode_HugeCount_ThrowsFormatExceptionWithoutAllocating()
    {
        byte[] bytes = SecAggWireCodec.Encode(new SecAggMaskedInput { Round = 1, Nonce = "n", SenderId = "a", MaskedValues = [1] });
        bytes[^8] = 0xFF;
        bytes[^7] = 0xFF;
        bytes[^6] = 0xFF;
        bytes[^5] = 0x7F;
        Assert.Throws<SecAggMessageFormatException>(() => SecAggWireCodec.Decode(bytes));
    }

    private static bool Survives(byte[] bytes)
    {
        try
        {
            SecAggWireCodec.Decode(bytes);
            return true;
        }
        catch (SecAggMessageFormatException)
        {
            return true;
        }
    }
}
