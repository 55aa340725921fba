using System.Globalization;
using System.Security.Cryptography;

namespace FedEdge.Transparency;

/// <summary>
/// The verifier's committee check: every signed head has 2f + 1 valid co-signatures from the configured witnesses,
/// except a head whose round lost its quorum and was withdrawn: it is followed by a head that adds exactly one
/// withdrawal entry for that round (and that withdrawal head, too, needs no quorum of its own; the next round's head
/// covers it).
/// </summary>
internal static class CommitteeCheck
{
    public static LedgerVerification Verify(string directory, List<string> headLines, List<byte[]> entries, IReadOnlyDictionary<string, string> committee, LedgerVerification result)
    {
        int members = committee.Count;
        if (members == 0 || (members - 1) % 3 != 0)
        {
            return result with { Failure = LedgerFailure.Malformed, Problem = string.Create(CultureInfo.InvariantCulture, $"a committee has 3f + 1 members (1, 4, 7, ...); {members} were given") };
        }

        int quorum = (2 * ((members - 1) / 3)) + 1;
        var keys = new Dictionary<string, ECDsa>(StringComparer.Ordinal);
        try
        {
            foreach ((string name, string pem) in committee)
            {
                try
                {
                    keys[name] = TreeHeadCommittee.ImportKey(pem, name);
                }
                catch (ArgumentException ex)
                {
                    return result with { Failure = LedgerFailure.Malformed, Problem = ex.Message };
                }
            }

            var lines = new Dictionary<(long, string), List<CoSignature>>();
            string path = Path.Combine(directory, FileTransparencyLog.CoSignaturesFile);
            int lineNumber = 0;
            foreach (string line in File.Exists(path) ? File.ReadLines(path) : [])
            {
                lineNumber++;
                if (line.Length == 0)
                {
                    continue;
                }

                try
                {
                    (long size, byte[] root, List<CoSignature> signatures) = CoSignatureLine.Parse(line);
                    (long, string) at = (size, Convert.ToHexStringLower(root));
                    if (!lines.TryGetValue(at, out List<CoSignature>? list))
                    {
                        lines[at] = list = [];
                    }

                    list.AddRange(signatures);
                }
                catch (InvalidDataException ex)
                {
                    return result with { Failure = LedgerFailure.Malformed, Problem = string.Create(CultureInfo.InvariantCulture, $"line {lineNumber} of {FileTransparencyLog.CoSignaturesFile} is unreadable: {ex.Message}") };
                }
            }

            int checkedSignatures = 0;
            SignedTreeHead[] heads = [.. headLines.Select(SignedTreeHead.Parse)];
            for (int k = 0; k < heads.Length; k++)
            {
                SignedTreeHead head = heads[k];
                var valid = new HashSet<string>(StringComparer.Ordinal);
                var problems = new List<string>();
                foreach (CoSignature signature in lines.GetValueOrDefault((head.Size, Convert.ToHexStringLower(head.RootHash.Span))) ?? [])
                {
                    if (!keys.TryGetValue(signature.Witness, out ECDsa? key))
                    {
                        problems.Add($"'{signature.Witness}' is not a committee member");
                    }
                    else if (!signature.Verify(head, key))
                    {
                        problems.Add($"{signature.Witness}'s co-signature does not verify (forged)");
                    }
                    else
                    {
                        valid.Add(signature.Witness);
                        checkedSignatures++;
                    }
                }

                if (valid.Count < quorum && !Withdrawn(heads, k, entries))
                {
                    string why = problems.Count == 0 ? string.Empty : "; " + string.Join("; ", problems);
                    return result with
                    {
                        Failure = LedgerFailure.NoQuorum,
                        BadHead = k + 1,
                        CoSignaturesChecked = checkedSignatures,
                        Problem = string.Create(CultureInfo.InvariantCulture, $"head {k + 1} (size {head.Size}) has {valid.Count} valid co-signatures of the {quorum} the committee of {members} needs{why}"),
                    };
                }
            }

            return result with { CoSignaturesChecked = checkedSignatures };
        }
        catch (IOException ex)
        {
            return result with { Failure = LedgerFailure.Malformed, Problem = ex.Message };
        }
        finally
        {
            foreach (ECDsa key in keys.Values)
            {
                key.Dispose();
            }
        }
    }

    /// <summary>True when head <paramref name="k"/> is a withdrawal head, or the head of a round the next head withdraws.</summary>
    private static bool Withdrawn(SignedTreeHead[] heads, int k, List<byte[]> entries) =>
        WithdrawalRound(heads, k, entries) is not null
        || (k + 1 < heads.Length && WithdrawalRound(heads, k + 1, entries) is long round && HasRoundRecord(entries, k == 0 ? 0 : heads[k - 1].Size, heads[k].Size, round));

    /// <summary>The round head <paramref name="k"/> withdraws when it adds exactly one entry, a withdrawal; otherwise null.</summary>
    private static long? WithdrawalRound(SignedTreeHead[] heads, int k, List<byte[]> entries)
    {
        long from = k == 0 ? 0 : heads[k - 1].Size;
        if (k == 0 || heads[k].Size != from + 1 || from >= entries.Count)
        {
            return null;
        }

        LedgerEntry? entry = TryParse(entries[(int)from]);
        return entry is { Kind: LedgerEntryKind.Withdrawal } ? entry.Round : null;
    }

    private static bool HasRoundRecord(List<byte[]> entries, long from, long to, long round)
    {
        for (long i = from; i < Math.Min(to, entries.Count); i++)
        {
            if (TryParse(entries[(int)i]) is { Kind: LedgerEntryKind.Round } entry && entry.Round == round)
            {
                return true;
            }
        }

        return false;
    }

    private static LedgerEntry? TryParse(byte[] leaf)
    {
        try
        {
            return LedgerEntry.Parse(leaf).Entry;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }
}
