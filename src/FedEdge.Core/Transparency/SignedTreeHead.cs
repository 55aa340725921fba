using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FedEdge.Transparency;

/// <summary>
/// A tree head the log's key signed: the tree size, its RFC 9162 root hash and the time. The signature is ECDSA P-256
/// (IEEE P1363, SHA-256) over <see cref="Statement"/>. Also the per-entry receipt's statement, after Certificate
/// Transparency's signed certificate timestamps: the log's promise that leaf <c>index</c> has this hash.
/// </summary>
/// <param name="Size">The number of entries the head covers.</param>
/// <param name="RootHash">MTH of the first <paramref name="Size"/> entries.</param>
/// <param name="Timestamp">When the head was signed (millisecond precision).</param>
/// <param name="Signature">The log key's signature over <see cref="Statement"/>.</param>
public sealed record SignedTreeHead(long Size, ReadOnlyMemory<byte> RootHash, DateTimeOffset Timestamp, ReadOnlyMemory<byte> Signature)
{
    private static readonly byte[] HeadDomain = Encoding.ASCII.GetBytes("FEDEDGE-TREE-HEAD-V1\0");
    private static readonly byte[] ReceiptDomain = Encoding.ASCII.GetBytes("FEDEDGE-ENTRY-RECEIPT-V1\0");

    /// <summary>The bytes the head's signature covers: a domain tag, the size, the time (Unix milliseconds) and the root.</summary>
    public static byte[] Statement(long size, ReadOnlySpan<byte> root, DateTimeOffset timestamp)
    {
        byte[] bytes = new byte[HeadDomain.Length + 16 + root.Length];
        HeadDomain.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(HeadDomain.Length), size);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(HeadDomain.Length + 8), timestamp.ToUnixTimeMilliseconds());
        root.CopyTo(bytes.AsSpan(HeadDomain.Length + 16));
        return bytes;
    }

    /// <summary>The bytes an entry receipt's signature covers: a domain tag, the leaf index and the leaf hash.</summary>
    public static byte[] ReceiptStatement(long index, ReadOnlySpan<byte> leafHash)
    {
        byte[] bytes = new byte[ReceiptDomain.Length + 8 + leafHash.Length];
        ReceiptDomain.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(ReceiptDomain.Length), index);
        leafHash.CopyTo(bytes.AsSpan(ReceiptDomain.Length + 8));
        return bytes;
    }

    /// <summary>Signs a head with <paramref name="key"/>.</summary>
    public static SignedTreeHead Sign(long size, ReadOnlySpan<byte> root, DateTimeOffset timestamp, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(timestamp.ToUnixTimeMilliseconds());
        byte[] signature = key.SignData(Statement(size, root, at), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new SignedTreeHead(size, root.ToArray(), at, signature);
    }

    /// <summary>True when <see cref="Signature"/> is <paramref name="key"/>'s signature over this head.</summary>
    public bool VerifySignature(ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Signature.Length == 64 && key.VerifyData(Statement(Size, RootHash.Span, Timestamp), Signature.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>The head as one JSON line (<c>size</c>, <c>root</c> hex, <c>timestamp</c>, <c>signature</c> base64).</summary>
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["size"] = Size,
        ["root"] = Convert.ToHexStringLower(RootHash.Span),
        ["timestamp"] = Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        ["signature"] = Convert.ToBase64String(Signature.Span),
    });

    /// <summary>Reads a head written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">The text is not a tree head.</exception>
    public static SignedTreeHead Parse(string json)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement e = document.RootElement;
            byte[] root = Convert.FromHexString(e.GetProperty("root").GetString() ?? string.Empty);
            if (root.Length != MerkleTree.HashSize)
            {
                throw new InvalidDataException($"the root hash has {root.Length} bytes, not {MerkleTree.HashSize}");
            }

            return new SignedTreeHead(
                e.GetProperty("size").GetInt64(),
                root,
                DateTimeOffset.Parse(e.GetProperty("timestamp").GetString() ?? string.Empty, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                Convert.FromBase64String(e.GetProperty("signature").GetString() ?? string.Empty));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException("not a signed tree head: " + ex.Message, ex);
        }
    }
}
