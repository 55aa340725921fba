using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Security;

namespace FedEdge.Transparency;

/// <summary>Settings of <see cref="LedgerVerifier.Verify"/>.</summary>
public sealed record LedgerVerifyOptions
{
    /// <summary>The log's public key (PEM); null trusts the folder's own <c>log-key.pem</c> (pin the key for a real audit).</summary>
    public string? LogKeyPem { get; init; }

    /// <summary>The federation CA that issued the device certificates; when given, every signed update's certificate must chain to it and name its device.</summary>
    public X509Certificate2? DeviceAuthority { get; init; }

    /// <summary>The committee (witness name → its public key or certificate, PEM); when given, every head needs 2f + 1 valid co-signatures in <c>cosignatures.jsonl</c>.</summary>
    public IReadOnlyDictionary<string, string>? Committee { get; init; }

    /// <summary>When true, every update entry must carry a device signature.</summary>
    public bool RequireDeviceSignatures { get; init; }
}

/// <summary>
/// Checks a <see cref="FileTransparencyLog"/> folder: each entry's bytes against its receipt and its index, each device
/// signature (and, with a CA, the certificate behind it), each head's signature, an RFC 9162 inclusion proof for every
/// entry against the first head covering it, a consistency proof between successive heads, and that no head covers
/// more entries than the log holds and no entry is outside every head. Names the first bad entry or head.
/// </summary>
public static class LedgerVerifier
{
    /// <summary>Verifies the log in <paramref name="directory"/>.</summary>
    public static LedgerVerification Verify(string directory, LedgerVerifyOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new LedgerVerifyOptions();
        var result = new LedgerVerification();
        string dir = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(dir))
        {
            return result with { Failure = LedgerFailure.Malformed, Problem = $"'{dir}' is not a folder" };
        }

        using ECDsa key = ECDsa.Create();
        bool otherKey = false;
        try
        {
            string keyFile = Path.Combine(dir, FileTransparencyLog.KeyFile);
            string pem = options.LogKeyPem ?? File.ReadAllText(keyFile);
            key.ImportFromPem(pem);
            if (options.LogKeyPem is not null && File.Exists(keyFile))
            {
                using ECDsa folderKey = ECDsa.Create();
                folderKey.ImportFromPem(File.ReadAllText(keyFile));
                otherKey = !folderKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo());
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or CryptographicException)
        {
            return result with { Failure = LedgerFailure.Malformed, Problem = "the log key could not be read: " + ex.Message };
        }

        List<byte[]> entries;
        List<string> receipts;
        List<string> headLines;
        try
        {
            entries = ReadLines(Path.Combine(dir, FileTransparencyLog.EntriesFile));
            receipts = ReadLines(Path.Combine(dir, FileTransparencyLog.ReceiptsFile)).Select(System.Text.Encoding.ASCII.GetString).ToList();
            headLines = ReadLines(Path.Combine(dir, FileTransparencyLog.HeadsFile)).Select(System.Text.Encoding.UTF8.GetString).ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return result with { Failure = LedgerFailure.Malformed, Problem = ex.Message };
        }

        result = result with { Entries = entries.Count, Heads = headLines.Count };
        var tree = new MerkleTree();
        var time = new FixedTime();
        CertificateValidator? validator = options.DeviceAuthority is null ? null : new CertificateValidator(options.DeviceAuthority, timeProvider: time);
        long receiptsChecked = 0, signatures = 0, certificates = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            int index = tree.Append(entries[i]);
            (long claimed, DateTimeOffset at, LedgerEntry entry) parsed;
            try
            {
                parsed = LedgerEntry.Parse(entries[i]);
            }
            catch (InvalidDataException ex)
            {
                return Bad(LedgerFailure.Malformed, i, $"entry {i} is unreadable: {ex.Message}");
            }

            if (parsed.claimed != i)
            {
                return Bad(LedgerFailure.MissingEntry, i, parsed.claimed > i
                    ? $"entry {i} was written as entry {parsed.claimed}: {parsed.claimed - i} entr{(parsed.claimed - i == 1 ? "y is" : "ies are")} missing before it"
                    : $"entry {i} was written as entry {parsed.claimed}: entries were reordered or duplicated");
            }

            LedgerEntry e = parsed.entry;
            if (e.Kind == LedgerEntryKind.Update)
            {
                if (!e.Signature.IsEmpty)
                {
                    time.Now = parsed.at;
                    if (DeviceSignatureProblem(e, validator, ref certificates) is { } bad)
                    {
                        return Bad(LedgerFailure.ForgedDeviceSignature, i, $"entry {i} (round {e.Round}, device {e.DeviceId}): {bad}");
                    }

                    signatures++;
                }
                else if (options.RequireDeviceSignatures || validator is not null)
                {
                    return Bad(LedgerFailure.ForgedDeviceSignature, i, $"entry {i} (round {e.Round}, device {e.DeviceId}): the update carries no device signature");
                }
            }

            if (i >= receipts.Count)
            {
                return Bad(LedgerFailure.Unsigned, i, $"entry {i} has no receipt: the log never signed it");
            }

            byte[] receipt;
            try
            {
                receipt = Convert.FromBase64String(receipts[i]);
            }
            catch (FormatException)
            {
                return Bad(LedgerFailure.Malformed, i, $"receipt {i} is not base64");
            }

