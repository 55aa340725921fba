using System.Reflection;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Tests;

/// <summary>The compiled packages keep the split: a device's FedEdge.Transport loads no web server or broker assembly.</summary>
public sealed class PackageDependencyTests
{
    private static readonly string[] ServerSide = ["Microsoft.AspNetCore", "Grpc.AspNetCore", "MQTTnet.Server"];

    [Fact]
    public void TransportAssembly_ReferencesNoServerAssembly()
    {
        AssemblyName[] references = typeof(MqttWorkerTransport).Assembly.GetReferencedAssemblies();
        Assert.Contains(references, r => r.Name == "MQTTnet");
        Assert.DoesNotContain(references, r => ServerSide.Any(s => r.Name!.StartsWith(s, StringComparison.Ordinal)));
        Assert.Equal(new[] { "FedEdge.Core" }, references.Select(r => r.Name!).Where(n => n.StartsWith("FedEdge", StringComparison.Ordinal)));
    }

    [Fact]
    public void HostingAssembly_ReferencesCoreAndTransportOnly()
    {
        AssemblyName[] references = typeof(EmbeddedMqttBroker).Assembly.GetReferencedAssemblies();
        Assert.Equal(new[] { "FedEdge.Core", "FedEdge.Transport" }, references.Select(r => r.Name!).Where(n => n.StartsWith("FedEdge", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.Contains(references, r => r.Name == "MQTTnet.Server");
    }

    [Fact]
    public void TransportAssembly_DefinesNoServerType()
    {
        Assembly transport = typeof(MqttWorkerTransport).Assembly;
        Assert.Null(transport.GetType("FedEdge.Transport.Mqtt.EmbeddedMqttBroker"));
        Assert.Null(transport.GetType("FedEdge.Transport.Grpc.GrpcCoordinatorTransport"));
    }
}
