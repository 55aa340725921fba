using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire;
using FsCheck;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

public class WireTests
{
    private static T RoundTrip<T>(T body, IParameterCodec? codec = null, bool lastWill = false)
        where T : class
    {
        var message = new WireMessage { MessageId = WireMessage.NewId(), SenderId = "dev-1", Body = body, IsLastWill = lastWill };
        WireMessage back = WireSerializer.Deserialize(WireSerializer.Serialize(message, codec));
        Assert.Equal(message.MessageId, back.MessageId);
        Assert.Equal("dev-1", back.SenderId);
        Assert.Equal(lastWill, back.IsLastWill);
        return Assert.IsType<T>(back.Body);
    }

    [Fact]
    public void Serialize_JoinRequest_RoundTripsEveryField()
    {
        var join = new JoinRequest
        {
            DeviceId = "cam-7",
            MudUrl = new Uri("https://mud.example.com/cam.json"),
            CertificateDer = new byte[] { 1, 2, 3 },
            Task = "nbaiot",
            Model = "autoencoder",
            Capabilities = new Dictionary<string, string> { ["engine"] = "managed" },
        };
        JoinRequest back = RoundTrip(join);
        Assert.Equal(join.DeviceId, back.DeviceId);
        Assert.Equal(join.MudUrl, back.MudUrl);
        Assert.Equal(new byte[] { 1, 2, 3 }, back.CertificateDer.ToArray());
        Assert.Equal("nbaiot", back.Task);
        Assert.Equal("autoencoder", back.Model);
        Assert.Equal("managed", back.Capabilities["engine"]);
        Assert.Equal(ProtocolVersion.Current, back.ProtocolVersion);
    }

    [Fact]
    public void Serialize_JoinResponseAndReceipt_RoundTripReasons()
    {
        JoinResponse response = RoundTrip(new JoinResponse { Accepted = false, Reasons = ["MUD profile unsigned", "quarantined"] });
        Assert.False(response.Accepted);
        Assert.Equal(["MUD profile unsigned", "quarantined"], response.Reasons);
        UpdateReceipt receipt = RoundTrip(new UpdateReceipt { Round = 3, Accepted = false, Reason = "stale nonce" });
        Assert.Equal(3, receipt.Round);
        Assert.Equal("stale nonce", receipt.Reason);
    }

    [Fact]
    public void Serialize_DeviceStatus_KeepsTelemetryAndLastWillFlag()
    {
        DeviceStatus back = RoundTrip(TestData.Status("pi-1", DeviceIntent.Training), lastWill: true);
        Assert.Equal(DeviceIntent.Training, back.Intent);
        Assert.Equal(61.5, back.Telemetry.TemperatureCelsius);
        Assert.False(back.Telemetry.Throttled);
        Assert.Equal(1 << 20, back.Telemetry.FreeMemoryBytes);
        Assert.Null(back.Telemetry.LoadAverage);
    }

    [Fact]
    public void Serialize_RoundTask_RoundTripsParametersAndHyperParameters()
    {
        RoundTask task = TestData.Task(4, TestData.RandomSet(3, 1000));
        RoundTask back = RoundTrip(task);
        Assert.Equal(task.GlobalParameters.ComputeHash(), back.GlobalParameters.ComputeHash());
        Assert.Equal(task.HyperParameters.LocalIterations, back.HyperParameters.LocalIterations);
        Assert.Null(back.HyperParameters.MicroBatchSize);
        Assert.Equal(0.05f, back.HyperParameters.LearningRate);
        Assert.Equal("v", back.HyperParameters.Extra["k"]);
        Assert.Equal(task.Deadline, back.Deadline);
        Assert.Equal("0.1", back.Config["mu"]);
    }

    [Fact]
    public void Serialize_ModelUpdateWithInt8_DecodesWithinBound()
    {
        ModelUpdate update = TestData.Update("dev-1", 2, TestData.RandomSet(5, 500), UpdateKind.Delta);
        ModelUpdate back = RoundTrip(update, ParameterCodecs.Int8);
        Assert.Equal(UpdateKind.Delta, back.Kind);
        Assert.Equal(128, back.SampleCount);
        Assert.Equal(0.25, back.Metrics["loss"]);
        for (int i = 0; i < update.Values.Length; i++)
        {
            Assert.True(Math.Abs(update.Values.Values[i] - back.Values.Values[i]) <= 2.0 / 255);
        }
    }

