using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace FedEdge.Transport.Mqtt;

/// <summary>The arguments of a device credential check.</summary>
public readonly struct DeviceCredentialArguments
{
    /// <summary>Creates the arguments.</summary>
    public DeviceCredentialArguments(string deviceId, string password, string clientId)
    {
        DeviceId = deviceId;
        Password = password;
        ClientId = clientId;
    }

    /// <summary>The MQTT user name, which is the device id.</summary>
    public string DeviceId { get; }

    /// <summary>The password presented.</summary>
    public string Password { get; }

    /// <summary>The MQTT client id.</summary>
    public string ClientId { get; }
}

/// <summary>The embedded broker's mutual-TLS listener.</summary>
public sealed class EmbeddedBrokerTlsOptions
{
    /// <summary>The broker's server certificate with its private key (e.g. from <c>fededge pki issue --server HOST</c>).</summary>
    public required X509Certificate2 ServerCertificate { get; init; }

    /// <summary>Checks every client certificate: chain to the federation CA, validity period, CRL; the device id comes from it.</summary>
    public required CertificateValidator Validator { get; init; }

    /// <summary>The TLS port; 0 picks a free one (read it from <see cref="EmbeddedMqttBroker.TlsPort"/>).</summary>
    public int Port { get; init; } = 8883;

    /// <summary>
    /// Also accept devices with passwords on the plain-text listener (opt-in, for tests). Without it the plain
    /// listener serves only the coordinator's own loopback connection (authenticated by a random secret).
    /// </summary>
    public bool AllowPlainDevices { get; init; }
}

/// <summary>Options of the <see cref="EmbeddedMqttBroker"/>.</summary>
public sealed class EmbeddedMqttBrokerOptions
{
    /// <summary>The address to listen on: loopback by default; <see cref="IPAddress.Any"/> to serve a LAN.</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>The TCP port; 0 picks a free one (read it from <see cref="EmbeddedMqttBroker.Port"/>).</summary>
    public int Port { get; set; } = 1883;

    /// <summary>Device ids and their passwords. Compared in constant time.</summary>
    public IDictionary<string, string> DevicePasswords { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>A mutual-TLS listener for devices (identity from the verified client certificate); null for none.</summary>
    public EmbeddedBrokerTlsOptions? Tls { get; set; }

    /// <summary>An additional credential check for devices not in <see cref="DevicePasswords"/> (e.g. a device registry); null refuses them.</summary>
    public Func<DeviceCredentialArguments, ValueTask<bool>>? AuthenticateDevice { get; set; }

    /// <summary>Throws when a setting is invalid.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(BindAddress);
        ArgumentOutOfRangeException.ThrowIfNegative(Port, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        foreach (string id in DevicePasswords.Keys)
        {
            if (!MqttTopicScheme.IsValidSegment(id))
            {
                throw new ArgumentException($"Device id '{id}' cannot be a topic level.", nameof(DevicePasswords));
            }
        }
    }
}

/// <summary>
/// FedEdge's zero-setup MQTT broker (MQTTnet's server) for one federation. It authenticates every client
/// (devices by user name = device id and password; the coordinator by a random secret created at start)
/// and binds each credential to one client id (<see cref="MqttTopicScheme.DeviceClientId"/>, <see cref="CoordinatorClientId"/>),
/// so no client takes over another party's session; it enforces the topic ACL of <see cref="MqttTopicScheme"/>: a device publishes only on its own join,
/// status and update topics and subscribes only to its inbox and the model.
/// </summary>
public sealed class EmbeddedMqttBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly EmbeddedMqttBrokerOptions _options;
    private readonly string _federation;
    private readonly string _root;
    private readonly byte[] _coordinatorSecretHash;
    private readonly ILogger _logger;
    private readonly System.Collections.Concurrent.ConcurrentQueue<CertificateValidation> _refused;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, X509Certificate2> _clientCertificates = new(StringComparer.Ordinal);

    private EmbeddedMqttBroker(MqttServer server, EmbeddedMqttBrokerOptions options, string federation, int port, int? tlsPort, string coordinatorPassword, ILogger logger, System.Collections.Concurrent.ConcurrentQueue<CertificateValidation> refused)
    {
        _refused = refused;
        TlsPort = tlsPort;
        _server = server;
        _options = options;
        _federation = federation;
        _root = MqttTopicScheme.Root(federation);
        Port = port;
        CoordinatorPassword = coordinatorPassword;
        _coordinatorSecretHash = SHA256.HashData(Encoding.UTF8.GetBytes(coordinatorPassword));
        _logger = logger;
        _server.ValidatingConnectionAsync += ValidateConnectionAsync;
        _server.InterceptingPublishAsync += InterceptPublishAsync;
        _server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
        if (options.Tls is { } tls)
        {
            tls.Validator.CrlReloaded += OnCrlReloaded;
        }
    }

