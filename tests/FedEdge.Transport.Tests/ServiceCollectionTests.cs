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
}
