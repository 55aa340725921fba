namespace FedEdge.Transport.Mqtt;

/// <summary>
/// A broker that an <see cref="MqttCoordinatorTransport"/> starts with itself and stops when it is disposed,
/// such as the embedded broker of FedEdge.Transport.Hosting (<c>EmbeddedMqttBrokerHost</c>). A coordinator that
/// connects to an external broker (Mosquitto) sets <see cref="MqttTransportOptionsBase.BrokerUri"/> instead and
/// needs no host.
/// </summary>
public interface IMqttBrokerHost : IAsyncDisposable
{
    /// <summary>Starts the broker for <paramref name="federation"/> and returns where and as whom the coordinator connects.</summary>
    /// <exception cref="InvalidOperationException">The broker was already started.</exception>
    ValueTask<MqttBrokerEndpoint> StartAsync(string federation, CancellationToken cancellationToken = default);
}

/// <summary>Where a hosted broker listens and the credentials it reserves for the coordinator.</summary>
public sealed class MqttBrokerEndpoint
{
    /// <summary>Creates the endpoint.</summary>
    public MqttBrokerEndpoint(Uri uri, string username, string password, string clientId)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        Uri = uri;
        Username = username;
        Password = password;
        ClientId = clientId;
    }

    /// <summary>The broker's address (<c>mqtt://host:port</c>).</summary>
    public Uri Uri { get; }

    /// <summary>The coordinator's user name.</summary>
    public string Username { get; }

    /// <summary>The coordinator's password (a secret created when the broker starts).</summary>
    public string Password { get; }

    /// <summary>The client id the broker binds to the coordinator's credential.</summary>
    public string ClientId { get; }
}
