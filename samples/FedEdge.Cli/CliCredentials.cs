using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Cli;

/// <summary>
/// The CLI's credential options. No option takes a secret value: a password comes from a file (<c>--password-file</c>,
/// refused when its group or others can read it) or the <c>FEDEDGE_PASSWORD</c> environment variable; a key from a
/// 0600 PEM file (<c>--key</c>) or a PKCS#12 bundle (<c>--pfx</c>). <c>--password VALUE</c> is refused in one line.
/// </summary>
internal sealed class CliCredentials
{
    /// <summary>The environment variable a password may come from.</summary>
    public const string PasswordVariable = "FEDEDGE_PASSWORD";

    private CliCredentials()
    {
    }

    public Option<string?> Password { get; } = new Option<string?>("--password") { Description = "Refused: no secret on the command line. Use --password-file FILE (mode 0600) or the FEDEDGE_PASSWORD environment variable.", Hidden = true }
        .Check(_ => "is refused: do not put a secret on the command line; put it in a file (--password-file FILE, mode 0600), in the FEDEDGE_PASSWORD environment variable, or use a PKCS#12 bundle (--pfx FILE)");

    public Option<FileInfo?> PasswordFile { get; } = new("--password-file") { Description = "A file holding the broker password or the PKCS#12 password (mode 0600; first line). Or set FEDEDGE_PASSWORD.", HelpName = "FILE" };

    public Option<FileInfo?> Ca { get; } = new Option<FileInfo?>("--ca") { Description = "The federation CA certificate (PEM, from `fededge pki init`): turns on certificate identity, signed updates and signed global models.", HelpName = "FILE" }.ReadableFile();

    public Option<FileInfo?> Cert { get; } = new Option<FileInfo?>("--cert") { Description = "This process's certificate (PEM, from `fededge pki issue`).", HelpName = "FILE" }.ReadableFile();

    public Option<FileInfo?> Key { get; } = new Option<FileInfo?>("--key") { Description = "The certificate's private key (PEM, mode 0600; a key others can read is refused).", HelpName = "FILE" }.ReadableFile();

    public Option<FileInfo?> Pfx { get; } = new Option<FileInfo?>("--pfx") { Description = "Certificate and key as a PKCS#12 bundle instead of --cert/--key (password from --password-file or FEDEDGE_PASSWORD).", HelpName = "FILE" }.ReadableFile();

    public Option<FileInfo?> Crl { get; } = new Option<FileInfo?>("--crl") { Description = "The federation CRL (PEM or DER, from `fededge pki revoke`): revoked certificates are refused.", HelpName = "FILE" }.ReadableFile();

    public IEnumerable<Option> All => [Password, PasswordFile, Ca, Cert, Key, Pfx, Crl];

    public static CliCredentials Create() => new();

    /// <summary>
    /// Reads a device-password file: one <c>ID=PASSWORD</c> per line (blank lines and <c>#</c> comments skipped), refused
    /// like a key file when its group or others can read it.
    /// </summary>
    /// <exception cref="CredentialException">The file is readable by others, unreadable, or a line is not ID=PASSWORD.</exception>
    public static Dictionary<string, string> ReadDevicePasswords(string path)
    {
        KeyFiles.EnsurePrivate(path);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (IOException ex)
        {
            throw new CredentialException($"The device-password file '{path}' could not be read: {ex.Message}", ex);
        }

        var passwords = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals < 1 || equals == line.Length - 1)
            {
                // Never echo the line: it may hold a password.
                throw new CredentialException($"Line {i + 1} of the device-password file '{path}' is not ID=PASSWORD.");
            }

            passwords[line[..equals]] = line[(equals + 1)..];
        }

        return passwords;
    }

    /// <summary>The password from --password-file or FEDEDGE_PASSWORD, or null.</summary>
    /// <exception cref="CredentialException">The file is readable by others or unreadable.</exception>
    public string? ReadPassword(ParseResult parse)
    {
        if (parse.GetValue(PasswordFile) is { } file)
        {
            KeyFiles.EnsurePrivate(file.FullName);
            try
            {
                return File.ReadLines(file.FullName).FirstOrDefault()?.TrimEnd('\r') ?? string.Empty;
            }
            catch (IOException ex)
            {
                throw new CredentialException($"The password file '{file.FullName}' could not be read: {ex.Message}", ex);
            }
        }

        return Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
    }

    /// <summary>
    /// The federation credentials, or null without --ca. Returns a usage problem in <paramref name="problem"/> when the
    /// options do not fit together.
    /// </summary>
    /// <exception cref="CredentialException">A file is unreadable, a key is readable by others, or the key does not match.</exception>
    public FederationCredentials? Load(ParseResult parse, out string? problem)
    {
        problem = null;
        FileInfo? ca = parse.GetValue(Ca);
        bool pair = parse.GetValue(Cert) is not null || parse.GetValue(Key) is not null;
        bool pfx = parse.GetValue(Pfx) is not null;
        if (ca is null)
        {
            if (pair || pfx || parse.GetValue(Crl) is not null)
            {
                problem = "--cert, --key, --pfx and --crl need --ca FILE (the federation CA).";
            }

            return null;
        }

        if (pair == pfx || (pair && (parse.GetValue(Cert) is null || parse.GetValue(Key) is null)))
        {
            problem = "with --ca give either --cert FILE and --key FILE, or --pfx FILE.";
            return null;
        }

        CertificateValidator validator = CertificateValidator.FromFiles(ca.FullName, parse.GetValue(Crl)?.FullName);
        X509Certificate2 own = pfx
            ? KeyFiles.ReadPkcs12(parse.GetValue(Pfx)!.FullName, ReadPassword(parse))
            : KeyFiles.ReadCertificateWithKey(parse.GetValue(Cert)!.FullName, parse.GetValue(Key)!.FullName);
        return new FederationCredentials(validator, own);
    }
}