            if (!key.VerifyData(SignedTreeHead.ReceiptStatement(index, tree.LeafHashAt(index).Span), receipt, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            {
                if (otherKey && i == 0)
                {
                    return Bad(LedgerFailure.Rewritten, i, "the log is not signed by the pinned key: its log-key.pem is another key, and entry 0's receipt does not verify with the pinned one (the log was re-signed, or it is another log)");
                }

                return Bad(LedgerFailure.Rewritten, i, $"entry {i} (round {e.Round}, {LedgerEntry.KindName(e.Kind)}{(e.DeviceId is null ? string.Empty : ", device " + e.DeviceId)}) is not the entry the log signed: it was rewritten (its receipt does not verify)");
            }

            receiptsChecked++;
        }

        result = result with { ReceiptsChecked = receiptsChecked, DeviceSignaturesChecked = signatures, CertificatesChecked = certificates };
        SignedTreeHead? previous = null;
        int headsChecked = 0, consistency = 0;
        long inclusion = 0, covered = 0;
        for (int k = 0; k < headLines.Count; k++)
        {
            SignedTreeHead head;
            try
            {
                head = SignedTreeHead.Parse(headLines[k]);
            }
            catch (InvalidDataException ex)
            {
                return BadHead(LedgerFailure.Malformed, k, $"head {k + 1} is unreadable: {ex.Message}");
            }

            if (!head.VerifySignature(key))
            {
                return BadHead(LedgerFailure.ForgedHeadSignature, k, $"head {k + 1} (size {head.Size}) is not signed by the log key: its signature is forged");
            }

            headsChecked++;
            if (head.Size > entries.Count)
            {
                result = result with { HeadSignaturesChecked = headsChecked };
                return Bad(LedgerFailure.Truncated, entries.Count, $"truncated: head {k + 1} signs {head.Size} entries but the log holds {entries.Count}; entries {entries.Count} to {head.Size - 1} are missing");
            }

            if (previous is not null)
            {
                if (head.Size < previous.Size)
                {
                    return BadHead(LedgerFailure.Inconsistent, k, $"head {k + 1} (size {head.Size}) is smaller than head {k} (size {previous.Size})");
                }

                if (!MerkleTree.VerifyConsistency(previous.Size, head.Size, previous.RootHash.Span, head.RootHash.Span, tree.ConsistencyProof((int)previous.Size, (int)head.Size)))
                {
                    return BadHead(LedgerFailure.Inconsistent, k, $"head {k + 1} (size {head.Size}) is not consistent with head {k} (size {previous.Size}): the consistency proof fails");
                }

                consistency++;
            }

            for (long i = covered; i < head.Size; i++)
            {
                if (!MerkleTree.VerifyInclusion(i, head.Size, tree.LeafHashAt((int)i).Span, tree.InclusionProof((int)i, (int)head.Size), head.RootHash.Span))
                {
                    return Bad(LedgerFailure.NotInHead, i, $"entry {i} is not in head {k + 1} (size {head.Size}): the inclusion proof fails");
                }

                inclusion++;
            }

            covered = Math.Max(covered, head.Size);
            previous = head;
        }

        result = result with { HeadSignaturesChecked = headsChecked, InclusionProofsChecked = inclusion, ConsistencyProofsChecked = consistency, LastHead = previous };
        if (options.Committee is { } committee)
        {
            LedgerVerification quorum = CommitteeCheck.Verify(dir, headLines, entries, committee, result);
            if (!quorum.IsValid)
            {
                return quorum;
            }

            result = quorum;
        }

        if (covered < entries.Count)
        {
            return Bad(LedgerFailure.Unsigned, covered, $"entries {covered} to {entries.Count - 1} are in no signed head");
        }

        if (receipts.Count > entries.Count)
        {
            return Bad(LedgerFailure.Truncated, entries.Count, $"truncated: the log signed {receipts.Count} receipts but holds {entries.Count} entries");
        }

        return result;

        LedgerVerification Bad(LedgerFailure failure, long entry, string problem) => result with { Failure = failure, FirstBadEntry = entry, Problem = problem };

        LedgerVerification BadHead(LedgerFailure failure, int head, string problem) => result with { Failure = failure, BadHead = head + 1, Problem = problem, HeadSignaturesChecked = headsChecked };
    }

    internal static string? DeviceSignatureProblem(LedgerEntry e, CertificateValidator? validator, ref long certificates)
    {
        if (e.Certificate.IsEmpty)
        {
            return "the signed update carries no certificate";
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(e.Certificate.Span);
        }
        catch (CryptographicException ex)
        {
            return "the certificate is unreadable: " + ex.Message;
        }

        using (certificate)
        {
            if (validator is not null)
            {
                CertificateValidation check = validator.ValidateClaim(certificate, e.DeviceId);
                if (!check.IsValid)
                {
                    return "its certificate is not valid for the federation: " + check.Reason;
                }

                certificates++;
            }

            byte[] digest;
            try
            {
                digest = Convert.FromHexString(e.Digest ?? string.Empty);
            }
            catch (FormatException)
            {
                return "the digest is not hex";
            }

            using ECDsa? key = certificate.GetECDsaPublicKey();
            if (key is null)
            {
                return "the certificate has no ECDSA key";
            }

            return digest.Length == 32 && key.VerifyHash(digest, e.Signature.Span, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                ? null
                : "the device signature does not verify over the update digest (forged or altered)";
        }
    }

    private static List<byte[]> ReadLines(string path)
    {
        var lines = new List<byte[]>();
        if (!File.Exists(path))
        {
            return lines;
        }

        byte[] bytes = File.ReadAllBytes(path);
        int start = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'\n')
            {
                if (i > start)
                {
                    lines.Add(bytes[start..i]);
                }

                start = i + 1;
            }
        }

        if (start < bytes.Length)
        {
            lines.Add(bytes[start..]);
        }

        return lines;
    }

    /// <summary>Checks certificates at the time an entry was written.</summary>
    private sealed class FixedTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
