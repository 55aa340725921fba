using FedEdge.Messaging;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Tests;

/// <summary>
/// A gRPC side configured with 64 KB frames (off the large-object heap) and one with the 256 KB default understand
/// each other in both directions: each accepts frames up to its own chunk size or 256 KB, whichever is larger.
/// </summary>
public sealed class GrpcChunkSizeTests
{
    private const int Small = 64 * 1024;

    [Theory]
    [InlineData(WireFraming.DefaultChunkSize, Small)]
    [InlineData(Small, WireFraming.DefaultChunkSize)]
    public async Task Exchange_BetweenSidesWithDifferentChunkSizes_CarriesTasksAndUpdates(int coordinatorChunk, int workerChunk)
    {
        var handler = new RecordingCoordinator();
        var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true, ChunkSize = coordinatorChunk };
        options.DeviceTokens["c-1"] = "token-1";
        await using var coordinator = new GrpcCoordinatorTransport(options);
        await coordinator.StartAsync(handler);
        await using var worker = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = coordinator.Address, DeviceId = "c-1", Token = "token-1", ChunkSize = workerChunk, CallDeadline = TimeSpan.FromSeconds(20) });
        var recorder = new RecordingWorker();
        await worker.ConnectAsync(recorder);

        // 300k floats: 1.2 MB, several frames of either size.
        ParameterSet global = TestData.RandomSet(17, 300_000);
        await coordinator.SendTaskAsync("c-1", TestData.Task(1, global));
        RoundTask task = await recorder.NextAsync<RoundTask>();
        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());

        await worker.SendUpdateAsync(TestData.Update("c-1", 1, task.GlobalParameters));
        var (update, _) = await handler.NextAsync<ModelUpdate>();
        Assert.Equal(global.ComputeHash(), update.Values.ComputeHash());
        Assert.True(worker.Statistics.MessagesSent >= 1_200_000 / workerChunk);
    }
}
