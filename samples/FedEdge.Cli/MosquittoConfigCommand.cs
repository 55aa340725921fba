using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;
using MosquittoConfig = FedEdge.Transport.Mosquitto.MosquittoConfig;

namespace FedEdge.Cli;

/// <summary>
/// <c>fededge mosquitto-config</c>: writes a Mosquitto 2 configuration and ACL for running the federation on an
/// external Mosquitto with certificates only (<see cref="MosquittoConfig"/>): mutual TLS, no anonymous clients, the
/// certificate's CN as the MQTT user name, the coordinator's CN with the coordinator's topics and every other identity
/// limited to its own device topics by the ACL's <c>%u</c> patterns. Every file is checked against the federation CA
/// first, so a configuration that Mosquitto would load but no device could use is never written.
/// </summary>
internal static class MosquittoConfigCommand
{
    public static Command Create()
    {
        Option<FileInfo?> ca = new Option<FileInfo?>("--ca") { Description = "The federation CA certificate (PEM, from `fededge pki init`): device certificates must chain to it.", HelpName = "FILE", Required = true }.ReadableFile();
        Option<FileInfo?> cert = new Option<FileInfo?>("--cert") { Description = "The broker's server certificate (PEM, from `fededge pki issue --server HOST`, HOST being the name devices connect to).", HelpName = "FILE", Required = true }.ReadableFile();
        Option<FileInfo?> key = new Option<FileInfo?>("--key") { Description = "The broker certificate's private key (PEM, mode 0600, readable by the user Mosquitto runs as).", HelpName = "FILE", Required = true }.ReadableFile();
        Option<FileInfo?> coordinatorCert = new Option<FileInfo?>("--coordinator-cert") { Description = "The certificate `fededge coordinator` connects with (from `fededge pki issue --server NAME`): its CN gets the coordinator's topics in the ACL.", HelpName = "FILE", Required = true }.ReadableFile();
        Option<FileInfo?> crl = new Option<FileInfo?>("--crl") { Description = "The federation CRL (PEM, from `fededge pki revoke`): Mosquitto refuses revoked certificates in the TLS handshake.", HelpName = "FILE" }.ReadableFile();
        Option<int> port = new Option<int>("--port") { Description = "The TLS listener's port.", DefaultValueFactory = _ => 8883 }.Between(1, 65535);
        Option<string> bind = new Option<string>("--bind") { Description = "The address the TLS listener binds (0.0.0.0 serves a LAN).", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" }.Check(a => System.Net.IPAddress.TryParse(a, out _) ? null : "must be an IP address");
        Option<DirectoryInfo> output = new("--out") { Description = "The folder mosquitto.conf and fededge.acl are written to.", DefaultValueFactory = _ => new DirectoryInfo("mosquitto"), HelpName = "DIR" };
        Command command = new("mosquitto-config", "Write a Mosquitto configuration and ACL for the federation with certificates only (mutual TLS, identity = certificate CN, per-device ACL, CRL); start it with `mosquitto -c DIR/mosquitto.conf`.")
        {
            ca, cert, key, coordinatorCert, crl, port, bind, output,
        };
        command.SetAction(parse =>
        {
            TextWriter err = parse.InvocationConfiguration.Error;
            try
            {
                (int exit, string line) = Write(
                    parse.GetValue(ca)!.FullName,
                    parse.GetValue(cert)!.FullName,
                    parse.GetValue(key)!.FullName,
                    parse.GetValue(coordinatorCert)!.FullName,
                    parse.GetValue(crl)?.FullName,
                    parse.GetValue(port),
                    parse.GetValue(bind)!,
                    parse.GetValue(output)!.FullName);
                (exit == 0 ? parse.InvocationConfiguration.Output : err).WriteLine(exit == 0 ? line : "fededge mosquitto-config: " + line);
                return exit;
            }
            catch (Exception ex) when (ex is CredentialException or CryptographicException or IOException or UnauthorizedAccessException)
            {
                err.WriteLine("fededge mosquitto-config: " + ex.Message.ReplaceLineEndings(" "));
                return CliErrors.Runtime;
            }
        });
        return command;
    }

    private static (int Exit, string Line) Write(string caPath, string certPath, string keyPath, string coordinatorPath, string? crlPath, int port, string bind, string outDir)
    {
        // The CRL, when given, must be the CA's: the validator checks its signature as it loads it.
        CertificateValidator validator = CertificateValidator.FromFiles(caPath, crlPath);
        using (X509Certificate2 broker = KeyFiles.ReadCertificateWithKey(certPath, keyPath))
        {
            CertificateValidation brokerCheck = validator.Validate(broker, CertificateRole.Server);
            if (!brokerCheck.IsValid)
            {
                return (CliErrors.Usage, $"--cert is not a usable broker certificate for this CA ({brokerCheck.Refusal}): {brokerCheck.Reason}.");
            }
        }

        string identity;
        using (X509Certificate2 coordinator = KeyFiles.ReadCertificate(coordinatorPath))
        {
            CertificateValidation check = validator.Validate(coordinator, CertificateRole.Server);
            if (!check.IsValid)
            {
                return (CliErrors.Usage, $"--coordinator-cert is not a coordinator certificate of this CA ({check.Refusal}): {check.Reason}; issue one with `fededge pki issue --server NAME`.");
            }

            identity = coordinator.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        }

        var config = new MosquittoConfig
        {
            Federation = "fededge",
            BindAddress = bind,
            Port = port,
            CaFile = caPath,
            CertFile = certPath,
            KeyFile = keyPath,
            CrlFile = crlPath,
            AclFile = Path.Combine(outDir, "fededge.acl"),
            CoordinatorIdentity = identity,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException ex)
        {
            return (CliErrors.Usage, ex.Message);
        }

        string conf = config.WriteTo(outDir);
        string where = string.Create(CultureInfo.InvariantCulture, $"{bind}:{port}");
        return (0, $"wrote {conf} and {config.AclFile}: mutual TLS only on {where}, no anonymous clients, user name = certificate CN, coordinator identity '{identity}'{(crlPath is null ? string.Empty : ", CRL " + crlPath)}; start it with: mosquitto -c {conf}");
    }
}
