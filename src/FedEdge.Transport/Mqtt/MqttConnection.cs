using System.Buffers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using FedEdge.Messaging;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;

namespace FedEdge.Transport.Mqtt;

/// <summary>
/// One MQTT client with a persistent session, automatic reconnect with exponential back-off and jitter,
/// re-subscription after reconnect, QoS 1 publishes that wait for the connection, and an inbound queue
/// drained by one consumer (so handlers never run on MQTTnet's receive loop).
/// </summary>
internal sealed class MqttConnection : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly MqttTransportOptionsBase _options;
    private readonly string _clientId;
    private readonly string _username;
    private readonly string _host;
    private readonly int _port;
    private readonly bool _useTls;
    private readonly IReadOnlyList<string> _filters;
    private readonly Func<(string Topic, byte[] Will)?> _willFactory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TransportStatistics _statistics;
    private readonly Func<string, string?>? _deviceOfTopic;
    private readonly Channel<Inbound> _inbound = Channel.CreateUnbounded<Inbound>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _reconnectLoop;
    private bool _reconnecting;
    private bool _everConnected;
    private Task? _consumer;
    private int _disposed;
    private int _queued;
    private int _connects;
    private bool _aborted;
    private Task _aborting = Task.CompletedTask;

    public MqttConnection(
        MqttTransportOptionsBase options,
        Uri broker,
        string clientId,
        string username,
        IReadOnlyList<string> filters,
        Func<(string Topic, byte[] Will)?> willFactory,
        TransportStatistics statistics,
        TimeProvider time,
        ILogger logger,
        Func<string, string?>? deviceOfTopic = null)
    {
        _deviceOfTopic = deviceOfTopic;
        _options = options;
        _clientId = clientId;
        _username = username;
        _host = broker.Host;
        _useTls = broker.Scheme == "mqtts";
        _port = broker.IsDefaultPort || broker.Port <= 0 ? (_useTls ? 8883 : 1883) : broker.Port;
        _filters = filters;
        _willFactory = willFactory;
        _statistics = statistics;
        _time = time;
        _logger = logger;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += OnDisconnectedAsync;
    }

    public string Endpoint => $"{(_useTls ? "mqtts" : "mqtt")}://{_host}:{_port}";

    public bool IsConnected => _client.IsConnected;

    /// <summary>How many times the connection was (re-)established.</summary>
    public int ConnectCount => Volatile.Read(ref _connects);

    /// <summary>Received messages waiting for the handler (at most <see cref="MqttTransportOptionsBase.InboundQueueCapacity"/>).</summary>
    public int InboundQueued => Volatile.Read(ref _queued);

    /// <summary>
    /// Connects and starts delivering inbound messages to <paramref name="onMessage"/>. While the broker cannot be
    /// reached (down, restarting, network gone) it either fails with a <see cref="BrokerUnreachableException"/> or, with
    /// <see cref="MqttTransportOptionsBase.WaitForBroker"/>, retries with capped exponential back-off until
    /// <paramref name="cancellationToken"/> ends the wait; a broker that answers and refuses (credentials, client id,
    /// subscriptions) fails at once with a <see cref="TransportException"/>.
    /// </summary>
    public async Task StartAsync(Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage, CancellationToken cancellationToken)
    {
        _consumer ??= Task.Run(() => ConsumeAsync(onMessage), CancellationToken.None);
        TimeSpan delay = _options.ReconnectMinDelay;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await ConnectOnceAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (IsUnreachable(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (!_options.WaitForBroker)
                {
                    throw new BrokerUnreachableException($"The broker {Endpoint} cannot be reached by '{_username}': {ex.Message}", ex);
                }

                TimeSpan wait = delay * (0.8 + (Random.Shared.NextDouble() * 0.4));
                Log.BrokerUnreachable(_logger, _clientId, Endpoint, attempt, wait.TotalMilliseconds, ex.Message);
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
            }
        }
    }

    /// <summary>True for a failure to reach the broker (worth retrying), false for an answer that refuses us.</summary>
    private static bool IsUnreachable(Exception ex) => ex switch
    {
        TransportException => false,
        MqttConnectingFailedException => false,
        MqttCommunicationException or System.Net.Sockets.SocketException or IOException or TimeoutException => true,
        OperationCanceledException => true, // MQTTnet's own connect timeout; the caller's token is checked separately
        _ => false,
    };

    /// <summary>Publishes one QoS 1 message, waiting for a connection and retrying across reconnects until <see cref="MqttTransportOptionsBase.PublishTimeout"/>.</summary>
    public async Task PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.PublishTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _stopping.Token);
        MqttApplicationMessage message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain)
            .Build();
        while (true)
        {
            try
            {
                Task connected;
                lock (_gate)
                {
                    connected = _connected.Task;
                }

                await connected.WaitAsync(linked.Token).ConfigureAwait(false);
                MqttClientPublishResult result = await _client.PublishAsync(message, linked.Token).ConfigureAwait(false);
                if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                {
                    throw new TransportException($"The broker refused the publish on '{topic}': {result.ReasonCode} {result.ReasonString}.");
                }

                _statistics.RecordSent(payload.Length, _deviceOfTopic?.Invoke(topic));
                return;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Publishing on '{topic}' did not succeed within {_options.PublishTimeout.TotalSeconds:0.#} s (broker {Endpoint} unreachable).");
            }
            catch (Exception ex) when (ex is MqttCommunicationException or InvalidOperationException && !linked.IsCancellationRequested)
            {
                Log.PublishRetry(_logger, topic, ex.Message);
                lock (_gate)
                {
                    if (_connected.Task.IsCompleted && !_client.IsConnected)
                    {
                        _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }

                await Task.Delay(_options.ReconnectMinDelay, _time, linked.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Publishes a chunked message's frames without waiting for each PUBACK before the next frame: the frames go out
    /// back to back and their acknowledgements are awaited together (the receiver reassembles by chunk index).
    /// </summary>
    public Task PublishFramesAsync(string topic, IReadOnlyList<byte[]> frames, bool retain, CancellationToken cancellationToken) =>
        frames.Count == 1
            ? PublishAsync(topic, frames[0], retain, cancellationToken)
            : Task.WhenAll(frames.Select(frame => PublishAsync(topic, frame, retain, cancellationToken)));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _inbound.Writer.TryComplete();
        if (!_aborted && _client.IsConnected)
        {
            // A normal disconnect: the broker discards the last will. The broker may have gone away
            // between the IsConnected check and the DISCONNECT packet (e.g. the coordinator process
            // exited first); disposing must still release everything, so that failure is only logged.
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (MqttCommunicationException ex)
            {
                Log.DisconnectFailed(_logger, _clientId, ex.Message);
            }
        }

        Task? reconnectLoop;
        lock (_gate)
        {
            reconnectLoop = _reconnectLoop;
        }

        if (reconnectLoop is not null)
        {
            await reconnectLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_consumer is not null)
        {
            await _consumer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _client.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Drops the TCP connection without a DISCONNECT packet (tests: the broker then publishes the last will).</summary>
    internal async Task AbortAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _aborted = true;
        _client.Dispose();
    }

    private async Task ConnectOnceAsync(CancellationToken cancellationToken)
    {
        MqttClientOptionsBuilder builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_host, _port)
            .WithClientId(_clientId)
            .WithCredentials(_username, _options.Password ?? string.Empty)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithReceiveMaximum((ushort)_options.InboundQueueCapacity);
        if (_willFactory() is { } will)
        {
            builder = builder.WithWillTopic(will.Topic).WithWillPayload(will.Will).WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithWillRetain(false);
        }

        if (_useTls)
        {
            MqttTlsSettings tls = _options.Tls ?? new MqttTlsSettings();
            builder = builder.WithTlsOptions(o =>
            {
                o.UseTls();
                o.WithTargetHost(tls.TargetHost ?? _host);
                if (tls.ClientCertificate is not null)
                {
                    o.WithClientCertificates([tls.ClientCertificate]);
                }

                if (tls.TrustedRoot is not null)
                {
                    o.WithCertificateValidationHandler(args => ValidateAgainstRoot(args.Certificate, args.SslPolicyErrors, tls.TrustedRoot));
                }
            });
        }

        // MQTTnet gets no token of ours: a token handed to ConnectAsync switches its own timeout off, and one linked with
        // a timer was seen to leave clients connected but deaf after a broker restart. Our timer and the caller's
        // cancellation abort the attempt from outside instead (AbortConnect). On a timeout MQTTnet disposes the socket and
        // reports "connection closed", just as when a broker closes it to refuse a client certificate; only the timer
        // tells the two apart. MQTTnet's own timeout, twice ours, is a backstop that should never be the one to fire.
        // An aborted attempt leaves MQTTnet "disconnecting" until the abort is through; a new attempt must wait for it.
        await Volatile.Read(ref _aborting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        TimeSpan backstop = _options.ConnectTimeout * 2;
        long started = TimeProvider.System.GetTimestamp();
        Task<MqttClientConnectResult> connecting = _client.ConnectAsync(builder.WithTimeout(backstop).Build(), CancellationToken.None);
        using var timer = new CancellationTokenSource(_options.ConnectTimeout, _time);
        MqttClientConnectResult result;
        try
        {
            (MqttConnection, Task) target = (this, connecting);
            using (timer.Token.Register(static state => AbortConnect(((MqttConnection, Task))state!), target))
            using (cancellationToken.Register(static state => AbortConnect(((MqttConnection, Task))state!), target))
            {
                result = await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            if (timer.IsCancellationRequested && !_client.IsConnected)
            {
                // The CONNACK and the abort crossed: the attempt succeeded in MQTTnet but its connection was closed.
                throw new MqttCommunicationTimedOutException();
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is not OutOfMemoryException)
        {
            // The attempt goes on only until the abort reaches it; its outcome no longer matters.
            _ = connecting.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw new OperationCanceledException("The connection attempt was cancelled.", ex, cancellationToken);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException
            && (timer.IsCancellationRequested || IsTimeout(ex) || TimeProvider.System.GetElapsedTime(started) >= backstop))
        {
            // No CONNACK within the timeout (the TCP connection, and TLS if any, stood), or the TCP connect or the TLS
            // handshake itself stalled: nothing was refused, so this is retried like an unreachable broker.
            throw new TimeoutException($"The broker {Endpoint} did not answer the connection of '{_username}' within {_options.ConnectTimeout.TotalSeconds:0.###} s.", ex);
        }
        catch (Exception ex) when (_useTls && ex is not OutOfMemoryException && IsTlsRefusal(ex))
        {
            // The TLS handshake failed on a certificate, or the broker closed the connection as the handshake ended
            // (Mosquitto refusing a client certificate; MQTTnet then finds the socket no longer connected): final.
            throw new TransportException($"The broker {Endpoint} refused the connection of '{_username}' in the TLS handshake: {ex.Message}.", ex);
        }
        catch (MqttConnectingFailedException ex)
        {
            // A CONNACK that refuses, or the broker closing the connection before any CONNACK within the timeout
            // (Mosquitto refusing a revoked or foreign client certificate after the TLS 1.3 handshake): final.
            throw new TransportException($"The broker {Endpoint} refused the connection of '{_username}': {ex.Message}.", ex);
        }

        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new TransportException($"The broker {Endpoint} refused the connection of '{_username}': {result.ResultCode} {result.ReasonString}.");
        }

        // Subscribe after every connect: a broker that lost its state (restart without persistence)
        // reports no session, and re-subscribing an existing session is harmless.
        {
            var subscribe = new MqttClientSubscribeOptionsBuilder();
            foreach (string filter in _filters)
            {
                subscribe = subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            }

            MqttClientSubscribeResult subscribed = await _client.SubscribeAsync(subscribe.Build(), cancellationToken).ConfigureAwait(false);
            foreach (MqttClientSubscribeResultItem item in subscribed.Items)
            {
                if ((int)item.ResultCode > 2)
                {
                    throw new TransportException($"The broker {Endpoint} refused the subscription to '{item.TopicFilter.Topic}' for '{_username}': {item.ResultCode}.");
                }
            }
        }

        Interlocked.Increment(ref _connects);
        Log.Connected(_logger, _clientId, Endpoint, result.IsSessionPresent);
        lock (_gate)
        {
            _everConnected = true;
            _connected.TrySetResult();
        }
    }

    /// <summary>True when a failure's chain holds a timeout or a cancellation (MQTTnet's own timeout; it is given no token of ours).</summary>
    private static bool IsTimeout(Exception error)
    {
        for (Exception? ex = error; ex is not null; ex = ex.InnerException)
        {
            if (ex is MqttCommunicationTimedOutException or OperationCanceledException or TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// True when a TLS connect failed as a refusal: a certificate the handshake did not accept (either side's), or a
    /// socket the broker had already closed when the handshake ended. A broker that is down refuses the TCP connect
    /// instead, and one that does not answer runs into the timeout.
    /// </summary>
    private static bool IsTlsRefusal(Exception error)
    {
        for (Exception? ex = error; ex is not null; ex = ex.InnerException)
        {
            if (ex is System.Security.Authentication.AuthenticationException
                || ex is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.NotConnected })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Ends a connection attempt in flight (its timer fired, or the caller cancelled it): disconnecting a client that is
    /// still connecting closes its socket and cancels MQTTnet's internal token, so the attempt fails at once. A client
    /// that got connected meanwhile is left alone, and so is a later attempt (an abort that runs late finds its own attempt
    /// over). Runs on the thread pool, never on the thread that fired the token.
    /// </summary>
    private static void AbortConnect((MqttConnection Connection, Task Attempt) target) => Volatile.Write(ref target.Connection._aborting, Task.Run(async () =>
    {
        try
        {
            if (!target.Attempt.IsCompleted && !target.Connection._client.IsConnected)
            {
                await target.Connection._client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // MQTTnet says "not connected" after aborting; or the client is already disposed, or the socket already gone.
            Log.DisconnectFailed(target.Connection._logger, target.Connection._clientId, ex.Message);
        }
    }));

    private static bool ValidateAgainstRoot(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2 root)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    // Never blocks MQTTnet's delivery (its loop also reads the PUBACKs our own publishes wait for). Flow control is
    // MQTT 5's: the message is acknowledged only when the handler takes it from the queue, and the broker sends at
    // most Receive Maximum (= the queue's capacity) unacknowledged messages, so a conforming broker never fills the
    // queue; against one that ignores the window, the queue is still capped and the excess dropped (QoS 1 re-sends
    // and the engine's own re-sends recover what matters).
    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs args)
    {
        // The payload is copied: MQTTnet's buffer behind it does not stay ours once this handler returns (keeping it
        // without the copy broke MosquittoLongOutageTests: after a broker restart nothing reached the handler any more).
        byte[] payload = args.ApplicationMessage.Payload.ToArray();
        _statistics.RecordReceived(payload.Length, _deviceOfTopic?.Invoke(args.ApplicationMessage.Topic));
        // Reserve a slot only while one is free: the count never exceeds the capacity, not even for an instant.
        int queued;
        do
        {
            queued = Volatile.Read(ref _queued);
            if (queued >= _options.InboundQueueCapacity)
            {
                Log.InboundDropped(_logger, _clientId, queued, args.ApplicationMessage.Topic);
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _queued, queued + 1, queued) != queued);

        args.AutoAcknowledge = false;
        if (!_inbound.Writer.TryWrite(new Inbound(args.ApplicationMessage.Topic, payload, args)))
        {
            Interlocked.Decrement(ref _queued);
            await AcknowledgeAsync(args).ConfigureAwait(false);
        }
    }

    private async Task AcknowledgeAsync(MqttApplicationMessageReceivedEventArgs args)
    {
        try
        {
            await args.AcknowledgeAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The connection went away: the broker re-sends the unacknowledged message to the persistent session.
            // Any failure is logged and otherwise ignored here, whatever its type: MQTTnet throws a NullReferenceException when the ack of a
            // message from the previous connection meets a client between connections (its adapter already cleared),
            // and a failure that escaped here ended the consumer, leaving the connection deaf after a broker restart.
            Log.AcknowledgeFailed(_logger, _clientId, args.ApplicationMessage.Topic, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs args)
    {
        lock (_gate)
        {
            if (_connected.Task.IsCompleted && !_client.IsConnected)
            {
                _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            // Before the first connect, StartAsync owns the retries; while a loop runs, it owns them.
            if (!_everConnected || _stopping.IsCancellationRequested || _reconnecting)
            {
                return Task.CompletedTask;
            }

            _reconnecting = true;
            Log.Disconnected(_logger, _clientId, args.Reason.ToString());
            _reconnectLoop = Task.Run(ReconnectLoopAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    // Runs until connected (or disposed), however long the broker stays away: the delay doubles up to
    // ReconnectMaxDelay and stays there. It ends only while holding the gate with the client connected, so a
    // disconnect that races with the end of the loop always starts a new one.
    private async Task ReconnectLoopAsync()
    {
        TimeSpan delay = _options.ReconnectMinDelay;
        for (int attempt = 1; ; attempt++)
        {
            double jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
            try
            {
                await Task.Delay(delay * jitter, _time, _stopping.Token).ConfigureAwait(false);
                if (!_client.IsConnected)
                {
                    await ConnectOnceAsync(_stopping.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (IsUnreachable(ex) || ex is TransportException or InvalidOperationException)
            {
                // A refusal after an outage (e.g. a broker restarted with a stale ACL) is retried too: the
                // session's owner cannot do anything better than keep trying, and the log says why.
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
                Log.ReconnectFailed(_logger, _clientId, attempt, delay.TotalMilliseconds, ex.Message);
                continue;
            }

            lock (_gate)
            {
                if (_client.IsConnected || _stopping.IsCancellationRequested)
                {
                    if (_client.IsConnected)
                    {
                        _connected.TrySetResult();
                    }

                    _reconnecting = false;
                    return;
                }
            }
        }

        lock (_gate)
        {
            _reconnecting = false;
        }
    }

    private async Task ConsumeAsync(Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage)
    {
        await foreach ((string topic, ReadOnlyMemory<byte> payload, MqttApplicationMessageReceivedEventArgs args) in _inbound.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            Interlocked.Decrement(ref _queued);
            await AcknowledgeAsync(args).ConfigureAwait(false);
            try
            {
                await onMessage(topic, payload, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.HandlerFailed(_logger, topic, ex);
            }
        }
    }

    private readonly record struct Inbound(string Topic, ReadOnlyMemory<byte> Payload, MqttApplicationMessageReceivedEventArgs Args);
}
