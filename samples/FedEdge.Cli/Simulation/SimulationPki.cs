using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// The simulation's federation PKI: a CA generated into <c>OUT/pki</c> (ca.pem, ca.key mode 0600, crl.pem), a server
/// certificate for the coordinator, a certificate per device, and the demo's two devices that must be refused: one
/// whose certificate another CA issued, and one whose certificate the federation revoked.
/// </summary>
internal sealed class SimulationPki : IDisposable
{
    /// <summary>The host the coordinator's certificate names and devices connect to.</summary>
    public const string Host = "127.0.0.1";

    /// <summary>The demo device whose certificate another CA issued.</summary>
    public const string ForeignDevice = "Foreign_CA_Camera";

    /// <summary>The demo device whose certificate is on the federation's CRL.</summary>
    public const string RevokedDevice = "Revoked_Smart_Plug";

    private static readonly TimeSpan Validity = TimeSpan.FromDays(1);
    private readonly Dictionary<string, X509Certificate2> _devices = new(StringComparer.Ordinal);

    public SimulationPki(string outDirectory, IEnumerable<string> deviceIds, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        DateTimeOffset now = time.GetUtcNow();
        DateTimeOffset issued = now.AddMinutes(-5);
        Directory = Path.Combine(outDirectory, "pki");
        System.IO.Directory.CreateDirectory(Directory);
        Authority = FederationPki.CreateCertificateAuthority("FedEdge simulation CA", issued, Validity);
        KeyFiles.WriteCertificate(Path.Combine(Directory, "ca.pem"), Authority);
        using (ECDsa key = Authority.GetECDsaPrivateKey()!)
        {
            KeyFiles.WritePrivateKey(Path.Combine(Directory, "ca.key"), key);
        }

        Server = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(Authority, Host, issued, Validity));
        foreach (string id in deviceIds)
        {
            _devices[id] = Issue(Authority, id, issued);
        }

        Revoked = Issue(Authority, RevokedDevice, issued);
        byte[] crl = FederationPki.Revoke(Authority, [], Revoked, now, Validity);
        File.WriteAllText(Path.Combine(Directory, "crl.pem"), PemEncoding.WriteString("X509 CRL", crl));
        using (X509Certificate2 other = FederationPki.CreateCertificateAuthority("Some other CA", issued, Validity))
        {
            Foreign = Issue(other, ForeignDevice, issued);
        }

        Validator = new CertificateValidator(Authority, crl, time);
    }

    /// <summary>Where the CA, its key and the CRL were written.</summary>
    public string Directory { get; }

    /// <summary>The federation CA.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The coordinator's certificate (server and signing).</summary>
    public X509Certificate2 Server { get; }

    /// <summary>Checks devices' certificates (chain, validity, CRL).</summary>
    public CertificateValidator Validator { get; }

    /// <summary>The revoked demo device's certificate.</summary>
    public X509Certificate2 Revoked { get; }

    /// <summary>The other-CA demo device's certificate.</summary>
    public X509Certificate2 Foreign { get; }

    /// <summary>The coordinator's credentials: it signs every global model and verifies every update's signature.</summary>
    public FederationCredentials Coordinator() => new(Validator, Server);

    /// <summary>A device's credentials: it presents its certificate, signs its updates and trusts only the coordinator's models.</summary>
    public FederationCredentials Device(string id) => new(Validator, CertificateOf(id), Server);

    /// <summary>A device's certificate with its key.</summary>
    public X509Certificate2 CertificateOf(string id) => _devices[id];

    public void Dispose()
    {
        foreach (X509Certificate2 certificate in _devices.Values)
        {
            certificate.Dispose();
        }

        Server.Dispose();
        Revoked.Dispose();
        Foreign.Dispose();
        Authority.Dispose();
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string id, DateTimeOffset issued) =>
        KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(authority, new DeviceCertificateRequest { DeviceId = id, Validity = Validity }, issued));
}
