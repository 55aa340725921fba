using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Transport.Tests;

/// <summary>
/// A federation CA, a server certificate for 127.0.0.1 and device certificates on demand, all usable for TLS here: the
/// setup the signed-federation test classes share. Disposes the CA and the server certificate; device certificates
/// belong to the caller.
/// </summary>
public abstract class FederationPkiFixture : IDisposable
{
    /// <summary>When the certificates start (a day back) and the tests' notion of now.</summary>
    protected static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();

    /// <summary>Creates the CA (named <paramref name="caName"/>) and the server certificate.</summary>
    protected FederationPkiFixture(string caName)
    {
        Ca = FederationPki.CreateCertificateAuthority(caName, Now.AddDays(-1), TimeSpan.FromDays(10));
        Server = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(Ca, "127.0.0.1", Now.AddDays(-1), TimeSpan.FromDays(5)));
    }

    /// <summary>The federation CA.</summary>
    protected X509Certificate2 Ca { get; }

    /// <summary>The coordinator's server certificate, issued by <see cref="Ca"/> for 127.0.0.1.</summary>
    protected X509Certificate2 Server { get; }

    /// <summary>A device certificate for <paramref name="id"/>, issued by <see cref="Ca"/>.</summary>
    protected X509Certificate2 Device(string id) => KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(Ca, new DeviceCertificateRequest { DeviceId = id }, Now.AddDays(-1)));

    /// <inheritdoc />
    public void Dispose()
    {
        Server.Dispose();
        Ca.Dispose();
        GC.SuppressFinalize(this);
    }
}
