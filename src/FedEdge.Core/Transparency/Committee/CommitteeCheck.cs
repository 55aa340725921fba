using System.Globalization;
using System.Security.Cryptography;

namespace FedEdge.Transparency;

/// <summary>The verifier's committee check: every signed head has 2f + 1 valid co-signatures from the configured witnesses.</summary>
internal static class CommitteeCheck
{
    public static LedgerVerification Verify(string directory, List<string> headLines, IReadOnlyDictionary<string, string> committee, LedgerVerification result)
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
            for (int k = 0; k < headLines.Count; k++)
            {
                SignedTreeHead head = SignedTreeHead.Parse(headLines[k]);
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

                if (valid.Count < quorum)
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
}
