using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace FedEdge.Flower.Fleet;

/// <summary>Checks a SuperLink's certificate against the CA certificates given with <c>--root-cert</c> (and only those).</summary>
internal static class TlsTrust
{
    public static bool ChainsTo(X509Certificate certificate, X509Certificate2Collection roots, SslPolicyErrors errors)
    {
        if ((errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var leaf = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }
}
