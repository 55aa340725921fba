using System.Security.Cryptography;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 20 (bad input): every reassembly limit is a typed error, and memory held for one source stays bounded under a
/// flood of chunks that never complete, while other sources' transfers still go through.
/// </summary>
public sealed class ReassemblyFloodTests
{
    [Fact]
    public void TryAccept_ChunkCountBeyondLimit_ReassemblyLimitExceptionBeforeAllocating()
    {
        var reassembler = new FrameReassembler(new FakeTimeProvider(), new ReassemblyOptions { MaxChunkCount = 1000 });
        byte[] frame = ChunkFrame("t", index: 0, count: uint.MaxValue, total: 1 << 20, data: [1, 2, 3]);
        ReassemblyLimitException error = Assert.Throws<ReassemblyLimitException>(() => reassembler.TryAccept("src", frame, out _));
        Assert.Equal(nameof(ReassemblyOptions.MaxChunkCount), error.Limit);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void TryAccept_WholeFrameBeyondMaxMessageBytes_ReassemblyLimitException()
    {
        var reassembler = new FrameReassembler(new FakeTimeProvider(), new ReassemblyOptions { MaxMessageBytes = 4096 });
        byte[] frame = WireFraming.Split(new byte[5000], chunkSize: 8192).Single();
        ReassemblyLimitException error = Assert.Throws<ReassemblyLimitException>(() => reassembler.TryAccept("src", frame, out _));
        Assert.Equal(nameof(ReassemblyOptions.MaxMessageBytes), error.Limit);
    }

    [Fact]
    public void TryAccept_EndlessIncompleteTransfersFromOneSource_MemoryBoundedAndOthersStillComplete()
    {
        var options = new ReassemblyOptions { MaxPendingBytesPerSource = 64 * 1024, MaxPendingTransfersPerSource = 8 };
        var reassembler = new FrameReassembler(new FakeTimeProvider(), options);
        var rng = new Random(7);
        int limitErrors = 0;
        long peak = 0;
        for (int transfer = 0; transfer < 400; transfer++)
        {
            // 16 KiB in 64-byte chunks, the last one never sent: the transfer can never complete.
            byte[] body = new byte[16 * 1024];
            rng.NextBytes(body);
            IReadOnlyList<byte[]> frames = WireFraming.Split(body, chunkSize: 64);
            foreach (byte[] frame in frames.Take(frames.Count - 1))
            {
                try
                {
                    Assert.False(reassembler.TryAccept("flooder", frame, out _));
                }
                catch (ReassemblyLimitException ex)
                {
                    Assert.Equal(nameof(ReassemblyOptions.MaxPendingBytesPerSource), ex.Limit);
                    limitErrors++;
                }

                peak = Math.Max(peak, reassembler.PendingBytes("flooder"));
            }

            if (transfer % 50 == 0)
            {
                // An honest source is not starved by the flood.
                byte[] honest = new byte[3000];
                rng.NextBytes(honest);
                bool complete = false;
                ReadOnlyMemory<byte> envelope = default;
                foreach (byte[] frame in WireFraming.Split(honest, chunkSize: 1024))
                {
                    complete = reassembler.TryAccept("honest", frame, out envelope);
                }

                Assert.True(complete);
                Assert.Equal(honest, envelope.ToArray());
            }
        }

        Assert.True(peak <= options.MaxPendingBytesPerSource, $"held {peak} bytes for one source");
        Assert.True(limitErrors > 0, "the byte budget was never reached, so the test proves nothing");
        Assert.True(reassembler.PendingCount <= options.MaxPendingTransfersPerSource);
    }

    [Fact]
    public void TryAccept_TooManyTransfersInFlightFromOneSource_OldestDroppedAndReported()
    {
        var reassembler = new FrameReassembler(new FakeTimeProvider(), new ReassemblyOptions { MaxPendingTransfersPerSource = 4 });
        for (int transfer = 0; transfer < 10; transfer++)
        {
            IReadOnlyList<byte[]> frames = WireFraming.Split(new byte[1024 + transfer], chunkSize: 256);
            Assert.False(reassembler.TryAccept("flooder", frames[0], out _));
        }

        Assert.Equal(4, reassembler.PendingCount);

        // Transfers pushed out because too many were in flight are reported, not dropped in silence.
        IReadOnlyList<(string Source, ChunkIntegrityException Error)> reported = reassembler.CollectExpired();
        Assert.Equal(6, reported.Count);
        Assert.All(reported, r => Assert.Equal("flooder", r.Source));
        Assert.All(reported, r => Assert.Contains("more than 4 transfers in flight", r.Error.Message, StringComparison.Ordinal));
        Assert.Empty(reassembler.CollectExpired());
    }

    [Fact]
    public async Task EmbeddedMqtt_DeviceStreamsEndlessChunks_CoordinatorMemoryBoundedAndOtherDevicesServed()
    {
        const string Federation = "flood";
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        broker.DevicePasswords["flooder"] = "pw-flooder";
        broker.DevicePasswords["honest"] = "pw-honest";
        var options = new MqttCoordinatorOptions { Federation = Federation };
        options.Reassembly.MaxPendingBytesPerSource = 1 << 20;
        var handler = new RecordingCoordinator();
        await using var coordinator = new MqttCoordinatorTransport(options, brokerHost: new EmbeddedMqttBrokerHost(broker));
        await coordinator.StartAsync(handler);

        using IMqttClient flooder = await RawMqttDevice.ConnectAsync(coordinator, Federation, "flooder", "pw-flooder");

        // 32 MiB of chunks in transfers that never complete (each misses its last chunk): 32 times the budget.
        string topic = MqttTopicScheme.Update(Federation, "flooder");
        var rng = new Random(11);
        long peak = 0;
        for (int transfer = 0; transfer < 64; transfer++)
        {
            byte[] body = new byte[512 * 1024];
            rng.NextBytes(body);
            IReadOnlyList<byte[]> frames = WireFraming.Split(body, chunkSize: 16 * 1024);
            foreach (byte[] frame in frames.Take(frames.Count - 1))
            {
                await flooder.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(frame)
                    .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
                peak = Math.Max(peak, coordinator.PendingBytes(topic));
            }
        }

        // Every chunk was handled (QoS 1) or is being handled; the limit errors are counted as malformed input.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (coordinator.Statistics.Malformed == 0)
        {
            await Task.Delay(20, cts.Token);
        }

        Assert.True(peak <= options.Reassembly.MaxPendingBytesPerSource, $"held {peak} bytes for one device");
        Assert.True(coordinator.PendingBytes(topic) <= options.Reassembly.MaxPendingBytesPerSource);

        // Another device is still served while and after the flood.
        await using var honest = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = "honest", Password = "pw-honest", BrokerUri = coordinator.BrokerUri });
        await honest.ConnectAsync(new RecordingWorker(), cts.Token);
        await honest.PublishStatusAsync(TestData.Status("honest", DeviceIntent.Training), cts.Token);
        var (status, context) = await handler.NextAsync<DeviceStatus>(s => s.DeviceId == "honest");
        Assert.Equal("honest", context.AuthenticatedId);
        await flooder.DisconnectAsync();
    }

    private static byte[] ChunkFrame(string id, uint index, uint count, ulong total, byte[] data)
    {
        var chunk = new Chunk
        {
            TransferId = id,
            Index = index,
            Count = count,
            TotalLength = total,
            ChunkSha256 = ByteString.CopyFrom(SHA256.HashData(data)),
            TotalSha256 = ByteString.CopyFrom(new byte[32]),
            Data = ByteString.CopyFrom(data),
        };

        // Frame layout: tag 0x02 (chunk), varint length, the chunk's bytes (see WireFraming).
        byte[] payload = chunk.ToByteArray();
        using var stream = new MemoryStream();
        stream.WriteByte(ChunkTag);
        var coded = new CodedOutputStream(stream, leaveOpen: true);
        coded.WriteLength(payload.Length);
        coded.Flush();
        stream.Write(payload);
        return stream.ToArray();
    }

    private static byte ChunkTag => WireFraming.Split(new byte[200], chunkSize: 64)[0][0];
}
