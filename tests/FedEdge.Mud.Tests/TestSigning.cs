using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace FedEdge.Mud.Tests;

/// <summary>Makes real signed MUD fixtures with the corpus's published test-only signer key.</summary>
public static class TestSigning
{
    public static X509Certificate2 MfrSigner() => X509Certificate2.CreateFromPemFile(
        Path.Combine(Corpus.Signed, "mfr-signer.cert.pem"), Path.Combine(Corpus.Signed, "mfr-signer.key.pem"));

    public static byte[] DeviceCertDer(string name = "device.cert.pem") => Corpus.LoadCertificate(Path.Combine(Corpus.Signed, name)).RawData;

    /// <summary>Detached CMS (id-data, SHA-256, signed attributes) over the raw bytes.</summary>
    public static byte[] Sign(byte[] content, X509Certificate2? signer = null)
    {
        using X509Certificate2 cert = signer ?? MfrSigner();
        var cms = new SignedCms(new ContentInfo(content), detached: true);
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, cert) { DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1"), IncludeOption = X509IncludeOption.EndCertOnly };
        cmsSigner.SignedAttributes.Add(new Pkcs9SigningTime(new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc)));
        cms.ComputeSignature(cmsSigner);
        return cms.Encode();
    }

    /// <summary>The RFC 8520 s9 example (lightbulb2000) with the FedEdge federated-learning extension.</summary>
    public static byte[] FederatedLightbulb(string task = "nbaiot-anomaly", string model = "autoencoder-115")
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Path.Combine(Corpus.Signed, "ieft-draft.json")))!.AsObject();
        JsonObject mud = root["ietf-mud:mud"]!.AsObject();
        mud["extensions"] = new JsonArray(MudFederationExtension.ExtensionName);
        mud[MudFederationExtension.MemberName] = new JsonObject
        {
            ["task"] = new JsonArray(new JsonObject { ["name"] = task, ["model"] = new JsonArray(model) }),
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }
}
