using FedEdge.Transport.Mqtt;
using MQTTnet;

namespace FedEdge.Transport.Tests;

/// <summary>A device that speaks raw MQTT 5 to a coordinator's embedded broker (for hostile-input tests that bypass the worker transport).</summary>
internal static class RawMqttDevice
{
    /// <summary>Connects as <paramref name="deviceId"/> with its broker password and the device's client id.</summary>
    public static async Task<IMqttClient> ConnectAsync(MqttCoordinatorTransport coordinator, string federation, string deviceId, string password)
    {
        IMqttClient client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(coordinator.BrokerUri!.Host, coordinator.BrokerUri.Port)
            .WithClientId(MqttTopicScheme.DeviceClientId(federation, deviceId))
            .WithCredentials(deviceId, password)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .Build());
        return client;
    }
}
