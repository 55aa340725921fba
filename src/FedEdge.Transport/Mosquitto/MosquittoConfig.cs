using System.Globalization;
using System.Text;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Transport.Mosquitto;

/// <summary>
/// Generates a Mosquitto 2 configuration for a federation that authenticates every client by its X.509 certificate:
/// one TLS listener with <c>require_certificate true</c> and <c>use_identity_as_username true</c> (the certificate's
/// CN, which <see cref="Security.FederationPki"/> sets to the device id, becomes the MQTT user name), no anonymous
/// clients, an optional CRL, and an ACL keyed by that identity: the coordinator reads and writes the federation's
/// topics; each device writes only its own join/status/update/protocol topics and reads only its inbox and the model.
/// </summary>
public sealed class MosquittoConfig
{
    /// <summary>The federation's name (the second topic level).</summary>
    public string Federation { get; set; } = "default";

    /// <summary>The address the TLS listener binds to.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>The TLS listener's port.</summary>
    public int Port { get; set; } = 8883;

    /// <summary>The federation CA certificate (PEM) client certificates must chain to.</summary>
    public string CaFile { get; set; } = "ca.crt";

    /// <summary>The broker's server certificate (PEM), e.g. from <c>fededge pki issue --server HOST</c>.</summary>
    public string CertFile { get; set; } = "broker.crt";

    /// <summary>The broker's private key (PEM).</summary>
    public string KeyFile { get; set; } = "broker.key";

    /// <summary>The federation CRL (PEM) from <c>fededge pki revoke</c>; null checks no revocation.</summary>
    public string? CrlFile { get; set; }

    /// <summary>The path the configuration names for the ACL file (write <see cref="RenderAcl"/> there).</summary>
    public string AclFile { get; set; } = "fededge.acl";

    /// <summary>The coordinator's identity: the CN of the certificate it connects with (for <c>--server HOST</c>, HOST).</summary>
    public string CoordinatorIdentity { get; set; } = "coordinator";

    /// <summary>Bridges from this broker to other brokers (a site's Mosquitto to the cloud's), appended to the configuration.</summary>
    public IList<MosquittoBridge> Bridges { get; } = [];

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!MqttTopicScheme.IsValidSegment(Federation))
        {
            throw new ArgumentException($"Federation '{Federation}' cannot be a topic level.", nameof(Federation));
        }

        if (!MqttTopicScheme.IsValidSegment(CoordinatorIdentity) || CoordinatorIdentity.Contains(' ', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Coordinator identity '{CoordinatorIdentity}' cannot be an MQTT user name in an ACL.", nameof(CoordinatorIdentity));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Port, 1, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        foreach ((string name, string? value) in new[] { (nameof(CaFile), CaFile), (nameof(CertFile), CertFile), (nameof(KeyFile), KeyFile), (nameof(AclFile), AclFile), (nameof(BindAddress), BindAddress), (nameof(CrlFile), CrlFile ?? "x") })
        {
            if (string.IsNullOrWhiteSpace(value) || value.IndexOfAny(['\n', '\r']) >= 0)
            {
                throw new ArgumentException($"{name} must be a single-line non-empty value.", name);
            }
        }
    }

    /// <summary>The <c>mosquitto.conf</c> text.</summary>
    public string RenderConfig()
    {
        Validate();
        var conf = new StringBuilder();
        conf.Append("# FedEdge federation '").Append(Federation).Append("': mutual TLS only, identity = certificate CN.\n");
        conf.Append("per_listener_settings false\n");
        conf.Append("allow_anonymous false\n");
        conf.Append("acl_file ").Append(AclFile).Append('\n');
        conf.Append("listener ").Append(Port.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(BindAddress).Append('\n');
        conf.Append("cafile ").Append(CaFile).Append('\n');
        conf.Append("certfile ").Append(CertFile).Append('\n');
        conf.Append("keyfile ").Append(KeyFile).Append('\n');
        if (CrlFile is not null)
        {
            conf.Append("crlfile ").Append(CrlFile).Append('\n');
        }

        conf.Append("tls_version tlsv1.2\n");
        conf.Append("require_certificate true\n");
        conf.Append("use_identity_as_username true\n");
        foreach (MosquittoBridge bridge in Bridges)
        {
            conf.Append('\n').Append(bridge.Render());
        }

        return conf.ToString();
    }

    /// <summary>The ACL file's text (see <see cref="MqttTopicScheme.MosquittoAcl"/>).</summary>
    public string RenderAcl()
    {
        Validate();
        return MqttTopicScheme.MosquittoAcl(Federation, CoordinatorIdentity);
    }

    /// <summary>Writes <c>mosquitto.conf</c> and the ACL file (at <see cref="AclFile"/>, relative to <paramref name="directory"/> when relative); returns the configuration's path.</summary>
    public string WriteTo(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        string acl = Path.Combine(directory, AclFile);
        File.WriteAllText(acl, RenderAcl());
        string path = Path.Combine(directory, "mosquitto.conf");
        File.WriteAllText(path, RenderConfig());
        return path;
    }
}
