using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// The federation PKI of <c>simulate --processes</c>, as files the child processes are given: OUT/pki/ca.crt, ca.key
/// (mode 0600) and an empty CRL crl.pem; servers/NAME.crt|key for the cloud and each edge (host 127.0.0.1); and
/// devices/ID.crt|key for each device and each edge (an edge is a device towards the cloud). The same layout as
/// <c>fededge pki</c> writes, made with the library API.
/// </summary>
internal sealed class ProcessPki
{
    private static readonly TimeSpan Validity = TimeSpan.FromDays(1);

    private ProcessPki(string directory)
    {
        Directory = directory;
    }

    /// <summary>The PKI folder.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate file every process trusts.</summary>
    public string Authority => Path.Combine(Directory, "ca.crt");

    /// <summary>The CRL file coordinators and edges load.</summary>
    public string Crl => Path.Combine(Directory, "crl.pem");

    /// <summary>
    /// Creates the CA and issues a device certificate for each of <paramref name="deviceIds"/> and a server certificate
    /// for the cloud and each of <paramref name="servers"/>, replacing an earlier run's folder.
    /// </summary>
    public static ProcessPki Write(string outDirectory, IReadOnlyList<string> deviceIds, IReadOnlyList<string> servers, TimeProvider time)
    {
        var pki = new ProcessPki(Path.Combine(outDirectory, "pki"));
        if (System.IO.Directory.Exists(pki.Directory))
        {
            System.IO.Directory.Delete(pki.Directory, recursive: true);
        }

        System.IO.Directory.CreateDirectory(Path.Combine(pki.Directory, "devices"));
        System.IO.Directory.CreateDirectory(Path.Combine(pki.Directory, "servers"));
        DateTimeOffset now = time.GetUtcNow();
        DateTimeOffset issued = now.AddMinutes(-5);
        using X509Certificate2 authority = FederationPki.CreateCertificateAuthority("FedEdge simulation CA", issued, Validity);
        WritePair(authority, pki.Authority, Path.Combine(pki.Directory, "ca.key"));
        File.WriteAllText(pki.Crl, PemEncoding.WriteString("X509 CRL", FederationPki.CreateEmptyCrl(authority, now, Validity)));
        foreach (string id in deviceIds)
        {
            using X509Certificate2 device = FederationPki.IssueDevice(authority, new DeviceCertificateRequest { DeviceId = id, Validity = Validity }, issued);
            WritePair(device, pki.DeviceCertificate(id), pki.DeviceKey(id));
        }

        foreach (string name in servers.Prepend("cloud"))
        {
            using X509Certificate2 server = FederationPki.IssueServer(authority, SimulationPki.Host, issued, Validity);
            WritePair(server, Path.Combine(pki.Directory, "servers", name + ".crt"), Path.Combine(pki.Directory, "servers", name + ".key"));
        }

        return pki;
    }

    /// <summary>A device's (or, towards the cloud, an edge's) certificate file.</summary>
    public string DeviceCertificate(string id) => Path.Combine(Directory, "devices", id + ".crt");

    /// <summary>A device's (or an edge's cloud-facing) private key file, mode 0600.</summary>
    public string DeviceKey(string id) => Path.Combine(Directory, "devices", id + ".key");

    /// <summary>The options that make a coordinator or an edge serve mutual TLS with its server certificate and the CRL.</summary>
    public string[] ServerArgs(string name) =>
        ["--ca", Authority, "--cert", Path.Combine(Directory, "servers", name + ".crt"), "--key", Path.Combine(Directory, "servers", name + ".key"), "--crl", Crl];

    private static void WritePair(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        KeyFiles.WriteCertificate(certificatePath, certificate);
        using ECDsa key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("An issued certificate has no private key.");
        KeyFiles.WritePrivateKey(keyPath, key);
    }
}
