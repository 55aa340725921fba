using FedEdge.Messaging;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

public class ServiceCollectionTests
{
    [Fact]
    public async Task AddMqttTransport_CalledTwice_RegistersOneOfEachRole()
    {
        var services = new ServiceCollection();
        services.AddMqttTransport(
            coordinator: o => o.Federation = "di",
            worker: o => { o.Federation = "di"; o.DeviceId = "d1"; o.Password = "p"; o.BrokerUri = new Uri("mqtt://127.0.0.1:1883"); })
            .AddEmbeddedMqttBroker(b => b.Port = 0);
        services.AddMqttTransport(coordinator: o => o.Federation = "di").AddEmbeddedMqttBroker(b => b.Port = 0);
        Assert.Single(services, d => d.ServiceType == typeof(IMqttBrokerHost));
        Assert.Single(services, d => d.ServiceType == typeof(ICoordinatorTransport));
        Assert.Single(services, d => d.ServiceType == typeof(IWorkerTransport));
        await using ServiceProvider provider = services.BuildServiceProvider();
        var coordinator = Assert.IsType<MqttCoordinatorTransport>(provider.GetRequiredService<ICoordinatorTransport>());
        Assert.IsType<EmbeddedMqttBrokerHost>(coordinator.BrokerHost);
        Assert.IsType<MqttWorkerTransport>(provider.GetRequiredService<IWorkerTransport>());
    }

    [Fact]
    public async Task AddMqttTransport_CoordinatorWithoutBrokerUriOrHost_FailsValidation()
    {
        var services = new ServiceCollection();
        services.AddMqttTransport(coordinator: o => o.Federation = "di");
        await using ServiceProvider provider = services.BuildServiceProvider();
        var error = Assert.Throws<ArgumentException>(() => provider.GetRequiredService<IOptions<MqttCoordinatorOptions>>().Value);
        Assert.Contains("BrokerUri", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddMqttTransport_BrokerUriAndEmbeddedBroker_FailsValidation()
    {
        var services = new ServiceCollection();
        services.AddMqttTransport(coordinator: o => { o.Federation = "di"; o.BrokerUri = new Uri("mqtt://127.0.0.1:1883"); }).AddEmbeddedMqttBroker(b => b.Port = 0);
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Throws<ArgumentException>(() => provider.GetRequiredService<IOptions<MqttCoordinatorOptions>>().Value);
    }

    [Fact]
    public async Task AddGrpcCoordinatorTransport_ResolvesKestrelCoordinator()
    {
        var services = new ServiceCollection();
        services.AddGrpcCoordinatorTransport(o => { o.Port = 0; o.AllowPlainText = true; });
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.IsType<FedEdge.Transport.Grpc.GrpcCoordinatorTransport>(provider.GetRequiredService<ICoordinatorTransport>());
        Assert.Null(provider.GetService<IWorkerTransport>());
    }

    [Fact]
    public async Task AddGrpcTransport_WorkerRole_ResolvesGrpcWorker()
    {
        var services = new ServiceCollection();
        services.AddGrpcTransport(worker: o => { o.Address = new Uri("http://127.0.0.1:50051"); o.DeviceId = "d1"; o.Token = "t"; });
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.IsType<FedEdge.Transport.Grpc.GrpcWorkerTransport>(provider.GetRequiredService<IWorkerTransport>());
        Assert.Null(provider.GetService<ICoordinatorTransport>());
    }

    [Fact]
    public async Task AddMqttTransport_InvalidOptions_FailValidation()
    {
        var services = new ServiceCollection();
        services.AddMqttTransport(coordinator: o => o.Federation = "bad/name");
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IOptions<MqttCoordinatorOptions>>().Value);
    }

    [Fact]
    public async Task EmbeddedBrokerComposedAsReadmeShows_WorkerJoins_AndDisposingTwiceIsSafe()
    {
        var services = new ServiceCollection();
        services.AddMqttTransport(coordinator: o => o.Federation = "di-run").AddEmbeddedMqttBroker(b => { b.Port = 0; b.DevicePasswords["pi-1"] = "secret-1"; });
        ServiceProvider provider = services.BuildServiceProvider();
        var coordinator = (MqttCoordinatorTransport)provider.GetRequiredService<ICoordinatorTransport>();
        var handler = new RecordingCoordinator();
        await coordinator.StartAsync(handler);
        var host = Assert.IsType<EmbeddedMqttBrokerHost>(coordinator.BrokerHost);
        Assert.Equal(host.Broker!.Uri, coordinator.BrokerUri);

        var workers = new ServiceCollection();
        workers.AddMqttTransport(worker: o => { o.Federation = "di-run"; o.DeviceId = "pi-1"; o.Password = "secret-1"; o.BrokerUri = coordinator.BrokerUri; });
        await using (ServiceProvider device = workers.BuildServiceProvider())
        {
            IWorkerTransport worker = device.GetRequiredService<IWorkerTransport>();
            await worker.ConnectAsync(new RecordingWorker());
            Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "pi-1" })).Accepted);
        }

        // The transport stops its broker; the container then disposes the same host again.
        await coordinator.DisposeAsync();
        Assert.Null(host.Broker);
        await provider.DisposeAsync();
    }

    [Fact]
    public async Task GrpcCoordinatorComposedAsReadmeShows_WorkerJoins()
    {
        var services = new ServiceCollection();
        services.AddGrpcCoordinatorTransport(o => { o.Port = 0; o.AllowPlainText = true; o.DeviceTokens["pi-1"] = "tok-1"; });
        await using ServiceProvider provider = services.BuildServiceProvider();
        var coordinator = (FedEdge.Transport.Grpc.GrpcCoordinatorTransport)provider.GetRequiredService<ICoordinatorTransport>();
        await coordinator.StartAsync(new RecordingCoordinator());

        var workers = new ServiceCollection();
        workers.AddGrpcTransport(worker: o => { o.Address = coordinator.Address; o.DeviceId = "pi-1"; o.Token = "tok-1"; });
        await using ServiceProvider device = workers.BuildServiceProvider();
        IWorkerTransport worker = device.GetRequiredService<IWorkerTransport>();
        await worker.ConnectAsync(new RecordingWorker());
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "pi-1" })).Accepted);
    }
}