    [Fact]
    public void Serialize_TopKOnFullParameters_ThrowsCodecException()
    {
        ModelUpdate update = TestData.Update("dev-1", 2, TestData.RandomSet(5, 500), UpdateKind.Parameters);
        var message = new WireMessage { MessageId = "m", Body = update };
        Assert.Throws<ParameterCodecException>(() => WireSerializer.Serialize(message, ParameterCodecs.TopK(0.1)));
    }

    [Fact]
    public void Deserialize_GlobalModelWithWrongHash_ThrowsWireFormatException()
    {
        ParameterSet p = TestData.RandomSet(6, 50);
        var model = new GlobalModel { Version = 1, Hash = new string('0', 64), Parameters = p };
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "m", Body = model });
        var error = Assert.Throws<WireFormatException>(() => WireSerializer.Deserialize(bytes));
        Assert.Contains("altered", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deserialize_OtherProtocolVersion_ThrowsProtocolVersionExceptionAndPeekReadsIt()
    {
        var join = new JoinRequest { DeviceId = "old-1" };
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "m1", Body = join, ProtocolVersion = 0 });
        var error = Assert.Throws<ProtocolVersionException>(() => WireSerializer.Deserialize(bytes));
        Assert.Equal(0, error.ReceivedVersion);
        Assert.Contains("upgrade", error.Message, StringComparison.Ordinal);
        Assert.True(WireSerializer.PeekJoinVersion(bytes, out int version, out string id, out string? device));
        Assert.Equal((0, "m1", "old-1"), (version, id, device));
    }

    [Fact]
    public void Deserialize_ZeroDimensionInLayout_ThrowsWireFormatException()
    {
        var proto = new Wire.Proto.Envelope
        {
            ProtocolVersion = 1,
            MessageId = "x",
            ModelUpdate = new Wire.Proto.ModelUpdateMessage
            {
                SenderId = "d",
                Nonce = "n",
                Values = new Wire.Proto.ParameterSetMessage { Tensors = { new Wire.Proto.TensorSpecMessage { Name = "w", Shape = { 0 } } } },
            },
        };
        // An update's unusable content names its round (so the coordinator can answer its sender).
        var error = Assert.Throws<UpdateFormatException>(() => WireSerializer.Deserialize(Google.Protobuf.MessageExtensions.ToByteArray(proto)));
        Assert.IsType<WireFormatException>(error.InnerException);
    }

    // Any byte string either decodes or raises a WireFormatException; nothing else escapes.
    [Property(MaxTest = 300)]
    public bool Deserialize_ArbitraryBytes_OnlyWireFormatErrors(byte[] bytes)
    {
        try
        {
            WireSerializer.Deserialize(bytes ?? []);
            return true;
        }
        catch (WireFormatException)
        {
            return true;
        }
    }

    // Flipping any byte of a valid update either still decodes or raises a WireFormatException.
    [Property(MaxTest = 300)]
    public bool Deserialize_MutatedUpdate_OnlyWireFormatErrors(PositiveInt position, byte value)
    {
        ModelUpdate update = TestData.Update("dev-1", 2, TestData.RandomSet(5, 40));
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "m", Body = update });
        bytes[position.Get % bytes.Length] = value;
        try
        {
            WireSerializer.Deserialize(bytes);
            return true;
        }
        catch (WireFormatException)
        {
            return true;
        }
    }
}

public class FramingTests
{
    private static byte[] BigEnvelope(int values = 20_000) =>
        WireSerializer.Serialize(new WireMessage { MessageId = "big", Body = TestData.Update("d", 1, TestData.RandomSet(9, values)) });

    [Property(MaxTest = 30)]
    public bool Split_ThenReassembleInAnyOrder_YieldsTheEnvelope(int seed, PositiveInt chunk)
    {
        byte[] envelope = BigEnvelope(3000);
        int chunkSize = 64 + (chunk.Get % 5000);
        var frames = WireFraming.Split(envelope, chunkSize).ToList();
        var random = new Random(seed);
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        ReadOnlyMemory<byte> result = default;
        int completions = 0;
        foreach (byte[] frame in frames.OrderBy(_ => random.Next()).Concat(frames.Take(2)))
        {
            if (reassembler.TryAccept("src", frame, out ReadOnlyMemory<byte> done))
            {
                result = done;
                completions++;
            }
        }

        return completions == 1 && result.Span.SequenceEqual(envelope) && reassembler.PendingCount == 0;
    }

