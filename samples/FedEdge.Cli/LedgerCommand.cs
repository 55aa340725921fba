using System.CommandLine;
using System.CommandLine.Invocation;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using FedEdge.Transparency;

namespace FedEdge.Cli;

/// <summary><c>fededge ledger verify</c>: check a transparency log (RFC 9162 Merkle tree, signed tree heads, entry receipts, device signatures).</summary>
internal static class LedgerCommand
{
    private const string Usage = "Usage: fededge ledger verify --log DIR [--ca FILE] [--log-key FILE] [--committee FILE] [--json].";

    public static Command Create()
    {
        Command ledger = new("ledger", "Transparency logs (the ledger a coordinator appends every round to): verify proofs and signatures.");
        ledger.Subcommands.Add(CreateVerify());
        ledger.SetAction(parse =>
        {
            parse.InvocationConfiguration.Error.WriteLine("fededge ledger: name a subcommand, e.g. fededge ledger verify --log DIR.");
            return 2;
        });
        return ledger;
    }

    private static Command CreateVerify()
    {
        Option<string?> log = new("--log") { Description = "The log folder (entries.jsonl, receipts.jsonl, heads.jsonl, log-key.pem), e.g. fededge-out/ledger.", HelpName = "DIR" };
        Option<string?> ca = new("--ca") { Description = "The federation CA (PEM): every signed update's device certificate must chain to it and name its device, and every update must be signed.", HelpName = "FILE" };
        Option<string?> logKey = new("--log-key") { Description = "Pin the log's public key (PEM, or the coordinator's certificate) instead of trusting the folder's own log-key.pem.", HelpName = "FILE" };
        Option<string?> committee = new("--committee") { Description = "The committee file (committee.json: validators' names and certificates, 3f + 1 of them): every head must carry 2f + 1 valid co-signatures.", HelpName = "FILE" };
        Option<bool> json = new("--json") { Description = "Print the result as one JSON object." };
        Command command = new("verify", "Verify a transparency log: every entry against its receipt and index, every device signature, every head signature, an inclusion proof per entry, a consistency proof per pair of heads and, with --committee, the quorum of co-signatures on every head. Exit 0 intact, 1 tampered, 2 bad arguments or unreadable files.") { log, ca, logKey, committee, json };
        command.Action = new VerifyAction(log, ca, logKey, committee, json);
        return command;
    }

