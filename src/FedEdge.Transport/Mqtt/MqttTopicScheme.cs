using System.Text;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// FedEdge's MQTT topic scheme. Everything of a federation lives under <c>fededge/{federation}/</c>:
/// <list type="table">
/// <item><term><c>devices/{id}/join</c></term><description>device → coordinator: join request (QoS 1)</description></item>
/// <item><term><c>devices/{id}/status</c></term><description>device → coordinator: state and telemetry; also the device's last will (NotReady)</description></item>
/// <item><term><c>devices/{id}/update</c></term><description>device → coordinator: model update frames</description></item>
/// <item><term><c>devices/{id}/inbox</c></term><description>coordinator → device: join response, round tasks, receipts</description></item>
/// <item><term><c>model/{chunk}</c></term><description>coordinator → all: the global model, one retained frame per chunk index</description></item>
/// </list>
/// A device's MQTT user name is its device id; the broker's ACL lets it publish only on its own
/// <c>join</c>, <c>status</c> and <c>update</c> topics and read only its own <c>inbox</c> and the model,
/// so the device id in a topic is the authenticated sender.
/// </summary>
public static class MqttTopicScheme
{
    /// <summary>The prefix of every FedEdge topic.</summary>
    public const string Prefix = "fededge";

    /// <summary>The root of a federation's topics.</summary>
    public static string Root(string federation) => $"{Prefix}/{RequireSegment(federation, nameof(federation))}";

    /// <summary>A device's join topic.</summary>
    public static string Join(string federation, string deviceId) => $"{Device(federation, deviceId)}/join";

    /// <summary>A device's status topic (and last-will topic).</summary>
    public static string Status(string federation, string deviceId) => $"{Device(federation, deviceId)}/status";

    /// <summary>A device's update topic.</summary>
    public static string Update(string federation, string deviceId) => $"{Device(federation, deviceId)}/update";

    /// <summary>A device's inbox.</summary>
    public static string Inbox(string federation, string deviceId) => $"{Device(federation, deviceId)}/inbox";

    /// <summary>Where a device publishes opaque protocol payloads (secure aggregation) for the coordinator.</summary>
    public static string Protocol(string federation, string deviceId) => $"{Device(federation, deviceId)}/protocol";

    /// <summary>Where the coordinator publishes opaque protocol payloads for one device.</summary>
    public static string ProtocolInbox(string federation, string deviceId) => $"{Device(federation, deviceId)}/protocol-inbox";

    /// <summary>The retained topic of one global-model chunk.</summary>
    public static string ModelChunk(string federation, int index) => $"{Root(federation)}/model/{index}";

    /// <summary>The filter that matches every global-model chunk.</summary>
    public static string ModelFilter(string federation) => $"{Root(federation)}/model/#";

    /// <summary>
    /// The MQTT client id (persistent session key) of a device: bound to its user name, so the embedded broker
    /// refuses a device that presents another device's or the coordinator's client id.
    /// </summary>
    public static string DeviceClientId(string federation, string deviceId) =>
        $"{Prefix}-{RequireSegment(federation, nameof(federation))}-{RequireSegment(deviceId, nameof(deviceId))}";

    /// <summary>The MQTT client id reserved for the coordinator credential.</summary>
    public static string CoordinatorClientId(string federation) => $"{Prefix}-{RequireSegment(federation, nameof(federation))}-coordinator";

    /// <summary>
    /// The client id of the coordinator's second connection, which receives only model updates
    /// (<see cref="CoordinatorUpdateFilters"/>): its own session and inbound queue, so that heartbeats and joins never wait
    /// behind the round's bulk uploads. The embedded broker binds it to the coordinator credential like
    /// <see cref="CoordinatorClientId"/>; on an external broker it is the configured client id with <c>-updates</c> appended.
    /// </summary>
    public static string CoordinatorUpdatesClientId(string coordinatorClientId)
    {
        ArgumentException.ThrowIfNullOrEmpty(coordinatorClientId);
        return coordinatorClientId + "-updates";
    }

    /// <summary>The filters a coordinator subscribes to: every device-to-coordinator topic.</summary>
    public static IReadOnlyList<string> CoordinatorFilters(string federation) =>
        [.. CoordinatorControlFilters(federation), .. CoordinatorUpdateFilters(federation)];

    /// <summary>The filters of the coordinator's control connection: joins, statuses (heartbeats, last wills) and protocol payloads.</summary>
    public static IReadOnlyList<string> CoordinatorControlFilters(string federation) =>
        [$"{Root(federation)}/devices/+/join", $"{Root(federation)}/devices/+/status", $"{Root(federation)}/devices/+/protocol"];

    /// <summary>The filter of the coordinator's update connection (<see cref="CoordinatorUpdatesClientId"/>): model update frames.</summary>
    public static IReadOnlyList<string> CoordinatorUpdateFilters(string federation) =>
        [$"{Root(federation)}/devices/+/update"];

    /// <summary>True when <paramref name="value"/> can be one topic level (a federation name or device id).</summary>
    public static bool IsValidSegment(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= 128 && value.IndexOfAny(['/', '+', '#', '\0']) < 0 && !value.StartsWith('$') && value.Trim() == value;

    /// <summary>
    /// A Mosquitto ACL file for a federation: the coordinator user may read and write everything under the
    /// federation; every other user (a device, whose user name is its device id) may write only its own
    /// join/status/update topics and read only its inbox and the model.
    /// </summary>
    public static string MosquittoAcl(string federation, string coordinatorUser)
    {
        string root = Root(federation);
        RequireSegment(coordinatorUser, nameof(coordinatorUser));
        var acl = new StringBuilder();
        acl.Append("# FedEdge ACL for federation '").Append(federation).Append("'\n");
        acl.Append("user ").Append(coordinatorUser).Append('\n');
        acl.Append("topic readwrite ").Append(root).Append("/#\n\n");
        acl.Append("pattern write ").Append(root).Append("/devices/%u/join\n");
        acl.Append("pattern write ").Append(root).Append("/devices/%u/status\n");
        acl.Append("pattern write ").Append(root).Append("/devices/%u/update\n");
        acl.Append("pattern read ").Append(root).Append("/devices/%u/inbox\n");
        acl.Append("pattern write ").Append(root).Append("/devices/%u/protocol\n");
        acl.Append("pattern read ").Append(root).Append("/devices/%u/protocol-inbox\n");
        acl.Append("pattern read ").Append(root).Append("/model/#\n");
        return acl.ToString();
    }

    /// <summary>Parses a device topic into its device id and kind (join, status, update, inbox); false for other topics.</summary>
    public static bool TryParseDeviceTopic(string federation, string topic, out string deviceId, out string kind)
    {
        deviceId = string.Empty;
        kind = string.Empty;
        string prefix = Root(federation) + "/devices/";
        if (topic is null || !topic.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        string rest = topic[prefix.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || rest.IndexOf('/', slash + 1) >= 0)
        {
            return false;
        }

        deviceId = rest[..slash];
        kind = rest[(slash + 1)..];
        return IsValidSegment(deviceId) && kind is "join" or "status" or "update" or "inbox" or "protocol" or "protocol-inbox";
    }

    private static string Device(string federation, string deviceId) => $"{Root(federation)}/devices/{RequireSegment(deviceId, nameof(deviceId))}";

    private static string RequireSegment(string value, string name)
    {
        if (!IsValidSegment(value))
        {
            throw new ArgumentException($"'{value}' cannot be an MQTT topic level: it must be 1-128 characters without '/', '+', '#', NUL, a leading '$' or surrounding spaces.", name);
        }

        return value;
    }
}
