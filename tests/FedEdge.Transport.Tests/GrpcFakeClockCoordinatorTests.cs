using FedEdge.Transport.Grpc;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Base of the gRPC tests that drive a coordinator's timers with a fake clock: a plain-text coordinator on loopback
/// with one registered device (<see cref="DeviceId"/>, token <c>token-1</c>, 16 KB chunks), real Kestrel and real
/// workers, which are disposed with the test.
/// </summary>
public abstract class GrpcFakeClockCoordinatorTests : IAsyncLifetime
{
    private protected FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    private protected RecordingCoordinator Handler { get; } = new();

    /// <summary>Workers and other resources the test disposes at its end.</summary>
    private protected List<IAsyncDisposable> Owned { get; } = [];

    private protected GrpcCoordinatorTransport Coordinator { get; private set; } = null!;

    /// <summary>The one device the coordinator accepts.</summary>
    protected abstract string DeviceId { get; }

    /// <summary>Sets the option under test on the coordinator's options.</summary>
    private protected abstract void Configure(GrpcCoordinatorOptions options);

    public async Task InitializeAsync()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, AllowPlainText = true, ChunkSize = 16 * 1024 };
        Configure(options);
        options.DeviceTokens[DeviceId] = "token-1";
        Coordinator = new GrpcCoordinatorTransport(options, timeProvider: Time);
        await Coordinator.StartAsync(Handler);
    }

    public async Task DisposeAsync()
    {
        foreach (IAsyncDisposable owned in Owned)
        {
            await owned.DisposeAsync();
        }

        await Coordinator.DisposeAsync();
    }

    /// <summary>Connects a real worker for <see cref="DeviceId"/> with a recorder of what it receives.</summary>
    private protected async Task<(GrpcWorkerTransport Transport, RecordingWorker Handler)> WorkerAsync()
    {
        var transport = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = Coordinator.Address, DeviceId = DeviceId, Token = "token-1", CallDeadline = TimeSpan.FromSeconds(20) });
        Owned.Add(transport);
        var recorder = new RecordingWorker();
        await transport.ConnectAsync(recorder);
        return (transport, recorder);
    }
}