    [Fact]
    public void Split_SmallEnvelope_IsOneFrameWithTwoBytesOverhead()
    {
        byte[] envelope = WireSerializer.Serialize(new WireMessage { MessageId = "s", Body = new UpdateReceipt { Round = 1, Accepted = true } });
        var frames = WireFraming.Split(envelope);
        Assert.Single(frames);
        Assert.Equal(envelope.Length + 2, frames[0].Length);
    }

    [Fact]
    public void TryAccept_CorruptedChunk_ThrowsChunkIntegrityException()
    {
        var frames = WireFraming.Split(BigEnvelope(), 4096);
        byte[] bad = (byte[])frames[1].Clone();
        bad[^10] ^= 0xff;
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        Assert.False(reassembler.TryAccept("src", frames[0], out _));
        var error = Assert.Throws<ChunkIntegrityException>(() => reassembler.TryAccept("src", bad, out _));
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void CollectExpired_MissingChunk_ReportsItsIndexAfterTimeout()
    {
        var time = new FakeTimeProvider();
        var frames = WireFraming.Split(BigEnvelope(), 4096);
        var reassembler = new FrameReassembler(time, new ReassemblyOptions { Timeout = TimeSpan.FromSeconds(10) });
        for (int i = 0; i < frames.Count; i++)
        {
            if (i != 3)
            {
                Assert.False(reassembler.TryAccept("src", frames[i], out _));
            }
        }

        Assert.Empty(reassembler.CollectExpired());
        time.Advance(TimeSpan.FromSeconds(11));
        var expired = Assert.Single(reassembler.CollectExpired());
        Assert.Equal("src", expired.Source);
        Assert.Equal([3], expired.Error.MissingChunks);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void TryAccept_HeaderClaimsHugeTotal_ThrowsBeforeAllocating()
    {
        var chunk = new Wire.Proto.Chunk { TransferId = "t", Index = 0, Count = 2, TotalLength = 1UL << 40, Data = Google.Protobuf.ByteString.CopyFrom(1, 2, 3) };
        chunk.ChunkSha256 = Google.Protobuf.ByteString.CopyFrom(System.Security.Cryptography.SHA256.HashData(new byte[] { 1, 2, 3 }));
        chunk.TotalSha256 = Google.Protobuf.ByteString.CopyFrom(new byte[32]);
        byte[] payload = Google.Protobuf.MessageExtensions.ToByteArray(new Wire.Proto.Frame { Chunk = chunk });
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        ReassemblyLimitException error = Assert.Throws<ReassemblyLimitException>(() => reassembler.TryAccept("src", payload, out _));
        Assert.Equal(nameof(ReassemblyOptions.MaxMessageBytes), error.Limit);
    }

    // The frames are written without protobuf's own serializer for the data field: they must still be exactly the
    // canonical serialization of the chunk they carry.
    [Property(MaxTest = 30)]
    public bool Split_ChunkFrames_AreTheCanonicalSerializationOfTheirChunk(PositiveInt chunk)
    {
        byte[] envelope = BigEnvelope(3000);
        int chunkSize = 64 + (chunk.Get % 20_000);
        return WireFraming.Split(envelope, chunkSize).All(frame =>
        {
            Wire.Proto.Frame parsed = Wire.Proto.Frame.Parser.ParseFrom(frame);
            return parsed.KindCase == Wire.Proto.Frame.KindOneofCase.Chunk && Google.Protobuf.MessageExtensions.ToByteArray(parsed).AsSpan().SequenceEqual(frame);
        });
    }

    // The chunk parser that keeps the data as a slice of the frame reads what protobuf reads, with the fields in any
    // order, repeated (the last wins) or mixed with unknown fields.
    [Property(MaxTest = 200)]
    public bool ParseChunk_ReorderedRepeatedAndUnknownFields_ReadsWhatProtobufReads(int seed, uint index, uint count, ulong total, byte[] data, NonNull<string> id)
    {
        var random = new Random(seed);
        byte[] Bytes(int n) => Enumerable.Range(0, n).Select(_ => (byte)random.Next(256)).ToArray();
        var fields = new List<byte[]>
        {
            Field(w => { w.WriteTag(1, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteString(id.Get); }),
            Field(w => { w.WriteTag(2, Google.Protobuf.WireFormat.WireType.Varint); w.WriteUInt32(index); }),
            Field(w => { w.WriteTag(3, Google.Protobuf.WireFormat.WireType.Varint); w.WriteUInt32(count); }),
            Field(w => { w.WriteTag(4, Google.Protobuf.WireFormat.WireType.Varint); w.WriteUInt64(total); }),
            Field(w => { w.WriteTag(5, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(Bytes(32))); }),
            Field(w => { w.WriteTag(6, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(Bytes(32))); }),
            Field(w => { w.WriteTag(7, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(data ?? [])); }),
            Field(w => { w.WriteTag(9, Google.Protobuf.WireFormat.WireType.Varint); w.WriteUInt64((ulong)random.NextInt64()); }),
            Field(w => { w.WriteTag(12, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(Bytes(random.Next(40)))); }),
            Field(w => { w.WriteTag(13, Google.Protobuf.WireFormat.WireType.Fixed64); w.WriteFixed64(7); }),
            Field(w => { w.WriteTag(14, Google.Protobuf.WireFormat.WireType.Fixed32); w.WriteFixed32(7); }),
            Field(w => { w.WriteTag(2, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(Bytes(3))); }),
            Field(w => { w.WriteTag(3, Google.Protobuf.WireFormat.WireType.Varint); w.WriteUInt32((uint)random.Next()); }),
            Field(w => { w.WriteTag(7, Google.Protobuf.WireFormat.WireType.LengthDelimited); w.WriteBytes(Google.Protobuf.ByteString.CopyFrom(Bytes(random.Next(10)))); }),
        };
        byte[] payload = fields.OrderBy(_ => random.Next()).Where(_ => random.Next(5) != 0).SelectMany(f => f).ToArray();
        Wire.Proto.Chunk expected = Wire.Proto.Chunk.Parser.ParseFrom(payload);
        ChunkView actual = WireFraming.ParseChunk(payload);
        return actual.TransferId == expected.TransferId && actual.Index == expected.Index && actual.Count == expected.Count
            && actual.TotalLength == expected.TotalLength && actual.ChunkSha256.Span.SequenceEqual(expected.ChunkSha256.Span)
            && actual.TotalSha256.Span.SequenceEqual(expected.TotalSha256.Span) && actual.Data.Span.SequenceEqual(expected.Data.Span);

        byte[] Field(Action<Google.Protobuf.CodedOutputStream> write)
        {
            using var stream = new MemoryStream();
            var output = new Google.Protobuf.CodedOutputStream(stream);
            write(output);
            output.Flush();
            return stream.ToArray();
        }
    }

    // Arbitrary bytes: the parser never reads what protobuf would refuse or read differently, and fails only with a
    // WireFormatException.
    [Property(MaxTest = 300)]
    public bool ParseChunk_ArbitraryBytes_AgreesWithProtobufOrRefuses(byte[] bytes)
    {
        bytes ??= [];
        ChunkView actual;
        try
        {
            actual = WireFraming.ParseChunk(bytes);
        }
        catch (WireFormatException)
        {
            return true;
        }

        Wire.Proto.Chunk expected = Wire.Proto.Chunk.Parser.ParseFrom(bytes);
        return actual.TransferId == expected.TransferId && actual.Index == expected.Index && actual.Count == expected.Count
            && actual.TotalLength == expected.TotalLength && actual.Data.Span.SequenceEqual(expected.Data.Span)
            && actual.ChunkSha256.Span.SequenceEqual(expected.ChunkSha256.Span) && actual.TotalSha256.Span.SequenceEqual(expected.TotalSha256.Span);
    }

    // A reassembler handed a caller's buffer (the public overload) keeps copies: reusing the buffer after each call
    // must not change the reassembled message.
    [Fact]
    public void TryAccept_CallerReusesItsBuffer_ReassemblesTheOriginal()
    {
        byte[] envelope = BigEnvelope(3000);
        var frames = WireFraming.Split(envelope, 4096);
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        byte[] buffer = new byte[frames.Max(f => f.Length)];
        ReadOnlyMemory<byte> result = default;
        foreach (byte[] frame in frames)
        {
            frame.CopyTo(buffer, 0);
            bool done = reassembler.TryAccept("src", buffer.AsMemory(0, frame.Length), out result);
            Array.Fill(buffer, (byte)0x5a);
            if (done)
            {
                break;
            }
        }

        Assert.Equal(envelope, result.ToArray());
    }

    [Property(MaxTest = 300)]
    public bool TryAccept_ArbitraryBytes_OnlyWireFormatErrors(byte[] bytes)
    {
        var reassembler = new FrameReassembler(new FakeTimeProvider());
        try
        {
            reassembler.TryAccept("src", bytes ?? [], out _);
            return true;
        }
        catch (WireFormatException)
        {
            return true;
        }
    }
}
