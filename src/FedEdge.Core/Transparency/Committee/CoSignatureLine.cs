using System.Text.Json;

namespace FedEdge.Transparency;

/// <summary>One line of <c>cosignatures.jsonl</c>: the head it belongs to (size and root) and the co-signatures.</summary>
internal static class CoSignatureLine
{
    public static string Format(SignedTreeHead head, IReadOnlyList<CoSignature> coSignatures) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["size"] = head.Size,
        ["root"] = Convert.ToHexStringLower(head.RootHash.Span),
        ["cosignatures"] = coSignatures.Select(c => new Dictionary<string, string> { ["witness"] = c.Witness, ["signature"] = Convert.ToBase64String(c.Signature.Span) }).ToList(),
    });

    /// <exception cref="InvalidDataException">The line is not a co-signature line.</exception>
    public static (long Size, byte[] Root, List<CoSignature> CoSignatures) Parse(string line)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            JsonElement e = document.RootElement;
            var signatures = new List<CoSignature>();
            foreach (JsonElement c in e.GetProperty("cosignatures").EnumerateArray())
            {
                signatures.Add(new CoSignature(c.GetProperty("witness").GetString() ?? string.Empty, Convert.FromBase64String(c.GetProperty("signature").GetString() ?? string.Empty)));
            }

            return (e.GetProperty("size").GetInt64(), Convert.FromHexString(e.GetProperty("root").GetString() ?? string.Empty), signatures);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("not a co-signature line: " + ex.Message, ex);
        }
    }
}
