using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace FedEdge.Flower.Objects;

/// <summary>
/// Flower's serialised object: the ASCII head <c>"&lt;Class&gt; &lt;child ids, comma-separated&gt; &lt;body length&gt;"</c>,
/// a zero byte, then the body. The object's id is the lower-case SHA-256 hex of those bytes.
/// </summary>
internal static class ObjectCodec
{
    /// <summary>The class names Flower's object tree uses.</summary>
    public const string Message = "Message";
    public const string RecordDict = "RecordDict";
    public const string ArrayRecord = "ArrayRecord";
    public const string MetricRecord = "MetricRecord";
    public const string ConfigRecord = "ConfigRecord";
    public const string Array = "Array";
    public const string ArrayChunk = "ArrayChunk";

    /// <summary>The largest ArrayChunk body Flower makes (5 MiB).</summary>
    public const int MaxChunkBytes = 5 * 1024 * 1024;

    /// <summary>The longest head accepted when parsing (class, up to many child ids, length).</summary>
    private const int MaxHeadBytes = 1 << 20;

    /// <summary>Serialises one object.</summary>
    public static byte[] Write(string className, IReadOnlyList<string> childIds, ReadOnlySpan<byte> body)
    {
        string head = string.Create(CultureInfo.InvariantCulture, $"{className} {string.Join(',', childIds)} {body.Length}");
        byte[] result = new byte[Encoding.UTF8.GetByteCount(head) + 1 + body.Length];
        int n = Encoding.UTF8.GetBytes(head, result);
        result[n] = 0;
        body.CopyTo(result.AsSpan(n + 1));
        return result;
    }

    /// <summary>The id of serialised object bytes: SHA-256, lower-case hex.</summary>
    public static string Id(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>True when <paramref name="id"/> looks like an object id (64 lower-case hex digits).</summary>
    public static bool IsValidId(string? id) =>
        id is { Length: 64 } && id.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    /// <summary>Parses serialised bytes into class, child ids and body, checking the head's structure and length.</summary>
    /// <exception cref="FlowerProtocolException">The bytes are not a well-formed object.</exception>
    public static ParsedObject Parse(ReadOnlyMemory<byte> content)
    {
        ReadOnlySpan<byte> span = content.Span;
        int zero = span[..Math.Min(span.Length, MaxHeadBytes)].IndexOf((byte)0);
        if (zero < 0)
        {
            throw new FlowerProtocolException("Malformed Flower object: no zero byte after the head.");
        }

        string head;
        try
        {
            head = new UTF8Encoding(false, true).GetString(span[..zero]);
        }
        catch (DecoderFallbackException ex)
        {
            throw new FlowerProtocolException("Malformed Flower object: the head is not UTF-8.", ex);
        }

        string[] parts = head.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0)
        {
            throw new FlowerProtocolException($"Malformed Flower object head '{Shorten(head)}': expected '<Class> <child ids> <body length>'.");
        }

        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length != span.Length - zero - 1)
        {
            throw new FlowerProtocolException($"Malformed {Shorten(parts[0])} object: the head gives a body of {Shorten(parts[2])} bytes but {span.Length - zero - 1} follow.");
        }

        string[] children = parts[1].Length == 0 ? [] : parts[1].Split(',');
        foreach (string child in children)
        {
            if (!IsValidId(child))
            {
                throw new FlowerProtocolException($"Malformed {Shorten(parts[0])} object: child id '{Shorten(child)}' is not a SHA-256 hex id.");
            }
        }

        return new ParsedObject(parts[0], children, content[(zero + 1)..]);
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";
}

/// <summary>An object's parts.</summary>
internal readonly record struct ParsedObject(string ClassName, IReadOnlyList<string> ChildIds, ReadOnlyMemory<byte> Body);

/// <summary>JSON written exactly as Python's <c>json.dumps</c> with its defaults (", " and ": ", ASCII escapes), which Flower's object bodies use.</summary>
internal static class PythonJson
{
    /// <summary>Writes a JSON string literal as Python would.</summary>
    public static void WriteString(StringBuilder sb, string value)
    {
        sb.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Writes <c>{"key": "value", ...}</c> for string values.</summary>
    public static byte[] StringMap(IEnumerable<KeyValuePair<string, string>> items)
    {
        var sb = new StringBuilder("{");
        bool first = true;
        foreach (KeyValuePair<string, string> item in items)
        {
            if (!first)
            {
                sb.Append(", ");
            }

            first = false;
            WriteString(sb, item.Key);
            sb.Append(": ");
            WriteString(sb, item.Value);
        }

        return Encoding.ASCII.GetBytes(sb.Append('}').ToString());
    }

    /// <summary>Writes a list of integers as <c>[1, 2]</c>.</summary>
    public static void WriteIntList(StringBuilder sb, IEnumerable<int> values) =>
        sb.Append('[').AppendJoin(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture))).Append(']');
}
