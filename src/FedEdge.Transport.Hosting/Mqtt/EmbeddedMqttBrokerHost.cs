using Microsoft.Extensions.Logging;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// Hands an <see cref="EmbeddedMqttBroker"/> to an <see cref="MqttCoordinatorTransport"/>: the transport starts the broker
/// when it starts and stops it when it is disposed. <c>new MqttCoordinatorTransport(options, new EmbeddedMqttBrokerHost(brokerOptions))</c>.
/// </summary>
public sealed class EmbeddedMqttBrokerHost : IMqttBrokerHost
{
    private readonly EmbeddedMqttBrokerOptions _options;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _started;
    private bool _disposed;

    /// <summary>Creates the host; the options are validated here.</summary>
    public EmbeddedMqttBrokerHost(EmbeddedMqttBrokerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The running broker (its ports, TLS URI), or null before start and after dispose.</summary>
    public EmbeddedMqttBroker? Broker { get; private set; }

    /// <inheritdoc />
    public async ValueTask<MqttBrokerEndpoint> StartAsync(string federation, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException("The embedded broker was already started; one host serves one coordinator.");
            }

            _started = true;
            EmbeddedMqttBroker broker = await EmbeddedMqttBroker.StartAsync(federation, _options, _loggerFactory, cancellationToken).ConfigureAwait(false);
            Broker = broker;
            return new MqttBrokerEndpoint(broker.Uri, EmbeddedMqttBroker.CoordinatorUsername, broker.CoordinatorPassword, broker.CoordinatorClientId);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the broker; safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (Broker is { } broker)
            {
                Broker = null;
                await broker.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