    /// <summary>The user name the coordinator connects with.</summary>
    public static string CoordinatorUsername => "fededge-coordinator";

    /// <summary>The client id of the coordinator's control connection (<see cref="MqttTopicScheme.CoordinatorClientId"/>); no device may use it.</summary>
    public string CoordinatorClientId => MqttTopicScheme.CoordinatorClientId(_federation);

    /// <summary>The client id of the coordinator's update connection (<see cref="MqttTopicScheme.CoordinatorUpdatesClientId"/>); bound to the coordinator credential too.</summary>
    public string CoordinatorUpdatesClientId => MqttTopicScheme.CoordinatorUpdatesClientId(CoordinatorClientId);

    /// <summary>The port the broker listens on.</summary>
    public int Port { get; }

    /// <summary>
    /// The most recent client certificates the TLS listener refused in the handshake (at most 256, oldest first), each
    /// with its typed reason (also logged).
    /// </summary>
    public IReadOnlyList<CertificateValidation> RefusedCertificates => [.. _refused];

    /// <summary>The mutual-TLS port, when <see cref="EmbeddedMqttBrokerOptions.Tls"/> is set.</summary>
    public int? TlsPort { get; }

    /// <summary><c>mqtts://HOST:TlsPort</c> for devices (HOST: the server certificate's host, as given), or null without TLS.</summary>
    public Uri? TlsUri(string host) => TlsPort is int p ? new Uri($"mqtts://{host}:{p}") : null;

    /// <summary>The broker's URI for clients on this machine (or on the LAN when bound to any address).</summary>
    public Uri Uri => new($"mqtt://{(_options.BindAddress.Equals(IPAddress.Any) ? "127.0.0.1" : _options.BindAddress.ToString())}:{Port}");

    /// <summary>The coordinator's secret, created at start.</summary>
    internal string CoordinatorPassword { get; }

    /// <summary>Starts a broker for <paramref name="federation"/>.</summary>
    public static async Task<EmbeddedMqttBroker> StartAsync(string federation, EmbeddedMqttBrokerOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        MqttTopicScheme.Root(federation);
        int port = options.Port == 0 ? FreePort(options.BindAddress) : options.Port;
        ILogger logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<EmbeddedMqttBroker>();
        MqttServerOptionsBuilder builder = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(options.Tls is { AllowPlainDevices: false } ? IPAddress.Loopback : options.BindAddress)
            .WithDefaultEndpointPort(port)
            .WithPersistentSessions();
        int? tlsPort = null;
        var refused = new System.Collections.Concurrent.ConcurrentQueue<CertificateValidation>();
        if (options.Tls is { } tls)
        {
            tlsPort = tls.Port == 0 ? FreePort(options.BindAddress) : tls.Port;
            builder = builder.WithEncryptedEndpoint()
                .WithEncryptedEndpointBoundIPAddress(options.BindAddress)
                .WithEncryptedEndpointPort(tlsPort.Value)
                .WithEncryptionCertificate(tls.ServerCertificate)
                .WithEncryptionSslProtocol(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
                .WithClientCertificate((_, certificate, _, _) => CheckClientCertificate(tls.Validator, certificate, logger, refused));
        }

        MqttServerOptions serverOptions = builder.Build();
        MqttServer server = new MqttServerFactory().CreateMqttServer(serverOptions);
        string secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var broker = new EmbeddedMqttBroker(server, options, federation, port, tlsPort, secret, logger, refused);
        cancellationToken.ThrowIfCancellationRequested();
        await server.StartAsync().ConfigureAwait(false);
        Log.BrokerStarted(logger, broker.Uri.ToString(), federation);
        return broker;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_options.Tls is { } tls)
        {
            tls.Validator.CrlReloaded -= OnCrlReloaded;
        }

        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }

    internal static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>
    /// Drops every session whose certificate the reloaded CRL revokes (the device is revoked while connected). Its
    /// client's reconnection then fails in the TLS handshake (Revoked); each drop is logged and kept with the refusals.
    /// </summary>
    private void OnCrlReloaded(object? sender, EventArgs e)
    {
        if (_options.Tls is not { } tls)
        {
            return;
        }

        var revoked = new List<(string ClientId, X509Certificate2 Certificate)>();
        foreach ((string clientId, X509Certificate2 certificate) in _clientCertificates)
        {
            if (tls.Validator.IsRevoked(certificate))
            {
                revoked.Add((clientId, certificate));
            }
        }

        if (revoked.Count > 0)
        {
            _ = DisconnectRevokedAsync(tls.Validator, revoked);
        }
    }

    private async Task DisconnectRevokedAsync(CertificateValidator validator, List<(string ClientId, X509Certificate2 Certificate)> revoked)
    {
        try
        {
            IList<MqttClientStatus> clients = await _server.GetClientsAsync().ConfigureAwait(false);
            foreach ((string clientId, X509Certificate2 certificate) in revoked)
            {
                CertificateValidation refusal = validator.Validate(certificate, CertificateRole.Device);
                refusal = refusal with { Reason = refusal.Reason + "; its connection was closed" };
                Log.CertificateRefused(_logger, refusal.Refusal.ToString(), refusal.Reason);
                Record(_refused, refusal);
                if (clients.FirstOrDefault(c => string.Equals(c.Id, clientId, StringComparison.Ordinal)) is { } client)
                {
                    await client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized, ReasonString = "The device's certificate has been revoked." }).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or MQTTnet.Exceptions.MqttCommunicationException)
        {
            // The broker is stopping, or the client went away by itself: its next connection meets the reloaded CRL.
            Log.CertificateRefused(_logger, CertificateRefusal.Revoked.ToString(), "a revoked device's connection could not be closed: " + ex.Message);
        }
    }

    private static bool CheckClientCertificate(CertificateValidator validator, X509Certificate? certificate, ILogger logger, System.Collections.Concurrent.ConcurrentQueue<CertificateValidation> refused)
    {
        using X509Certificate2? leaf = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        CertificateValidation result = validator.Validate(leaf, CertificateRole.Device);
        if (!result.IsValid)
        {
            Log.CertificateRefused(logger, result.Refusal.ToString(), result.Reason);
            Record(refused, result);
        }

        return result.IsValid;
    }

    private static void Record(System.Collections.Concurrent.ConcurrentQueue<CertificateValidation> refused, CertificateValidation refusal)
    {
        refused.Enqueue(refusal);
        while (refused.Count > 256 && refused.TryDequeue(out _))
        {
        }
    }

