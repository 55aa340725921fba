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
            coordinator: o => { o.Federation = "di"; o.EmbeddedBroker = new EmbeddedMqttBrokerOptions { Port = 0 }; },
            worker: o => { o.Federation = "di"; o.DeviceId = "d1"; o.Password = "p"; o.BrokerUri = new Uri("mqtt://127.0.0.1:1883"); });
        services.AddMqttTransport(coordinator: o => o.Federation = "di");
        Assert.Single(services, d => d.ServiceType == typeof(ICoordinatorTransport));
        Assert.Single(services, d => d.ServiceType == typeof(IWorkerTransport));
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.IsType<MqttCoordinatorTransport>(provider.GetRequiredService<ICoordinatorTransport>());
        Assert.IsType<MqttWorkerTransport>(provider.GetRequiredService<IWorkerTransport>());
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
