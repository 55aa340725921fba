using System.Globalization;
using System.Text;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Mosquitto;

/// <summary>
/// A Mosquitto bridge from a site's broker to the cloud's: the site's devices connect to their local Mosquitto, and the
/// bridge carries the federation's topics between it and the cloud broker the coordinator uses. Device to cloud: each
/// device's join, status, update and protocol topics; cloud to device: its inbox, protocol inbox and the (retained)
/// global model. Render the section with <see cref="Render"/> and append it to the site's <c>mosquitto.conf</c>, or add
/// the bridge to <see cref="MosquittoConfig.Bridges"/>.
/// </summary>
public sealed class MosquittoBridge
{
    /// <summary>The bridge's connection name (also the default remote client id suffix).</summary>
    public string Name { get; set; } = "fededge-site";

    /// <summary>The federation whose topics are carried.</summary>
    public string Federation { get; set; } = "default";

    /// <summary>The cloud broker's host name or address.</summary>
    public string RemoteHost { get; set; } = "127.0.0.1";

    /// <summary>The cloud broker's port (8883 with TLS).</summary>
    public int RemotePort { get; set; } = 8883;

    /// <summary>The user name the bridge connects to the cloud broker with; null for none (certificate identity).</summary>
    public string? RemoteUsername { get; set; }

    /// <summary>Its password; null for none. The rendered configuration then holds a secret: keep the file mode 0600.</summary>
    public string? RemotePassword { get; set; }

    /// <summary>CA certificate (PEM) the cloud broker's certificate must chain to; null connects without TLS (loopback tests only).</summary>
    public string? CaFile { get; set; }

    /// <summary>The bridge's client certificate (PEM) for a cloud broker that requires one; null for none.</summary>
    public string? CertFile { get; set; }

    /// <summary>The client certificate's private key (PEM).</summary>
    public string? KeyFile { get; set; }

    /// <summary>The devices of this site; empty carries every device's topics (<c>+</c>).</summary>
    public IList<string> Devices { get; } = [];

    /// <summary>QoS of the bridged subscriptions (1: at least once, which FedEdge's idempotent handlers expect).</summary>
    public int Qos { get; set; } = 1;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!MqttTopicScheme.IsValidSegment(Federation))
        {
            throw new ArgumentException($"Federation '{Federation}' cannot be a topic level.", nameof(Federation));
        }

        foreach ((string name, string? value, bool required) in new[] { (nameof(Name), Name, true), (nameof(RemoteHost), RemoteHost, true), (nameof(RemoteUsername), RemoteUsername, false), (nameof(RemotePassword), RemotePassword, false), (nameof(CaFile), CaFile, false), (nameof(CertFile), CertFile, false), (nameof(KeyFile), KeyFile, false) })
        {
            if ((required || value is not null) && (string.IsNullOrWhiteSpace(value) || value.Any(c => char.IsWhiteSpace(c) && c != ' ') || (name is nameof(Name) or nameof(RemoteHost) or nameof(RemoteUsername) && value.Contains(' ', StringComparison.Ordinal))))
            {
                throw new ArgumentException($"{name} must be a single-line non-empty value{(name is nameof(Name) or nameof(RemoteHost) or nameof(RemoteUsername) ? " without spaces" : string.Empty)}.", name);
            }
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(RemotePort, 1, nameof(RemotePort));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RemotePort, 65535, nameof(RemotePort));
        ArgumentOutOfRangeException.ThrowIfLessThan(Qos, 0, nameof(Qos));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Qos, 2, nameof(Qos));
        if ((CertFile is null) != (KeyFile is null))
        {
            throw new ArgumentException("CertFile and KeyFile go together.", nameof(CertFile));
        }

        if (CertFile is not null && CaFile is null)
        {
            throw new ArgumentException("A client certificate needs TLS: set CaFile too.", nameof(CaFile));
        }

        foreach (string device in Devices)
        {
            if (!MqttTopicScheme.IsValidSegment(device))
            {
                throw new ArgumentException($"Device '{device}' cannot be a topic level.", nameof(Devices));
            }
        }
    }

    /// <summary>The bridge section of <c>mosquitto.conf</c> (starts with <c>connection</c>).</summary>
    public string Render()
    {
        Validate();
        string qos = Qos.ToString(CultureInfo.InvariantCulture);
        var conf = new StringBuilder();
        conf.Append("# FedEdge bridge '").Append(Name).Append("': federation '").Append(Federation).Append("' between this site and the cloud broker.\n");
        conf.Append("connection ").Append(Name).Append('\n');
        conf.Append("address ").Append(RemoteHost).Append(':').Append(RemotePort.ToString(CultureInfo.InvariantCulture)).Append('\n');
        conf.Append("bridge_protocol_version mqttv50\n");
        conf.Append("remote_clientid fededge-bridge-").Append(Name).Append('\n');
        if (RemoteUsername is not null)
        {
            conf.Append("remote_username ").Append(RemoteUsername).Append('\n');
        }

        if (RemotePassword is not null)
        {
            conf.Append("remote_password ").Append(RemotePassword).Append('\n');
        }

        if (CaFile is not null)
        {
            conf.Append("bridge_cafile ").Append(CaFile).Append('\n');
            conf.Append("bridge_tls_version tlsv1.2\n");
        }

        if (CertFile is not null)
        {
            conf.Append("bridge_certfile ").Append(CertFile).Append('\n');
            conf.Append("bridge_keyfile ").Append(KeyFile).Append('\n');
        }

        conf.Append("cleansession false\n");
        conf.Append("try_private true\n");
        conf.Append("notifications false\n");
        conf.Append("restart_timeout 1 10\n");
        string root = MqttTopicScheme.Root(Federation);
        IEnumerable<string> devices = Devices.Count == 0 ? ["+"] : Devices;
        foreach (string device in devices)
        {
            foreach (string kind in new[] { "join", "status", "update", "protocol" })
            {
                conf.Append("topic ").Append(root).Append("/devices/").Append(device).Append('/').Append(kind).Append(" out ").Append(qos).Append('\n');
            }

            foreach (string kind in new[] { "inbox", "protocol-inbox" })
            {
                conf.Append("topic ").Append(root).Append("/devices/").Append(device).Append('/').Append(kind).Append(" in ").Append(qos).Append('\n');
            }
        }

        conf.Append("topic ").Append(root).Append("/model/# in ").Append(qos).Append('\n');
        return conf.ToString();
    }
}
