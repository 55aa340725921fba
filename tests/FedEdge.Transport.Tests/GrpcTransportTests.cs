using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Grpc;

namespace FedEdge.Transport.Tests;

public sealed class GrpcTransportTests : IAsyncLifetime
{
    private readonly RecordingCoordinator _handler = new();
    private GrpcCoordinatorTransport _coordinator = null!;
    private readonly List<IAsyncDisposable> _owned = [];

    public async Task InitializeAsync()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, ChunkSize = 8192, AllowPlainText = true };
        options.DeviceTokens["g-1"] = "token-1";
        options.DeviceTokens["g-2"] = "token-2";
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
        var transport = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = _coordinator.Address, DeviceId = id, Token = token, ChunkSize = 8192, CallDeadline = TimeSpan.FromSeconds(20) });
        _owned.Add(transport);
        var recorder = new RecordingWorker();
        await transport.ConnectAsync(recorder);
        return (transport, recorder);
    }

    [Fact]
    public async Task Exchange_OverGrpc_StreamsChunkedModelsBothWays()
    {
        ParameterSet global = TestData.RandomSet(51, 40_000);
        await _coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 2, Hash = global.ComputeHash(), Parameters = global });
        var (worker, recorder) = await WorkerAsync("g-1", "token-1");
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "g-1" })).Accepted);
        Assert.Equal(global.ComputeHash(), (await recorder.NextAsync<GlobalModel>()).Parameters.ComputeHash());

        await worker.PublishStatusAsync(TestData.Status("g-1", DeviceIntent.Training));
        var (_, statusContext) = await _handler.NextAsync<DeviceStatus>();
        Assert.Equal("g-1", statusContext.AuthenticatedId);

        await _coordinator.SendTaskAsync("g-1", TestData.Task(1, global));
        RoundTask task = await recorder.NextAsync<RoundTask>();
        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());

        await worker.SendUpdateAsync(TestData.Update("g-1", 1, task.GlobalParameters));
        var (update, context) = await _handler.NextAsync<ModelUpdate>();
        Assert.Equal(global.ComputeHash(), update.Values.ComputeHash());
        Assert.Equal("g-1", context.AuthenticatedId);

        await _coordinator.SendReceiptAsync("g-1", new UpdateReceipt { Round = 1, Accepted = true });
        Assert.True((await recorder.NextAsync<UpdateReceipt>()).Accepted);
        Assert.True(worker.Statistics.MessagesSent > 160_000 / 8192);
    }

    [Fact]
    public async Task Send_WrongToken_FailsUnauthenticated()
    {
        var (worker, _) = await WorkerAsync("g-2", "not-the-token");
        var error = await Assert.ThrowsAsync<TransportException>(async () => await worker.PublishStatusAsync(TestData.Status("g-2", DeviceIntent.Training)));
        Assert.Contains("Unauthenticated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_CorruptedChunk_ReturnsInvalidArgumentAndCoordinatorKeepsRunning()
    {
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(_coordinator.Address!);
        var client = new Wire.Proto.FederationService.FederationServiceClient(channel);
        var headers = new global::Grpc.Core.Metadata { { "fededge-device", "g-2" }, { "authorization", "Bearer token-2" } };
        byte[] envelope = Wire.WireSerializer.Serialize(new Wire.WireMessage { MessageId = "m", SenderId = "g-2", Body = TestData.Update("g-2", 1, TestData.RandomSet(3, 5000)) });
        var frames = Wire.WireFraming.Split(envelope, 4096);
        using var call = client.Send(headers, DateTime.UtcNow.AddSeconds(20));
        var bad = Wire.Proto.Frame.Parser.ParseFrom(frames[1]);
        bad.Chunk.Data = Google.Protobuf.ByteString.CopyFrom(new byte[bad.Chunk.Data.Length]);
        await call.RequestStream.WriteAsync(Wire.Proto.Frame.Parser.ParseFrom(frames[0]));
        await call.RequestStream.WriteAsync(bad);
        var error = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () =>
        {
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        var (integrity, _) = await _handler.NextAsync<ChunkIntegrityException>();
        Assert.Contains("SHA-256", integrity.Message, StringComparison.Ordinal);

        var (worker, _) = await WorkerAsync("g-2", "token-2");
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "g-2" })).Accepted);
    }
}
