using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Cli;

/// <summary>
/// <c>fededge pki init | issue --device ID [--mud-url URL] | issue --server HOST | revoke</c>: the federation's CA in
/// a folder (ca.crt, ca.key mode 0600, crl.pem; devices/ID.crt|key, servers/HOST.crt|key).
/// </summary>
internal static class PkiCommand
{
    private const int Usage = CliErrors.Usage;

    public static Command Create()
    {
        Command pki = new("pki", "The federation's certificate authority: create it, issue device and server certificates, revoke them (CRL).");
        pki.Subcommands.Add(CreateInit());
        pki.Subcommands.Add(CreateIssue());
        pki.Subcommands.Add(CreateRevoke());
        pki.SetAction(parse =>
        {
            parse.InvocationConfiguration.Error.WriteLine("fededge pki: name a subcommand: init, issue or revoke (see fededge pki --help).");
            return Usage;
        });
        return pki;
    }

    private static Option<DirectoryInfo> DirOption() => new("--dir") { Description = "The PKI folder (ca.crt, ca.key, crl.pem, devices/, servers/).", DefaultValueFactory = _ => new DirectoryInfo("pki"), HelpName = "DIR" };

    private static Option<int> DaysOption(int days) => new Option<int>("--days") { Description = "Days the certificate is valid.", DefaultValueFactory = _ => days }.AtLeast(1);

