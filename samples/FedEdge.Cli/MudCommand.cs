using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using FedEdge.Mud;
using FedEdge.Mud.Compilation;
using FedEdge.Mud.Signatures;

namespace FedEdge.Cli;

/// <summary><c>fededge mud ...</c>: validate, verify and compile RFC 8520 MUD files.</summary>
internal static class MudCommand
{
    public static Command Create()
    {
        Command mud = new("mud", "RFC 8520 Manufacturer Usage Descriptions: validate, verify signatures, compile firewall rules.");
        mud.Subcommands.Add(CreateValidate());
        mud.Subcommands.Add(CreateVerify());
        mud.Subcommands.Add(CreateCompile());
        mud.Subcommands.Add(MudBenchCommand.Create());
        return mud;
    }

    private static Command CreateValidate()
    {
        Argument<string[]> files = new("files") { Description = "MUD files to validate.", Arity = ArgumentArity.OneOrMore };
        Option<bool> lenient = new("--lenient") { Description = "Also read draft-era shapes (reported as warnings)." };
        Option<bool> json = new("--json") { Description = "Print a JSON array: file, ok, mode, diagnostics[]." };
        Command command = new("validate", "Validate MUD files against RFC 8520 (exit 0 when all are valid, 1 otherwise).") { files, lenient, json };
        command.SetAction(parse =>
        {
            var options = new MudParserOptions { Mode = parse.GetValue(lenient) ? MudParseMode.Lenient : MudParseMode.Strict };
            List<MudFileReport> reports = (parse.GetValue(files) ?? []).Select(f => MudFileReport.ForFile(f, options)).ToList();
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(MudFileReport.ToJson(reports));
            }
            else
            {
                foreach (MudFileReport r in reports)
                {
                    output.WriteLine($"{(r.Ok ? "OK  " : "FAIL")} {r.File} ({(r.Mode == MudParseMode.Strict ? "strict" : "lenient")})");
                    foreach (MudDiagnostic d in r.Diagnostics.Where(d => d.Severity != MudSeverity.Info))
                    {
                        output.WriteLine($"     {d.Severity.ToString().ToLowerInvariant(),-7} {d.Code} {d.Path}: {d.Message} [{d.Rule}]");
                    }
                }
            }

            return reports.All(r => r.Ok) ? 0 : 1;
        });
        return command;
    }

    private static Command CreateVerify()
    {
        Option<string> file = new Option<string>("--file") { Description = "The MUD file (raw bytes are verified).", Required = true }.ReadablePath();
        Option<string> signature = new Option<string>("--signature") { Description = "The detached CMS signature (DER or PEM).", Required = true }.ReadablePath();
        Option<string[]> trust = new Option<string[]>("--trust") { Description = "PEM file(s) of trust anchors.", Required = true, AllowMultipleArgumentsPerToken = true }.ReadableFiles();
        Option<string?> deviceCert = new Option<string?>("--device-cert") { Description = "Device certificate (PEM/DER); its id-pe-mudsigner must name the signer." }.ReadablePath();
        Option<string?> at = new Option<string?>("--at") { Description = "Verification time (ISO 8601, or Unix seconds)." }.Check(v => TryParseTime(v, out _) ? null : "must be an ISO 8601 time or Unix seconds (0 to 253402300799)");
        Option<bool> json = new("--json") { Description = "Print { valid, reason, failure, signer } as JSON." };
        Command command = new("verify", "Verify a MUD file's detached CMS signature (RFC 8520 s13.2). Exit 0 valid, 1 invalid, 2 bad input.") { file, signature, trust, deviceCert, at, json };
        command.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            bool asJson = parse.GetValue(json);
            MudSignatureResult result;
            int exit;
            try
            {
                var options = new MudSignatureVerifierOptions();
                foreach (string t in parse.GetValue(trust) ?? [])
                {
                    options.AddTrustAnchorsFromPem(t);
                }

                DateTimeOffset? when = null;
                string? atText = parse.GetValue(at);
                if (atText is not null)
                {
                    when = TryParseTime(atText, out DateTimeOffset parsed) ? parsed : throw new FormatException($"--at '{atText}' is not a time.");
                }

                X509Certificate2? device = null;
                string? devicePath = parse.GetValue(deviceCert);
                if (devicePath is not null)
                {
                    var collection = new X509Certificate2Collection();
                    collection.ImportFromPemFile(devicePath);
                    device = collection.Count > 0 ? collection[0] : X509CertificateLoader.LoadCertificateFromFile(devicePath);
                }

                result = new MudSignatureVerifier(options).Verify(File.ReadAllBytes(parse.GetValue(file)!), File.ReadAllBytes(parse.GetValue(signature)!), device, when);
                exit = result.IsValid ? 0 : 1;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or FormatException)
            {
                result = MudSignatureResult.Fail(MudSignatureFailure.Malformed, "Bad input: " + ex.Message);
                exit = 2;
            }

            if (asJson)
            {
                output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["valid"] = result.IsValid,
                    ["reason"] = result.Reason,
                    ["failure"] = result.Failure.ToString(),
                    ["signer"] = result.Signer,
                }));
            }
            else
            {
                output.WriteLine($"{(result.IsValid ? "VALID" : "INVALID")} ({result.Failure}): {result.Reason}");
            }

            return exit;
        });
        return command;
    }

    /// <summary>Reads <c>--at</c>: Unix seconds (within <see cref="DateTimeOffset"/>'s range) or an ISO 8601 time.</summary>
    private static bool TryParseTime(string? text, out DateTimeOffset time)
    {
        time = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long unix))
        {
            if (unix > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            {
                return false;
            }

            time = DateTimeOffset.FromUnixTimeSeconds(unix);
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }

    private static Command CreateCompile()
    {
        Argument<string> file = new("file") { Description = "The MUD file." };
        Option<string> format = new("--format") { Description = "nftables or iptables.", DefaultValueFactory = _ => "nftables" };
        format.AcceptOnlyFromAmong("nftables", "iptables");
        Option<bool> lenient = new("--lenient") { Description = "Compile a draft-era file read in lenient mode." };
        Option<string> device = new("--device") { Description = "Device name used for chain names.", DefaultValueFactory = _ => "device" };
        Option<string?> mac = new("--mac") { Description = "Device MAC address." };
        Option<string[]> address = new("--address") { Description = "Device IP address(es).", AllowMultipleArgumentsPerToken = true };
        Option<string[]> local = new("--local-network") { Description = "Prefixes for local-networks.", AllowMultipleArgumentsPerToken = true };
        Option<string[]> controller = new("--controller") { Description = "Controller mapping URI=ADDRESS (repeatable; my-controller uses the file's mud-url as URI).", AllowMultipleArgumentsPerToken = true };
        Command command = new("compile", "Compile a MUD file into nftables or iptables rules (default deny; DNS and NTP allowed after the explicit rules).") { file, format, lenient, device, mac, address, local, controller };
        command.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            MudFileReport report = MudFileReport.ForFile(parse.GetValue(file)!, new MudParserOptions { Mode = parse.GetValue(lenient) ? MudParseMode.Lenient : MudParseMode.Strict });
            MudParseResult result;
            try
            {
                result = MudParser.Parse(File.ReadAllBytes(report.File), new MudParserOptions { Mode = report.Mode });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error.WriteLine("Cannot read the file: " + ex.Message);
                return 1;
            }

            if (!result.IsValid || result.File is null)
            {
                error.WriteLine($"{report.File} is not a valid MUD file; nothing compiled.");
                foreach (MudDiagnostic d in result.Errors)
                {
                    error.WriteLine("  " + d);
                }

                return 1;
            }

            var map = new MudAbstractionMappings();
            foreach (string n in parse.GetValue(local) ?? [])
            {
                map.LocalNetworks.Add(n);
            }

            foreach (string c in parse.GetValue(controller) ?? [])
            {
                int eq = c.LastIndexOf('=');
                if (eq <= 0)
                {
                    error.WriteLine($"--controller '{c}' must be URI=ADDRESS.");
                    return 2;
                }

                string uri = c[..eq];
                IDictionary<string, IList<string>> target = uri == result.File.MudUrl ? map.MyControllers : map.Controllers;
                if (!target.TryGetValue(uri, out IList<string>? list))
                {
                    target[uri] = list = [];
                }

                list.Add(c[(eq + 1)..]);
            }

            var binding = new MudDeviceBinding(parse.GetValue(device) ?? "device", parse.GetValue(mac), parse.GetValue(address));
            CompiledPolicy policy = MudRuleCompiler.Compile(result.File, binding, map);
            string script;
            try
            {
                script = MudFirewallRenderer.Render(policy, parse.GetValue(format) == "iptables" ? MudFirewallFormat.Iptables : MudFirewallFormat.Nftables);
            }
            catch (ArgumentException ex)
            {
                // The renderer refuses a --device/--mac/--address or --controller/--local value outside its grammar.
                error.WriteLine("Nothing compiled: " + ex.Message);
                return 2;
            }

            output.Write(script);
            return 0;
        });
        return command;
    }
}
