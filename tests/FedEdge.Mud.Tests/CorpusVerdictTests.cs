namespace FedEdge.Mud.Tests;

public class CorpusVerdictTests
{
    /// <summary>Remark phrases in PROVENANCE.md and the diagnostic code that must name each defect.</summary>
    private static readonly (string Phrase, string Code)[] DefectCodes =
    [
        ("NOT valid JSON", MudDiagnosticCodes.InvalidJson),
        ("no 'ietf-mud:mud' root", MudDiagnosticCodes.MudContainerMissing),
        ("pre-RFC8519 'ietf-access-control-list:access-lists'", MudDiagnosticCodes.LegacyAclContainer),
        ("missing mandatory", MudDiagnosticCodes.MissingLeaf),
        ("undeclared extension node", MudDiagnosticCodes.UndeclaredExtension),
        ("eth (MAC) match inside an ipv4-acl-type ACL", MudDiagnosticCodes.MatchTypeMismatch),
        ("'ethernet-acl-type' (not an RFC 8519 identity)", MudDiagnosticCodes.UnknownAclType),
        ("unregistered MUD URN", MudDiagnosticCodes.UnregisteredMudUrn),
        ("mud-url not https", MudDiagnosticCodes.BadMudUrl),
        ("mud-url host contains '_'", MudDiagnosticCodes.BadMudUrl),
        ("last-update not yang date-and-time", MudDiagnosticCodes.BadDateTime),
        ("encoded as []", MudDiagnosticCodes.EmptyLeafEncoding),
        ("controller value not a URI", MudDiagnosticCodes.NotAUri),
        ("no ACL root container", MudDiagnosticCodes.AclContainerMissing),
        ("uses old 'acl-name'", MudDiagnosticCodes.LegacyMemberName),
        ("referenced from BOTH", MudDiagnosticCodes.AclInBothDirections),
        ("IP-literal match", MudDiagnosticCodes.IpLiteral),
        ("systeminfo >60", MudDiagnosticCodes.LongSystemInfo),
        ("L4 match without L3 protocol", MudDiagnosticCodes.L4WithoutProtocol),
    ];

    [Fact]
    public void Provenance_ListsTheWholeCorpus_AtLeastFiftyMudFiles()
    {
        Assert.True(Corpus.MudFiles.Count() >= 50, $"only {Corpus.MudFiles.Count()} MUD rows parsed from PROVENANCE.md");
        Assert.All(Corpus.MudFiles, e => Assert.True(File.Exists(e.FullPath), e.ToString()));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ParseStrict_CorpusFile_MatchesProvenanceVerdict(string id)
    {
        CorpusEntry entry = Corpus.Get(id);
        MudParseResult result = MudParser.Parse(File.ReadAllBytes(entry.FullPath), MudParserOptions.Strict);
        string all = string.Join(Environment.NewLine, result.Diagnostics);
        if (entry.Conformant.StartsWith("yes", StringComparison.Ordinal))
        {
            Assert.True(result.IsValid, $"{id} is conformant per PROVENANCE.md but strict mode reported:{Environment.NewLine}{all}");
            Assert.NotNull(result.File);
            Assert.NotEmpty(result.File!.Acls);
            if (entry.Conformant == "yes*")
            {
                Assert.Contains(result.Diagnostics, d => d.Severity == MudSeverity.Warning);
            }
        }
        else
        {
            Assert.Equal("no", entry.Conformant);
            Assert.False(result.IsValid, $"{id} is non-conformant per PROVENANCE.md but strict mode accepted it:{Environment.NewLine}{all}");
        }

        foreach ((string phrase, string code) in DefectCodes)
        {
            if (entry.Remarks.Contains(phrase, StringComparison.Ordinal))
            {
                Assert.True(result.Diagnostics.Any(d => d.Code == code), $"{id}: PROVENANCE says '{phrase}' but no {code} diagnostic:{Environment.NewLine}{all}");
            }
        }

        Assert.All(result.Diagnostics, d =>
        {
            Assert.StartsWith("$", d.Path, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(d.Rule));
            Assert.StartsWith("MUD", d.Code, StringComparison.Ordinal);
        });
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ParseLenient_CorpusFile_ReadsEveryJsonFileWithAMudOrAclRoot(string id)
    {
        CorpusEntry entry = Corpus.Get(id);
        MudParseResult strict = MudParser.Parse(File.ReadAllBytes(entry.FullPath), MudParserOptions.Strict);
        MudParseResult lenient = MudParser.Parse(File.ReadAllBytes(entry.FullPath), MudParserOptions.Lenient);
        if (entry.Remarks.Contains("NOT valid JSON", StringComparison.Ordinal))
        {
            Assert.Null(lenient.File);
            Assert.Contains(lenient.Diagnostics, d => d.Code == MudDiagnosticCodes.InvalidJson);
            return;
        }

        Assert.NotNull(lenient.File);
        Assert.True(lenient.Errors.Count() <= strict.Errors.Count(), id);
        if (strict.IsValid)
        {
            Assert.True(lenient.IsValid, id);
        }

        if (entry.Remarks.Contains("pre-RFC8519", StringComparison.Ordinal) || entry.Remarks.Contains("draft-era", StringComparison.Ordinal))
        {
            int strictAces = strict.File?.Acls.Sum(a => a.Aces.Count) ?? 0;
            int lenientAces = lenient.File!.Acls.Sum(a => a.Aces.Count);
            Assert.True(lenientAces > 0, $"lenient mode read no ACE from draft-era {id}");
            Assert.True(lenientAces >= strictAces, id);
            Assert.True(lenient.File.FromDevicePolicy.Count + lenient.File.ToDevicePolicy.Count > 0, id);
        }
    }

    public static TheoryData<string> Files() => Corpus.MudFileIds();
}
