using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Mud.Tests;

public class ParserFuzzTests
{
    private static readonly byte[][] Seeds = Corpus.MudFiles.Select(e => File.ReadAllBytes(e.FullPath)).ToArray();

    private static readonly byte[] Tokens = "{}[]\":,0n-tf\\ e.1"u8.ToArray();

    /// <summary>A mutation: (kind, position, byte).</summary>
    public static Arbitrary<(int Kind, int Pos, byte Value)[]> Mutations() =>
        (from kind in Gen.Choose(0, 4)
         from pos in Gen.Choose(0, int.MaxValue)
         from value in Gen.Choose(0, 255)
         select (kind, pos, (byte)value))
            .ArrayOf()
            .Select(a => a.Take(12).ToArray())
            .ToArbitrary();

    private static byte[] Mutate(byte[] seed, (int Kind, int Pos, byte Value)[] edits)
    {
        var bytes = new List<byte>(seed);
        foreach ((int kind, int pos, byte value) in edits)
        {
            if (bytes.Count == 0)
            {
                bytes.Add(value);
                continue;
            }

            int i = pos % bytes.Count;
            switch (kind)
            {
                case 0:
                    bytes[i] = value;
                    break;
                case 1:
                    bytes.RemoveRange(i, Math.Min(1 + (value % 16), bytes.Count - i));
                    break;
                case 2:
                    bytes.Insert(i, Tokens[value % Tokens.Length]);
                    break;
                case 3:
                    bytes.RemoveRange(i, bytes.Count - i);
                    break;
                default:
                    int len = Math.Min(1 + value, bytes.Count - i);
                    bytes.InsertRange(i, bytes.GetRange(i, len));
                    break;
            }
        }

        return bytes.ToArray();
    }

    [Property(MaxTest = 400, Arbitrary = [typeof(ParserFuzzTests)])]
    public bool Parse_MutatedCorpusFile_NeverThrowsAndReportsErrorsWithPaths(NonNegativeInt fileIndex, (int Kind, int Pos, byte Value)[] edits, bool lenient)
    {
        byte[] input = Mutate(Seeds[fileIndex.Get % Seeds.Length], edits);
        MudParseResult result = MudParser.Parse(input, lenient ? MudParserOptions.Lenient : MudParserOptions.Strict);
        return result.Diagnostics.All(d => d.Path.StartsWith('$') && d.Code.StartsWith("MUD", StringComparison.Ordinal))
               && (result.IsValid || result.Errors.Any());
    }

    [Property(MaxTest = 200)]
    public bool Parse_ArbitraryString_NeverThrows(string? text)
    {
        MudParseResult result = MudParser.Parse(Encoding.UTF8.GetBytes(text ?? string.Empty), MudParserOptions.Lenient);
        return !result.IsValid;
    }

    [Fact]
    public void Parse_DeepNesting_ReportsTooDeepWithoutRecursing()
    {
        string json = new string('[', 100_000) + new string(']', 100_000);
        MudParseResult result = MudParser.Parse(json);
        Assert.Null(result.File);
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.TooDeep);
    }

    [Fact]
    public void Parse_OversizedInput_ReportsTooLarge()
    {
        byte[] big = new byte[2 * 1024 * 1024];
        Array.Fill(big, (byte)' ');
        MudParseResult result = MudParser.Parse(big);
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.TooLarge);
        Assert.False(result.IsValid);
    }

    [Fact]
    public void Parse_TooManyAces_StopsWithTooManyAces()
    {
        var aces = string.Join(",", Enumerable.Range(0, 50).Select(i => $$$$"""{"name":"a{{{{i}}}}","matches":{},"actions":{"forwarding":"accept"}}"""));
        string json = $$$$"""{"ietf-mud:mud":{"mud-version":1,"mud-url":"https://x.example.com/a","last-update":"2020-01-01T00:00:00Z","is-supported":true,"from-device-policy":{"access-lists":{"access-list":[{"name":"f"}]}}},"ietf-access-control-list:acls":{"acl":[{"name":"f","type":"ipv4-acl-type","aces":{"ace":[{{{{aces}}}}]}}]}}""";
        MudParseResult result = MudParser.Parse(json, new MudParserOptions { MaxAces = 10 });
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.TooManyAces);
        Assert.False(result.IsValid);
        Assert.True(MudParser.Parse(json).IsValid);
    }

    [Fact]
    public void Parse_ManyDefects_CapsDiagnostics()
    {
        var aces = string.Join(",", Enumerable.Range(0, 300).Select(i => $$$$"""{"name":"a{{{{i}}}}","bogus":1,"matches":{"weird":{}},"actions":{"forwarding":"maybe"}}"""));
        string json = $$$$"""{"ietf-access-control-list:acls":{"acl":[{"name":"f","type":"ipv4-acl-type","aces":{"ace":[{{{{aces}}}}]}}]}}""";
        MudParseResult result = MudParser.Parse(json, new MudParserOptions { MaxDiagnostics = 50 });
        Assert.Equal(50, result.Diagnostics.Count);
    }
}

public class ParserEncodingTests
{
    [Fact]
    public void Parse_InvalidUtf8InsideAString_ReportsInvalidJson()
    {
        byte[] input = File.ReadAllBytes(Corpus.PathOf("osmud", "ieft-draft.json"));
        input[8] = 0xA1;
        MudParseResult result = MudParser.Parse(input);
        Assert.Contains(result.Diagnostics, d => d.Code == MudDiagnosticCodes.InvalidJson);
        Assert.Null(result.File);
    }
}
