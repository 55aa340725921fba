using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedEdge.Security;

/// <summary>
/// Reads and writes PEM certificates and private keys. Private keys are written with mode 0600 and a key file
/// that its group or others can read is refused (<see cref="KeyFilePermissionException"/>), as ssh does.
/// </summary>
public static class KeyFiles
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOthers = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Writes <paramref name="key"/> as an unencrypted PKCS#8 PEM file with mode 0600 (replacing any file there).</summary>
    public static void WritePrivateKey(string path, ECDsa key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(key);
        string pem = key.ExportPkcs8PrivateKeyPem();
        if (File.Exists(path))
        {
            File.Delete(path);
        }

        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
    }

    /// <summary>Reads an EC private key from a PEM file, refusing a file its group or others can read or write.</summary>
    /// <exception cref="KeyFilePermissionException">The file is readable or writable by its group or others.</exception>
    /// <exception cref="CredentialException">The file is missing or holds no EC private key.</exception>
    public static ECDsa ReadPrivateKey(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        EnsurePrivate(path);
        string pem = ReadText(path, "private key");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new CredentialException($"The key file '{path}' holds no readable EC private key (PEM, PKCS#8 or SEC1): {ex.Message}", ex);
        }
    }

    /// <summary>Refuses a key file whose mode gives its group or others any access.</summary>
    /// <exception cref="KeyFilePermissionException">The file's mode has group or other bits.</exception>
    public static void EnsurePrivate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new CredentialException($"The key file '{path}' was not found.");
        }

        if (OperatingSystem.IsWindows())
        {
            return;
        }

        UnixFileMode mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOthers) != 0)
        {
            throw new KeyFilePermissionException($"The key file '{path}' is accessible by group or others (mode {Octal(mode)}); run `chmod 600 {path}`.") { Path = path, Mode = mode };
        }
    }

    /// <summary>Writes a certificate (public part only) as PEM.</summary>
    public static void WriteCertificate(string path, X509Certificate2 certificate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(certificate);
        File.WriteAllText(path, certificate.ExportCertificatePem());
    }

    /// <summary>Reads a PEM or DER certificate (public part only).</summary>
    /// <exception cref="CredentialException">The file is missing or holds no certificate.</exception>
    public static X509Certificate2 ReadCertificate(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new CredentialException($"The certificate file '{path}' was not found.");
        }

        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new CredentialException($"The file '{path}' holds no readable X.509 certificate: {ex.Message}", ex);
        }
    }

    /// <summary>Reads a certificate and its private key from two PEM files (the key file must be mode 0600 or stricter).</summary>
    public static X509Certificate2 ReadCertificateWithKey(string certificatePath, string keyPath)
    {
        using X509Certificate2 certificate = ReadCertificate(certificatePath);
        using ECDsa key = ReadPrivateKey(keyPath);
        try
        {
            return MakeUsableForTls(certificate.CopyWithPrivateKey(key));
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new CredentialException($"The key '{keyPath}' does not belong to the certificate '{certificatePath}': {ex.Message}", ex);
        }
    }

    /// <summary>Reads a PKCS#12 bundle (refused, like a key file, when its group or others can read it).</summary>
    public static X509Certificate2 ReadPkcs12(string path, string? password)
    {
        EnsurePrivate(path);
        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.Exportable);
        }
        catch (CryptographicException ex)
        {
            throw new CredentialException($"The PKCS#12 file '{path}' could not be opened (wrong password or not PKCS#12): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Round-trips a certificate with an ephemeral key through PKCS#12 so SslStream can use its key on every platform.
    /// </summary>
    public static X509Certificate2 MakeUsableForTls(X509Certificate2 certificateWithKey)
    {
        ArgumentNullException.ThrowIfNull(certificateWithKey);
        byte[] pfx = certificateWithKey.Export(X509ContentType.Pkcs12);
        certificateWithKey.Dispose();
        return X509CertificateLoader.LoadPkcs12(pfx, null, X509KeyStorageFlags.Exportable);
    }

    private static string ReadText(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException ex)
        {
            throw new CredentialException($"The {what} file '{path}' could not be read: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CredentialException($"The {what} file '{path}' could not be read: {ex.Message}", ex);
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');
}