    private static bool SecretEquals(string presented, byte[] expectedHash) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), expectedHash);

    // Every credential is bound to one client id (the persistent session key): a device to
    // MqttTopicScheme.DeviceClientId of its user name, the coordinator credential to the reserved
    // coordinator id. An admitted device presenting another party's id would otherwise take over that
    // session (MQTT's rule for a duplicate client id) and receive its queued messages.
    private async Task ValidateConnectionAsync(ValidatingConnectionEventArgs args)
    {
        string user = args.UserName ?? string.Empty;
        string password = args.Password ?? string.Empty;
        bool ok;
        string? boundClientId = null;
        if (_options.Tls is { } tls && args.ClientCertificate is { } presented)
        {
            // Mutual TLS: the handshake verified the certificate; the identity is its device id, and the MQTT user
            // name (which every ACL check uses) must be that id.
            string? deviceId = tls.Validator.Validate(presented, CertificateRole.Device).DeviceId;
            if (deviceId is null || !string.Equals(deviceId, user, StringComparison.Ordinal) || !MqttTopicScheme.IsValidSegment(user))
            {
                Log.ConnectionRefused(_logger, args.ClientId, user, $"{CertificateRefusal.IdentityMismatch}: the user name is not the certificate's device id '{deviceId}'");
                args.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                args.ReasonString = $"The certificate is device '{deviceId}'; connect with that user name.";
                return;
            }

            ok = true;
            boundClientId = MqttTopicScheme.DeviceClientId(_federation, user);

            // Kept for the connection's lifetime: a CRL reloaded later (CertificateValidator.ReloadCrl) refuses its next message.
            _clientCertificates[args.ClientId] = presented;
        }
        else if (_options.Tls is { AllowPlainDevices: false } && !string.Equals(user, CoordinatorUsername, StringComparison.Ordinal))
        {
            Log.ConnectionRefused(_logger, args.ClientId, user, "plain-text device connections are not accepted; connect with mqtts:// and a device certificate");
            args.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            return;
        }
        else if (string.Equals(user, CoordinatorUsername, StringComparison.Ordinal))
        {
            ok = SecretEquals(password, _coordinatorSecretHash);
            boundClientId = CoordinatorClientId;
        }
        else if (!MqttTopicScheme.IsValidSegment(user))
        {
            ok = false;
        }
        else
        {
            if (_options.DevicePasswords.TryGetValue(user, out string? expected))
            {
                ok = SecretEquals(password, SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
            }
            else
            {
                ok = _options.AuthenticateDevice is { } check && await check(new DeviceCredentialArguments(user, password, args.ClientId)).ConfigureAwait(false);
            }

            boundClientId = MqttTopicScheme.DeviceClientId(_federation, user);
        }

        if (!ok)
        {
            Log.ConnectionRefused(_logger, args.ClientId, user, "bad user name or password");
            args.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return;
        }

        // The coordinator credential also owns its update connection's id; no device may take either.
        bool coordinatorUpdates = IsCoordinator(user) && string.Equals(args.ClientId, CoordinatorUpdatesClientId, StringComparison.Ordinal);
        if ((!coordinatorUpdates && !string.Equals(args.ClientId, boundClientId, StringComparison.Ordinal))
            || (!IsCoordinator(user) && (string.Equals(boundClientId, CoordinatorClientId, StringComparison.Ordinal) || string.Equals(boundClientId, CoordinatorUpdatesClientId, StringComparison.Ordinal))))
        {
            Log.ConnectionRefused(_logger, args.ClientId, user, $"client id is bound to '{boundClientId}'");
            args.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
            args.ReasonString = $"User '{user}' must connect with client id '{boundClientId}'.";
        }
    }

    private Task InterceptPublishAsync(InterceptingPublishEventArgs args)
    {
        string topic = args.ApplicationMessage.Topic;
        string? user = args.UserName;
        if (string.IsNullOrEmpty(args.ClientId) || IsCoordinator(user) && topic.StartsWith(_root + "/", StringComparison.Ordinal))
        {
            return Task.CompletedTask;
        }

        if (_options.Tls is { } tls && _clientCertificates.TryGetValue(args.ClientId, out X509Certificate2? certificate) && tls.Validator.IsRevoked(certificate))
        {
            // Revoked while connected (the CRL was reloaded): nothing more from this device gets through.
            CertificateValidation revoked = tls.Validator.Validate(certificate, CertificateRole.Device);
            Log.CertificateRefused(_logger, revoked.Refusal.ToString(), revoked.Reason);
            Record(_refused, revoked);
            args.ProcessPublish = false;
            args.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            args.Response.ReasonString = "The device's certificate has been revoked.";
            return Task.CompletedTask;
        }

        bool allowed = user is not null
            && MqttTopicScheme.TryParseDeviceTopic(_federation, topic, out string device, out string kind)
            && string.Equals(device, user, StringComparison.Ordinal)
            && kind is "join" or "status" or "update" or "protocol"
            && !args.ApplicationMessage.Retain;
        if (!allowed)
        {
            Log.AclDenied(_logger, "publish", topic, user ?? "(anonymous)");
            args.ProcessPublish = false;
            args.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
        }

        return Task.CompletedTask;
    }

    private Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs args)
    {
        string filter = args.TopicFilter.Topic;
        string? user = args.UserName;
        bool allowed;
        if (IsCoordinator(user))
        {
            allowed = filter.StartsWith(_root + "/", StringComparison.Ordinal);
        }
        else
        {
            string model = MqttTopicScheme.ModelFilter(_federation);
            allowed = user is not null && MqttTopicScheme.IsValidSegment(user)
                && (string.Equals(filter, MqttTopicScheme.Inbox(_federation, user), StringComparison.Ordinal)
                    || string.Equals(filter, MqttTopicScheme.ProtocolInbox(_federation, user), StringComparison.Ordinal)
                    || string.Equals(filter, model, StringComparison.Ordinal)
                    || (filter.StartsWith(model[..^1], StringComparison.Ordinal) && filter.IndexOfAny(['+', '#']) < 0));
        }

        if (!allowed)
        {
            Log.AclDenied(_logger, "subscribe", filter, user ?? "(anonymous)");
            args.ProcessSubscription = false;
            args.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        }

        return Task.CompletedTask;
    }

    private static bool IsCoordinator(string? user) => string.Equals(user, CoordinatorUsername, StringComparison.Ordinal);
}
