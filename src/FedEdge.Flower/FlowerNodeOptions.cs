namespace FedEdge.Flower;

/// <summary>Settings of a FedEdge node in a Flower federation; validated when the node starts.</summary>
public sealed class FlowerNodeOptions
{
    /// <summary>The SuperLink's Fleet API address, <c>https://host:9092</c> (or <c>http://</c> with <see cref="Insecure"/>).</summary>
    public Uri? SuperLink { get; set; }

    /// <summary>Plain-text HTTP/2 (h2c) instead of TLS, as Flower's <c>--insecure</c>. Only for tests and trusted networks.</summary>
    public bool Insecure { get; set; }

    /// <summary>PEM file of the CA certificate(s) the SuperLink's certificate must chain to; null uses the system's trust store.</summary>
    public string? RootCertificatePath { get; set; }

    /// <summary>
    /// PEM file of the node's EC P-384 private key (PKCS#8 or SEC1). With it the node uses that identity (registered
    /// beforehand with <c>flwr supernode register</c>, or by the node itself when <see cref="Register"/> is true);
    /// without it the node makes a fresh key and registers itself, as Flower's SuperNode does.
    /// </summary>
    public string? NodeKeyPath { get; set; }

    /// <summary>Whether the node calls RegisterNode before ActivateNode even with <see cref="NodeKeyPath"/> (a fresh key always registers).</summary>
    public bool Register { get; set; }

    /// <summary>The heartbeat interval promised to the SuperLink, 10 to 1800 seconds (Flower's bounds); default 30 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the node asks for new messages; default 3 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The deadline of each Fleet call; default 30 s.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the node keeps asking for an object the SuperLink has not made available yet; default 60 s.</summary>
    public TimeSpan ObjectWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range; the message names it.</exception>
    public void Validate()
    {
        if (SuperLink is null || !SuperLink.IsAbsoluteUri || (SuperLink.Scheme != Uri.UriSchemeHttp && SuperLink.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException("FlowerNodeOptions.SuperLink must be an absolute http:// or https:// address of the SuperLink's Fleet API.", nameof(SuperLink));
        }

        if (Insecure != (SuperLink.Scheme == Uri.UriSchemeHttp))
        {
            throw new ArgumentException("FlowerNodeOptions.SuperLink must be http:// exactly when Insecure is set (https:// otherwise).", nameof(SuperLink));
        }

        if (Insecure && RootCertificatePath is not null)
        {
            throw new ArgumentException("FlowerNodeOptions.RootCertificatePath cannot be combined with Insecure.", nameof(RootCertificatePath));
        }

        if (HeartbeatInterval < TimeSpan.FromSeconds(10) || HeartbeatInterval > TimeSpan.FromSeconds(1800))
        {
            throw new ArgumentException("FlowerNodeOptions.HeartbeatInterval must be between 10 and 1800 seconds (the SuperLink refuses others).", nameof(HeartbeatInterval));
        }

        if (PollInterval <= TimeSpan.Zero || CallTimeout <= TimeSpan.Zero || ObjectWait <= TimeSpan.Zero)
        {
            throw new ArgumentException("FlowerNodeOptions.PollInterval, CallTimeout and ObjectWait must be positive.", nameof(PollInterval));
        }
    }
}
