using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;

namespace FedEdge.Security;

/// <summary>
/// This process's place in the federation PKI: the validator of peers' certificates (federation CA + CRL), its own
/// certificate with private key, and (on a worker) the coordinator certificate whose signatures on global models it
/// trusts. Registered in DI, it turns on certificate admission, signed updates and signed global models in the
/// coordinator and worker engines.
/// </summary>
public sealed class FederationCredentials
{
    /// <summary>Creates the credentials.</summary>
    /// <param name="validator">Checks peers' certificates against the federation CA and CRL.</param>
    /// <param name="certificate">This process's certificate with its private key (ECDSA P-256).</param>
    /// <param name="trustedCoordinator">On a worker: the coordinator certificate global models must be signed by; null accepts a model signed by the server certificate it carries when that certificate passes <paramref name="validator"/> as a server's.</param>
    /// <exception cref="ArgumentException">The certificate has no ECDSA private key.</exception>
    public FederationCredentials(CertificateValidator validator, X509Certificate2 certificate, X509Certificate2? trustedCoordinator = null)
    {
        ArgumentNullException.ThrowIfNull(validator);
        ArgumentNullException.ThrowIfNull(certificate);
        using (var key = certificate.GetECDsaPrivateKey())
        {
            if (key is null)
            {
                throw new ArgumentException("The certificate has no ECDSA private key.", nameof(certificate));
            }
        }

        Validator = validator;
        Certificate = certificate;
        TrustedCoordinator = trustedCoordinator;
    }

    /// <summary>Checks peers' certificates.</summary>
    public CertificateValidator Validator { get; }

    /// <summary>This process's certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The coordinator certificate trusted for global models (worker side), or null.</summary>
    public X509Certificate2? TrustedCoordinator { get; }

    /// <summary>The global-model metadata key carrying the signer's certificate (base64 DER).</summary>
    public const string ModelSignerKey = "fededge.signer";

    /// <summary>Signs <paramref name="model"/> (version, round, hash) with this process's key and attaches its certificate.</summary>
    public GlobalModel SignGlobalModel(GlobalModel model, long round)
    {
        ArgumentNullException.ThrowIfNull(model);
        using ECDsa key = Certificate.GetECDsaPrivateKey()!;
        GlobalModel signed = UpdateSigning.SignModel(model, round, key);
        var metadata = new Dictionary<string, string>(signed.Metadata, StringComparer.Ordinal) { [ModelSignerKey] = Convert.ToBase64String(Certificate.RawData) };
        return signed with { Metadata = metadata };
    }

    /// <summary>
    /// Why <paramref name="model"/> must not be accepted (unsigned, signed by an untrusted or invalid certificate, a bad
    /// signature or a hash that does not match), or null when it was signed by the trusted coordinator.
    /// </summary>
    public string? CheckGlobalModel(GlobalModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        X509Certificate2? signer = TrustedCoordinator;
        X509Certificate2? carried = null;
        try
        {
            if (signer is null)
            {
                if (!model.Metadata.TryGetValue(ModelSignerKey, out string? text))
                {
                    return "the global model carries no signer certificate (unsigned)";
                }

                try
                {
                    carried = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text));
                }
                catch (Exception ex) when (ex is FormatException or CryptographicException)
                {
                    return "the global model's signer certificate is unreadable";
                }

                CertificateValidation validation = Validator.Validate(carried, CertificateRole.Server);
                if (!validation.IsValid)
                {
                    return $"the global model's signer is not a trusted coordinator ({validation.Refusal}: {validation.Reason})";
                }

                signer = carried;
            }

            SignatureCheck check = UpdateSigning.VerifyModel(model, signer);
            return check == SignatureCheck.Valid ? null
                : TrustedCoordinator is not null ? $"the global model's signature is {check} (not signed by the pinned coordinator certificate '{TrustedCoordinator.Subject}')"
                : $"the global model's signature is {check} (not signed by the trusted coordinator)";
        }
        finally
        {
            carried?.Dispose();
        }
    }
}