    private static Command CreateInit()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<string> name = new Option<string>("--name") { Description = "The CA's common name.", DefaultValueFactory = _ => "FedEdge federation" }.NotEmpty();
        Option<int> days = DaysOption(3650);
        Option<bool> force = new("--force") { Description = "Replace an existing CA in DIR (every certificate it issued stops validating)." };
        Command command = new("init", "Create the federation CA (ECDSA P-256): DIR/ca.crt, DIR/ca.key (mode 0600) and an empty CRL DIR/crl.pem.") { dir, name, days, force };
        command.SetAction(parse => Run(parse, "init", () =>
        {
            string root = parse.GetValue(dir)!.FullName;
            if (File.Exists(Path.Combine(root, "ca.key")) && !parse.GetValue(force))
            {
                return (Usage, $"a CA already exists in '{root}'; pass --force to replace it.");
            }

            Directory.CreateDirectory(root);
            DateTimeOffset now = TimeProvider.System.GetUtcNow();
            using X509Certificate2 ca = FederationPki.CreateCertificateAuthority(parse.GetValue(name)!, now, TimeSpan.FromDays(parse.GetValue(days)));
            WritePair(ca, Path.Combine(root, "ca.crt"), Path.Combine(root, "ca.key"));
            WriteCrl(Path.Combine(root, "crl.pem"), FederationPki.CreateEmptyCrl(ca, now, CrlLifetime));
            return (0, $"created CA '{ca.Subject}' in {root} (ca.crt, ca.key mode 0600, crl.pem)");
        }));
        return command;
    }

    private static readonly TimeSpan CrlLifetime = TimeSpan.FromDays(30);

    private static Command CreateIssue()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<string?> device = new("--device") { Description = "Issue a device certificate for this device id (SAN urn:fededge:device:ID, CN = ID).", HelpName = "ID" };
        Option<string?> server = new("--server") { Description = "Issue a coordinator or edge (server) certificate for this host name or IP address.", HelpName = "HOST" };
        Option<string?> mudUrl = new Option<string?>("--mud-url") { Description = "The device's MUD URL, written in the RFC 8520 id-pe-mud-url extension.", HelpName = "URL" }.AbsoluteUrl();
        Option<string?> mudSigner = new("--mud-signer") { Description = "The MUD file signer's distinguished name, written in the id-pe-mudsigner extension (e.g. \"CN=Acme MUD signer, O=Acme\").", HelpName = "DN" };
        Option<int> days = DaysOption(365);
        Command command = new("issue", "Issue a device certificate (--device ID) or a server certificate (--server HOST), signed by the CA in DIR; the key is written with mode 0600.") { dir, device, server, mudUrl, mudSigner, days };
        command.SetAction(parse => Run(parse, "issue", () =>
        {
            string? id = parse.GetValue(device);
            string? host = parse.GetValue(server);
            if ((id is null) == (host is null))
            {
                return (Usage, "give exactly one of --device ID or --server HOST.");
            }

            if (host is not null && (parse.GetValue(mudUrl) is not null || parse.GetValue(mudSigner) is not null))
            {
                return (Usage, "--mud-url and --mud-signer apply to --device only.");
            }

            if (id is not null && !FederationPki.IsValidDeviceId(id))
            {
                return (Usage, $"'{id}' is not a valid device id (1 to {FederationPki.MaxDeviceIdLength} characters, no control characters, none of / + # , =).");
            }

            X500DistinguishedName? signer = null;
            if (parse.GetValue(mudSigner) is { } dn)
            {
                try
                {
                    signer = new X500DistinguishedName(dn);
                }
                catch (CryptographicException)
                {
                    return (Usage, $"--mud-signer '{dn}' is not a distinguished name.");
                }
            }

            if (parse.GetValue(mudUrl) is { } url && !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            {
                return (Usage, $"--mud-url '{url}' must be an https URL (RFC 8520).");
            }

            string root = parse.GetValue(dir)!.FullName;
            using X509Certificate2 ca = LoadCa(root);
            DateTimeOffset now = TimeProvider.System.GetUtcNow();
            TimeSpan validity = TimeSpan.FromDays(parse.GetValue(days));
            string folder = Path.Combine(root, id is not null ? "devices" : "servers");
            string name = id ?? host!;
            if (host is not null && (host.IndexOfAny(['/', '\\']) >= 0 || host.StartsWith('.')))
            {
                return (Usage, $"--server '{host}' is not a host name.");
            }

            // On Mosquitto the certificate's CN is the MQTT user name: a device and a server of the same name would share
            // the coordinator's ACL entry, so one name is never issued to both roles.
            string otherRole = Path.Combine(root, id is not null ? "servers" : "devices", name + ".crt");
            if (File.Exists(otherRole))
            {
                return (Usage, $"'{name}' already names a {(id is not null ? "server" : "device")} certificate ({otherRole}); on Mosquitto the certificate's CN is the user name, so devices and servers need different names.");
            }

            Directory.CreateDirectory(folder);
            using X509Certificate2 issued = id is not null
                ? FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = id, MudUrl = parse.GetValue(mudUrl) is { } u ? new Uri(u) : null, MudSigner = signer, Validity = validity }, now)
                : FederationPki.IssueServer(ca, host!, now, validity);
            string cert = Path.Combine(folder, name + ".crt");
            string key = Path.Combine(folder, name + ".key");
            WritePair(issued, cert, key);
            return (0, $"issued {(id is not null ? "device" : "server")} certificate '{issued.Subject}' serial {issued.SerialNumber}: {cert}, {key} (mode 0600)");
        }));
        return command;
    }

    private static Command CreateRevoke()
    {
        Option<DirectoryInfo> dir = DirOption();
        Option<string?> cert = new("--cert") { Description = "The certificate file to revoke.", HelpName = "FILE" };
        Option<string?> device = new("--device") { Description = "Revoke DIR/devices/ID.crt.", HelpName = "ID" };
        Option<string?> server = new("--server") { Description = "Revoke DIR/servers/HOST.crt.", HelpName = "HOST" };
        Command command = new("revoke", "Revoke a certificate: add it to the CA's CRL and write DIR/crl.pem (give it to coordinators with --crl).") { dir, cert, device, server };
        command.SetAction(parse => Run(parse, "revoke", () =>
        {
            string root = parse.GetValue(dir)!.FullName;
            string?[] given = [parse.GetValue(cert), parse.GetValue(device), parse.GetValue(server)];
            if (given.Count(g => g is not null) != 1)
            {
                return (Usage, "give exactly one of --cert FILE, --device ID or --server HOST.");
            }

            string path = parse.GetValue(cert)
                ?? (parse.GetValue(device) is { } id ? Path.Combine(root, "devices", id + ".crt") : Path.Combine(root, "servers", parse.GetValue(server) + ".crt"));
            using X509Certificate2 ca = LoadCa(root);
            using X509Certificate2 target = KeyFiles.ReadCertificate(path);
            if (!target.IssuerName.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData))
            {
                return (CliErrors.Runtime, $"'{path}' was not issued by the CA in '{root}'.");
            }

            string crlPath = Path.Combine(root, "crl.pem");
            byte[] current = File.Exists(crlPath) ? PemToDer(File.ReadAllText(crlPath)) : [];
            byte[] crl = FederationPki.Revoke(ca, current, target, TimeProvider.System.GetUtcNow(), CrlLifetime);
            WriteCrl(crlPath, crl);
            return (0, $"revoked '{target.Subject}' serial {target.SerialNumber}; wrote {crlPath}{Environment.NewLine}{RevokeHint}");
        }));
        return command;
    }

    /// <summary>Who picks the new CRL up, and when (Mosquitto 2.0.11: on SIGHUP, tested by MosquittoCrlReloadProcessTests).</summary>
    internal const string RevokeHint = "coordinators and edges started with --crl reload it within a second; Mosquitto (crlfile) re-reads it only when it reloads its configuration: send it SIGHUP (`systemctl reload mosquitto` or `kill -HUP PID`) or restart it. Connections opened before stay open; the coordinator refuses their updates.";

    private static int Run(ParseResult parse, string name, Func<(int Exit, string Line)> body)
    {
        (int exit, string line) result;
        try
        {
            result = body();
        }
        catch (CredentialException ex)
        {
            result = (CliErrors.Runtime, ex.Message);
        }
        catch (ArgumentException ex)
        {
            result = (Usage, ex.Message);
        }
        catch (IOException ex)
        {
            result = (CliErrors.Runtime, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            result = (CliErrors.Runtime, ex.Message);
        }

        if (result.exit == 0)
        {
            parse.InvocationConfiguration.Output.WriteLine(result.line);
        }
        else
        {
            parse.InvocationConfiguration.Error.WriteLine($"fededge pki {name}: {result.line}");
        }

        return result.exit;
    }

    private static X509Certificate2 LoadCa(string root)
    {
        string cert = Path.Combine(root, "ca.crt");
        if (!File.Exists(cert))
        {
            throw new CredentialException($"no CA in '{root}': run `fededge pki init --dir {root}` first.");
        }

        return KeyFiles.ReadCertificateWithKey(cert, Path.Combine(root, "ca.key"));
    }

    private static void WritePair(X509Certificate2 certificate, string certPath, string keyPath)
    {
        using ECDsa key = certificate.GetECDsaPrivateKey() ?? throw new CredentialException("the issued certificate has no ECDSA key.");
        KeyFiles.WritePrivateKey(keyPath, key);
        KeyFiles.WriteCertificate(certPath, certificate);
    }

    private static void WriteCrl(string path, byte[] der) => File.WriteAllText(path, PemEncoding.WriteString("X509 CRL", der) + "\n");

    private static byte[] PemToDer(string text)
        => PemEncoding.TryFind(text, out PemFields fields) ? Convert.FromBase64String(text[fields.Base64Data]) : throw new CredentialException("crl.pem holds no PEM block.");
}
