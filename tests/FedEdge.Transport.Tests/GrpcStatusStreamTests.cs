using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Testing;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Wire;
using FedEdge.Transport.Wire.Proto;
using global::Grpc.Core;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Statuses and heartbeats travel on one long-lived Send stream per worker: the coordinator confirms the stream with
/// early headers, handles every status written to it in order, and a worker opens a new stream when the old one ends.
/// </summary>
public sealed class GrpcStatusStreamTests
{
    private static GrpcCoordinatorOptions Options(int port = 0)
    {
        var options = new GrpcCoordinatorOptions { Port = port, AllowPlainText = true };
        options.DeviceTokens["s-1"] = "tok-1";
        return options;
    }

    private static GrpcWorkerTransport Worker(Uri address) =>
        new(new GrpcWorkerOptions { Address = address, DeviceId = "s-1", Token = "tok-1", CallDeadline = TimeSpan.FromSeconds(10), SendTimeout = TimeSpan.FromSeconds(20) });

    private static DeviceStatus Status(int samples) => TestData.Status("s-1", DeviceIntent.Training) with { Telemetry = new DeviceTelemetry { SampleCount = samples } };

    [Fact]
    public async Task ManyStatuses_AllArriveInTheOrderWritten()
    {
        var handler = new RecordingCoordinator();
        await using var coordinator = new GrpcCoordinatorTransport(Options());
        await coordinator.StartAsync(handler);
        await using GrpcWorkerTransport worker = Worker(coordinator.Address!);
        await worker.ConnectAsync(new RecordingWorker());

        for (int i = 1; i <= 40; i++)
        {
            await worker.PublishStatusAsync(Status(i));
        }

        for (int i = 1; i <= 40; i++)
        {
            (DeviceStatus status, InboundContext context) = await handler.NextAsync<DeviceStatus>();
            Assert.Equal((long)i, status.Telemetry!.SampleCount);
            Assert.Equal("s-1", context.AuthenticatedId);
        }
    }

    [Fact]
    public async Task RawStatusStream_HeadersBeforeAnyMessage_ThenEveryStatusOnTheSameCall()
    {
        var handler = new RecordingCoordinator();
        await using var coordinator = new GrpcCoordinatorTransport(Options());
        await coordinator.StartAsync(handler);
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(coordinator.Address!);
        var client = new FederationService.FederationServiceClient(channel);
        var headers = new Metadata { { "fededge-device", "s-1" }, { "authorization", "Bearer tok-1" }, { GrpcWorkerTransport.StreamHeader, GrpcWorkerTransport.StatusStream } };
        using AsyncDuplexStreamingCall<Frame, Frame> call = client.Send(headers, DateTime.UtcNow.AddSeconds(30));

        // The coordinator answers the stream's opening with headers alone: the worker knows it is authenticated.
        Metadata opened = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(GrpcWorkerTransport.StatusStream, opened.GetValue(GrpcWorkerTransport.StreamHeader));
        for (int i = 1; i <= 3; i++)
        {
            byte[] frame = WireFraming.Split(WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), SenderId = "s-1", Body = Status(i) }), 64 * 1024)[0];
            await call.RequestStream.WriteAsync(Frame.Parser.ParseFrom(frame));
            Assert.Equal((long)i, (await handler.NextAsync<DeviceStatus>()).Item.Telemetry!.SampleCount);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task RawStatusStream_WrongToken_RefusedBeforeAnyMessage()
    {
        await using var coordinator = new GrpcCoordinatorTransport(Options());
        await coordinator.StartAsync(new RecordingCoordinator());
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(coordinator.Address!);
        var client = new FederationService.FederationServiceClient(channel);
        var headers = new Metadata { { "fededge-device", "s-1" }, { "authorization", "Bearer wrong" }, { GrpcWorkerTransport.StreamHeader, GrpcWorkerTransport.StatusStream } };
        using AsyncDuplexStreamingCall<Frame, Frame> call = client.Send(headers, DateTime.UtcNow.AddSeconds(30));
        // A refusal is a trailers-only answer: no stream marker, and the call ends with the status.
        Metadata answer = await call.ResponseHeadersAsync.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Null(answer.GetValue(GrpcWorkerTransport.StreamHeader));
        var error = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task CoordinatorRestarts_NextStatusOpensANewStream()
    {
        int port = LoopbackPorts.Free();
        var first = new RecordingCoordinator();
        var coordinator = new GrpcCoordinatorTransport(Options(port));
        await coordinator.StartAsync(first);
        await using GrpcWorkerTransport worker = Worker(coordinator.Address!);
        await worker.ConnectAsync(new RecordingWorker());
        await worker.PublishStatusAsync(Status(1));
        Assert.Equal(1L, (await first.NextAsync<DeviceStatus>()).Item.Telemetry!.SampleCount);

        await coordinator.DisposeAsync();
        var second = new RecordingCoordinator();
        await using var restarted = new GrpcCoordinatorTransport(Options(port));
        await restarted.StartAsync(second);

        // The old stream died with the old coordinator; a status may be written into it before the worker notices, so
        // it keeps publishing (as heartbeats do) until the restarted coordinator hears one.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task<(DeviceStatus Item, InboundContext Context)> heard = second.NextAsync<DeviceStatus>(seconds: 30);
        int sent = 1;
        while (!heard.IsCompleted)
        {
            await worker.PublishStatusAsync(Status(++sent), cts.Token);
            await Task.WhenAny(heard, Task.Delay(200, cts.Token));
        }

        (DeviceStatus status, InboundContext context) = await heard;
        Assert.Equal("s-1", context.AuthenticatedId);
        Assert.InRange(status.Telemetry!.SampleCount!.Value, 2L, sent);
    }
}
