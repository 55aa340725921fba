using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Coordination;
using FedEdge.Messaging;
using FedEdge.Security;

namespace FedEdge.Cli;

/// <summary>
/// A worker's or an edge's pinned coordinator certificate (<c>fededge worker --coordinator-cert FILE</c>,
/// <c>fededge edge --cloud-coordinator-cert FILE</c>): only global models this certificate signed are accepted, not
/// those of any other server certificate the federation CA issued (another edge's, say).
/// </summary>
internal static class CoordinatorPin
{
    /// <summary>The exit code of a worker or edge that received a global model another coordinator of its CA signed.</summary>
    public const int OtherCoordinator = 4;

    /// <summary>
    /// The credentials with the certificate in <paramref name="path"/> pinned, or a usage problem: the file must hold a
    /// server certificate that <paramref name="credentials"/>' CA issued, valid and not revoked.
    /// </summary>
    public static FederationCredentials Pin(FederationCredentials credentials, string path, string option, out string? problem)
    {
        problem = null;
        X509Certificate2 pinned;
        try
        {
            pinned = KeyFiles.ReadCertificate(path);
        }
        catch (Exception ex) when (ex is CredentialException or CryptographicException)
        {
            problem = $"{option} '{path}': {ex.Message.ReplaceLineEndings(" ")}";
            return credentials;
        }

        CertificateValidation check = credentials.Validator.Validate(pinned, CertificateRole.Server);
        if (!check.IsValid)
        {
            pinned.Dispose();
            problem = $"{option} '{path}' is not a coordinator certificate of the CA ({check.Refusal}): {check.Reason}";
            return credentials;
        }

        return new FederationCredentials(credentials.Validator, credentials.Certificate, pinned);
    }

    /// <summary>
    /// When the worker's latest refused model carries a valid signature by another server certificate of the same CA
    /// (not the pinned one), the line that says so; null otherwise. Unsigned or forged models (no valid signature by a
    /// certificate of the CA) stay ignored, as without a pin, so a client with broker write access cannot end a worker.
    /// </summary>
    public static string? OtherCoordinatorSigned(Worker worker, FederationCredentials credentials, string option)
    {
        if (credentials.TrustedCoordinator is not { } pinned || worker.LastRefusedGlobalModel is not { } refused
            || !refused.Model.Metadata.TryGetValue(FederationCredentials.ModelSignerKey, out string? text))
        {
            return null;
        }

        X509Certificate2 signer;
        try
        {
            signer = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text));
        }
        catch (Exception ex) when (ex is FormatException or CryptographicException)
        {
            return null;
        }

        using (signer)
        {
            GlobalModel model = refused.Model;
            bool other = !signer.RawData.AsSpan().SequenceEqual(pinned.RawData)
                && credentials.Validator.Validate(signer, CertificateRole.Server).IsValid
                && UpdateSigning.VerifyModel(model, signer) == SignatureCheck.Valid;
            return other
                ? $"refused global model {model.Version}: it is signed by '{signer.Subject}' (SHA-256 {signer.GetCertHashString(HashAlgorithmName.SHA256)}), another server certificate of the federation CA, not the pinned {option} '{pinned.Subject}' (SHA-256 {pinned.GetCertHashString(HashAlgorithmName.SHA256)}); check {option}, or whether another server is publishing models"
                : null;
        }
    }
}
