using System.Security.Cryptography.X509Certificates;
using FedEdge.Mud.Discovery;
using FedEdge.Security;

namespace FedEdge.Mud.Tests;

/// <summary>Certificates issued by Core's <see cref="FederationPki"/> are read by the MUD package's certificate discovery (a strong source).</summary>
public sealed class PkiCertificateDiscoveryTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void FromCertificate_FederationPkiDeviceCert_ConformantStrongUrlAndSigner()
    {
        using X509Certificate2 ca = FederationPki.CreateCertificateAuthority("mud tests", Now, TimeSpan.FromDays(30));
        var signer = new X500DistinguishedName("CN=Acme MUD signer, O=Acme");
        using X509Certificate2 device = FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = "cam-1", MudUrl = new Uri("https://mud.example.com/cam.json"), MudSigner = signer }, Now);

        MudUrlDiscovery? found = MudUrlDecoders.FromCertificate(device.RawData);
        Assert.NotNull(found);
        Assert.Equal(new Uri("https://mud.example.com/cam.json"), found.Url);
        Assert.True(found.IsStrong);
        Assert.Equal(MudEncodingQuality.Conformant, found.Quality);
        Assert.Equal(FederationPki.MudUrlOid, MudCertificateExtensions.MudUrlOid);
        Assert.Equal(FederationPki.MudSignerOid, MudCertificateExtensions.MudSignerOid);
        Assert.True(MudCertificateExtensions.SameName(signer, MudCertificateExtensions.ReadMudSigner(device)!));
    }
}