    /// <summary>Clears the parser's errors so bad arguments end as one line with exit code 2 (1 means tampered).</summary>
    private sealed class VerifyAction(Option<string?> log, Option<string?> ca, Option<string?> logKey, Option<string?> committeeFile, Option<bool> json) : AsynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            (int exit, string line) = Verify(parseResult);
            await (exit == 2 ? error : output).WriteLineAsync(line).ConfigureAwait(false);
            return exit;
        }

        private (int Exit, string Line) Verify(ParseResult parse)
        {
            const string Prefix = "fededge ledger verify: ";
            if (parse.Errors.Count > 0)
            {
                return (2, Prefix + parse.Errors[0].Message + " " + Usage);
            }

            if (parse.UnmatchedTokens.Count > 0)
            {
                return (2, Prefix + $"unexpected argument '{parse.UnmatchedTokens[0]}'. " + Usage);
            }

            string? dir = parse.GetValue(log);
            if (string.IsNullOrWhiteSpace(dir))
            {
                return (2, Prefix + "--log DIR is required. " + Usage);
            }

            if (!Directory.Exists(dir))
            {
                return (2, Prefix + $"the log folder '{dir}' was not found.");
            }

            if (!File.Exists(Path.Combine(dir, FileTransparencyLog.HeadsFile)) && !File.Exists(Path.Combine(dir, FileTransparencyLog.EntriesFile)))
            {
                return (2, Prefix + $"'{dir}' holds no transparency log ({FileTransparencyLog.EntriesFile}, {FileTransparencyLog.HeadsFile}).");
            }

            X509Certificate2? authority = null;
            string? pinned = null;
            Dictionary<string, string>? committee = null;
            try
            {
                if (parse.GetValue(committeeFile) is { } committeePath)
                {
                    committee = CommitteeFile.Read(committeePath);
                }

                if (parse.GetValue(ca) is { } caPath)
                {
                    authority = X509CertificateLoader.LoadCertificateFromFile(caPath);
                }

                if (parse.GetValue(logKey) is { } keyPath)
                {
                    pinned = ReadPublicKey(keyPath);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException or InvalidDataException)
            {
                return (2, Prefix + ex.Message.ReplaceLineEndings(" "));
            }

            using (authority)
            {
                LedgerVerification result;
                try
                {
                    result = LedgerVerifier.Verify(dir, new LedgerVerifyOptions { DeviceAuthority = authority, LogKeyPem = pinned, Committee = committee });
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return (2, Prefix + ex.Message.ReplaceLineEndings(" "));
                }

                int exit = result.IsValid ? 0 : 1;
                if (parse.GetValue(json))
                {
                    return (exit, ToJson(result, pinned is not null, authority is not null).ToJsonString());
                }

                string counts = $"{result.Entries} entries, {result.Heads} signed heads; checked {result.ReceiptsChecked} receipts, {result.InclusionProofsChecked} inclusion proofs, {result.ConsistencyProofsChecked} consistency proofs, {result.HeadSignaturesChecked} head signatures, {result.DeviceSignaturesChecked} device signatures ({result.CertificatesChecked} certificates against the CA)" + (committee is null ? string.Empty : $", {result.CoSignaturesChecked} committee co-signatures (quorum {(2 * ((committee.Count - 1) / 3)) + 1} of {committee.Count} on every head)");
                string key = pinned is null ? "; trusting the folder's log-key.pem (pin it with --log-key)" : string.Empty;
                return result.IsValid
                    ? (0, $"ledger OK: {counts}; head size {result.LastHead?.Size ?? 0}, root {(result.LastHead is { } h ? Convert.ToHexStringLower(h.RootHash.Span) : "-")}{key}")
                    : (1, $"ledger TAMPERED ({Name(result.Failure)}): {result.Problem}");
            }
        }

        /// <summary>A PEM public key, or the public key of a PEM certificate.</summary>
        private static string ReadPublicKey(string path)
        {
            string text = File.ReadAllText(path);
            if (text.Contains("BEGIN CERTIFICATE", StringComparison.Ordinal))
            {
                using X509Certificate2 certificate = X509Certificate2.CreateFromPem(text);
                using ECDsa key = certificate.GetECDsaPublicKey() ?? throw new CryptographicException($"The certificate in '{path}' has no ECDSA key.");
                return key.ExportSubjectPublicKeyInfoPem();
            }

            using ECDsa pem = ECDsa.Create();
            pem.ImportFromPem(text);
            return pem.ExportSubjectPublicKeyInfoPem();
        }

        private static JsonObject ToJson(LedgerVerification r, bool pinned, bool withCa) => new()
        {
            ["valid"] = r.IsValid,
            ["failure"] = r.IsValid ? null : Name(r.Failure),
            ["problem"] = r.Problem,
            ["first_bad_entry"] = r.FirstBadEntry,
            ["bad_head"] = r.BadHead,
            ["entries"] = r.Entries,
            ["heads"] = r.Heads,
            ["receipts_checked"] = r.ReceiptsChecked,
            ["inclusion_proofs_checked"] = r.InclusionProofsChecked,
            ["consistency_proofs_checked"] = r.ConsistencyProofsChecked,
            ["head_signatures_checked"] = r.HeadSignaturesChecked,
            ["device_signatures_checked"] = r.DeviceSignaturesChecked,
            ["certificates_checked"] = r.CertificatesChecked,
            ["cosignatures_checked"] = r.CoSignaturesChecked,
            ["ca"] = withCa,
            ["log_key_pinned"] = pinned,
            ["size"] = r.LastHead?.Size,
            ["root"] = r.LastHead is { } h ? Convert.ToHexStringLower(h.RootHash.Span) : null,
        };

        private static string Name(LedgerFailure failure) => failure switch
        {
            LedgerFailure.Malformed => "malformed",
            LedgerFailure.Truncated => "truncated",
            LedgerFailure.Rewritten => "rewritten",
            LedgerFailure.MissingEntry => "missing-entry",
            LedgerFailure.ForgedHeadSignature => "forged-head-signature",
            LedgerFailure.ForgedDeviceSignature => "forged-device-signature",
            LedgerFailure.NotInHead => "not-in-head",
            LedgerFailure.Inconsistent => "inconsistent",
            LedgerFailure.Unsigned => "unsigned",
            LedgerFailure.NoQuorum => "no-quorum",
            _ => "none",
        };
    }
}
