using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Wire.Proto;
using Google.Protobuf;
using global::Grpc.Core;

namespace FedEdge.Transport.Tests;

/// <summary>The protocol channel (secure aggregation's opaque payloads) over gRPC.</summary>
public sealed class GrpcProtocolTests : IAsyncLifetime
{
    private readonly RecordingCoordinator _handler = new();
    private readonly List<IAsyncDisposable> _owned = [];
    private GrpcCoordinatorTransport _coordinator = null!;

    public async Task InitializeAsync()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, ChunkSize = 8192, AllowPlainText = true };
        options.DeviceTokens["p-1"] = "token-1";
        options.DeviceTokens["p-2"] = "token-2";
        _coordinator = new GrpcCoordinatorTransport(options);
        await _coordinator.StartAsync(_handler);
    }

    public async Task DisposeAsync()
    {
        foreach (IAsyncDisposable owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await _coordinator.DisposeAsync();
    }

    private async Task<(GrpcWorkerTransport Transport, RecordingWorker Handler)> WorkerAsync(string id, string token)
    {
        var transport = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = _coordinator.Address, DeviceId = id, Token = token, ChunkSize = 8192, CallDeadline = TimeSpan.FromSeconds(30) });
        _owned.Add(transport);
        var recorder = new RecordingWorker();
        await transport.ConnectAsync(recorder);
        return (transport, recorder);
    }

    private static byte[] Random(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task ProtocolPayloads_BothWays_ArriveByteExactWithTheAuthenticatedDevice()
    {
        Assert.True(_coordinator.SupportsProtocolMessages);
        var (w1, r1) = await WorkerAsync("p-1", "token-1");
        var (w2, r2) = await WorkerAsync("p-2", "token-2");
        Assert.True(w1.SupportsProtocolMessages);

        byte[] up1 = Random(1, 777);
        byte[] up2 = Random(2, 0x100);
        long receivedBefore = _coordinator.Statistics.BytesReceived;
        await w1.SendProtocolAsync(up1);
        var (first, context1) = await _handler.NextAsync<ProtocolReceived>();
        await w2.SendProtocolAsync(up2);
        var (second, context2) = await _handler.NextAsync<ProtocolReceived>();
        Assert.Equal("p-1", first.DeviceId);
        Assert.Equal("p-1", context1.AuthenticatedId);
        Assert.Equal(up1, first.Payload);
        Assert.Equal("p-2", second.DeviceId);
        Assert.Equal("p-2", context2.AuthenticatedId);
        Assert.Equal(up2, second.Payload);
        Assert.True(_coordinator.Statistics.BytesReceived - receivedBefore >= up1.Length + up2.Length);

        byte[] down1 = Random(3, 1234);
        byte[] down2 = [];
        await _coordinator.SendProtocolAsync("p-1", down1);
        await _coordinator.SendProtocolAsync("p-2", down2);
        await _coordinator.SendProtocolAsync("p-1", new byte[] { 9, 8, 7 });
        Assert.Equal(down1, (await r1.NextAsync<ProtocolReceived>()).Payload);
        Assert.Equal(new byte[] { 9, 8, 7 }, (await r1.NextAsync<ProtocolReceived>()).Payload);
        Assert.Equal(down2, (await r2.NextAsync<ProtocolReceived>()).Payload);
        Assert.False(r2.TryTake<ProtocolReceived>(out _));
        Assert.True(w1.Statistics.BytesReceived >= down1.Length);
    }

    [Fact]
    public async Task LargeProtocolPayload_IsChunkedAndArrivesIntactBothWays()
    {
        var (worker, recorder) = await WorkerAsync("p-1", "token-1");
        byte[] big = Random(4, 3 * 1024 * 1024);

        await worker.SendProtocolAsync(big);
        var (received, context) = await _handler.NextAsync<ProtocolReceived>(seconds: 60);
        Assert.Equal("p-1", context.AuthenticatedId);
        Assert.Equal(big, received.Payload);
        Assert.True(worker.Statistics.MessagesSent > big.Length / 8192);

        long sentBefore = _coordinator.Statistics.MessagesSent;
        await _coordinator.SendProtocolAsync("p-1", big);
        Assert.Equal(big, (await recorder.NextAsync<ProtocolReceived>(seconds: 60)).Payload);
        Assert.True(_coordinator.Statistics.MessagesSent - sentBefore > big.Length / 8192);
    }

    [Fact]
    public async Task ProtocolPayload_ClaimingAnotherDevice_IsRefusedAndNeverAttributedToIt()
    {
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(_coordinator.Address!);
        var client = new FederationService.FederationServiceClient(channel);
        var headers = new Metadata { { "fededge-device", "p-1" }, { "authorization", "Bearer token-1" } };
        var spoof = new Envelope
        {
            ProtocolVersion = (uint)ProtocolVersion.Current,
            MessageId = "spoof",
            SenderId = "p-2",
            ProtocolPayload = new ProtocolPayloadMessage { Payload = ByteString.CopyFrom(1, 2, 3) },
        };
        using (var call = client.Send(headers, DateTime.UtcNow.AddSeconds(20)))
        {
            await call.RequestStream.WriteAsync(new Frame { Envelope = spoof });
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            });
            Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        }

        var (malformed, _) = await _handler.NextAsync<WireFormatException>();
        Assert.Contains("p-2", malformed.Message, StringComparison.Ordinal);

        // The device's own payload is the first protocol payload the coordinator delivers, attributed to it.
        var (worker, _) = await WorkerAsync("p-1", "token-1");
        await worker.SendProtocolAsync(new byte[] { 4, 5, 6 });
        var (received, context) = await _handler.NextAsync<ProtocolReceived>();
        Assert.Equal("p-1", received.DeviceId);
        Assert.Equal("p-1", context.AuthenticatedId);
        Assert.Equal(new byte[] { 4, 5, 6 }, received.Payload);
    }

    [Fact]
    public async Task UndecodableProtocolEnvelope_IsReportedAsMalformed()
    {
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(_coordinator.Address!);
        var client = new FederationService.FederationServiceClient(channel);
        var headers = new Metadata { { "fededge-device", "p-2" }, { "authorization", "Bearer token-2" } };
        var noId = new Envelope
        {
            ProtocolVersion = (uint)ProtocolVersion.Current,
            SenderId = "p-2",
            ProtocolPayload = new ProtocolPayloadMessage { Payload = ByteString.CopyFrom(1, 2, 3) },
        };
        using var call = client.Send(headers, DateTime.UtcNow.AddSeconds(20));
        await call.RequestStream.WriteAsync(new Frame { Envelope = noId });
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var (malformed, context) = await _handler.NextAsync<WireFormatException>();
        Assert.Contains("message id", malformed.Message, StringComparison.Ordinal);
        Assert.Equal("grpc:Send/p-2", context.AuthenticatedId);
        Assert.Equal(1, _coordinator.Statistics.Malformed);
    }
}
