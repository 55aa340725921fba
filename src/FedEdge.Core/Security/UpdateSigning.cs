using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Messaging;

namespace FedEdge.Security;

/// <summary>The outcome of checking an update's or a global model's signature.</summary>
public enum SignatureCheck
{
    /// <summary>The signature is valid for these bytes and this certificate's key.</summary>
    Valid = 0,

    /// <summary>There was no signature.</summary>
    Missing,

    /// <summary>The signature does not verify: tampered, made over other bytes, or by another key.</summary>
    Invalid,

    /// <summary>The certificate has no ECDSA public key.</summary>
    UnsupportedKey,

    /// <summary>The global model's stated hash does not match its parameters.</summary>
    HashMismatch,
}

/// <summary>
/// Signatures over updates and global models (ECDSA P-256, IEEE P1363 64-byte signatures, SHA-256). An update is
/// signed over the SHA-256 of its canonical bytes (sender, round, nonce, sample count, kind, tensor layout and the
/// values as they travel: the float32 values, little-endian, or, for an update a codec encoded
/// (<see cref="ModelUpdate.Encoded"/>), the codec's name and its encoded bytes, so that lossy codecs are signed over what
/// the device sent); the training metrics are not covered. A global model is signed over its version, round and
/// parameter hash.
/// </summary>
public static class UpdateSigning
{
    /// <summary>The metadata key under which a global model's signature travels (base64).</summary>
    public const string ModelSignatureKey = "fededge.signature";

    /// <summary>The metadata key of the round a global model closes.</summary>
    public const string ModelRoundKey = "fededge.round";

    private static readonly byte[] UpdateDomain = Encoding.ASCII.GetBytes("FEDEDGE-UPDATE-V1\0");
    private static readonly byte[] EncodedUpdateDomain = Encoding.ASCII.GetBytes("FEDEDGE-UPDATE-V2\0");
    private static readonly byte[] ModelDomain = Encoding.ASCII.GetBytes("FEDEDGE-MODEL-V1\0");

    /// <summary>The canonical bytes of <paramref name="update"/> that its signature covers.</summary>
    public static byte[] CanonicalBytes(ModelUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        // Float32 on the wire is the V1 canonical form itself (little-endian float32 values): such updates stay V1.
        EncodedValues? encoded = update.Encoded is { } e && !string.Equals(e.Codec, UpdateCodecSpec.Float32, StringComparison.Ordinal) ? e : null;
        using var stream = new MemoryStream(64 + (encoded?.Data.Length ?? (update.Values.Length * sizeof(float))));
        WriteHeader(stream, update, encoded);
        if (encoded is not null)
        {
            WriteString(stream, encoded.Codec);
            WriteInt64(stream, encoded.Data.Length);
            stream.Write(encoded.Data.Span);
            return stream.ToArray();
        }

        if (update.PendingFloat32 is { IsEmpty: false } wire)
        {
            // Not decoded yet: the float32 bytes as they travelled are the canonical little-endian values.
            stream.Write(wire.Span);
            return stream.ToArray();
        }

        ReadOnlySpan<float> values = update.Values.Values;
        if (BitConverter.IsLittleEndian)
        {
            // The canonical form is little-endian float32: on such a machine the values' memory is already those bytes.
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        }
        else
        {
            Span<byte> four = stackalloc byte[4];
            foreach (float value in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(four, value);
                stream.Write(four);
            }
        }

        return stream.ToArray();
    }

    /// <summary>The canonical bytes before the values: domain, sender, round, nonce, samples, kind and layout.</summary>
    private static void WriteHeader(MemoryStream stream, ModelUpdate update, EncodedValues? encoded)
    {
        stream.Write(encoded is null ? UpdateDomain : EncodedUpdateDomain);
        WriteString(stream, update.SenderId);
        WriteInt64(stream, update.Round);
        WriteString(stream, update.Nonce);
        WriteInt64(stream, update.SampleCount);
        WriteInt64(stream, (long)update.Kind);
        ParameterLayout layout = update.Layout;
        WriteInt64(stream, layout.Tensors.Count);
        foreach (TensorSpec tensor in layout.Tensors)
        {
            WriteString(stream, tensor.Name);
            WriteInt64(stream, tensor.Shape.Count);
            foreach (int dimension in tensor.Shape)
            {
                WriteInt64(stream, dimension);
            }
        }
    }

    /// <summary>The SHA-256 digest an update's signature signs.</summary>
    public static byte[] Digest(ModelUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        bool plainFloats = update.Encoded is not { } e || string.Equals(e.Codec, UpdateCodecSpec.Float32, StringComparison.Ordinal);
        ReadOnlyMemory<byte> pending = update.PendingFloat32;
        if (!plainFloats || (!BitConverter.IsLittleEndian && pending.IsEmpty))
        {
            return SHA256.HashData(CanonicalBytes(update));
        }

        // The canonical bytes are a short header and then the values' own memory: hash the header, then the values in
        // place, without copying the (often hundreds of kilobytes of) parameters twice.
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var header = new MemoryStream(256))
        {
            WriteHeader(header, update, encoded: null);
            hash.AppendData(header.GetBuffer(), 0, (int)header.Length);
        }

        // An update not decoded yet is hashed over the bytes as they travelled: verifying it decodes nothing.
        hash.AppendData(pending.IsEmpty ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(update.Values.Values) : pending.Span);
        return hash.GetHashAndReset();
    }

    /// <summary>Signs <paramref name="update"/> with <paramref name="key"/> and returns the update carrying the signature.</summary>
    public static ModelUpdate Sign(ModelUpdate update, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return update with { Signature = key.SignHash(Digest(update), DSASignatureFormat.IeeeP1363FixedFieldConcatenation) };
    }

    /// <summary>Checks the signature <paramref name="update"/> carries against <paramref name="certificate"/>'s public key.</summary>
    public static SignatureCheck Verify(ModelUpdate update, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(certificate);
        if (update.Signature.IsEmpty)
        {
            return SignatureCheck.Missing;
        }

        using ECDsa? key = certificate.GetECDsaPublicKey();
        if (key is null)
        {
            return SignatureCheck.UnsupportedKey;
        }

        return key.VerifyHash(Digest(update), update.Signature.Span, DSASignatureFormat.IeeeP1363FixedFieldConcatenation) ? SignatureCheck.Valid : SignatureCheck.Invalid;
    }

    /// <summary>Checks <paramref name="update"/>'s signature over an already computed <paramref name="digest"/> (<see cref="Digest"/>).</summary>
    internal static SignatureCheck Verify(ModelUpdate update, ReadOnlySpan<byte> digest, X509Certificate2 certificate)
    {
        if (update.Signature.IsEmpty)
        {
            return SignatureCheck.Missing;
        }

        using ECDsa? key = certificate.GetECDsaPublicKey();
        if (key is null)
        {
            return SignatureCheck.UnsupportedKey;
        }

        return key.VerifyHash(digest, update.Signature.Span, DSASignatureFormat.IeeeP1363FixedFieldConcatenation) ? SignatureCheck.Valid : SignatureCheck.Invalid;
    }

    /// <summary>The statement a global model's signature covers: its version, round and parameter hash.</summary>
    public static byte[] ModelStatement(long version, long round, string hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        using var stream = new MemoryStream();
        stream.Write(ModelDomain);
        WriteInt64(stream, version);
        WriteInt64(stream, round);
        WriteString(stream, hash);
        return stream.ToArray();
    }

    /// <summary>Signs <paramref name="model"/> (version, round, hash of its parameters) and returns it with the signature and round in its metadata.</summary>
    public static GlobalModel SignModel(GlobalModel model, long round, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(key);
        byte[] signature = key.SignData(ModelStatement(model.Version, round, model.Hash), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var metadata = new Dictionary<string, string>(model.Metadata, StringComparer.Ordinal)
        {
            [ModelRoundKey] = round.ToString(CultureInfo.InvariantCulture),
            [ModelSignatureKey] = Convert.ToBase64String(signature),
        };
        return model with { Metadata = metadata };
    }

    /// <summary>
    /// Checks that <paramref name="model"/> was signed by <paramref name="coordinator"/>'s key and that its parameters
    /// hash to the signed hash.
    /// </summary>
    public static SignatureCheck VerifyModel(GlobalModel model, X509Certificate2 coordinator)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(coordinator);
        if (!model.Metadata.TryGetValue(ModelSignatureKey, out string? text) || !model.Metadata.TryGetValue(ModelRoundKey, out string? roundText))
        {
            return SignatureCheck.Missing;
        }

        byte[] signature = new byte[64];
        if (!Convert.TryFromBase64String(text, signature, out int written) || written != 64
            || !long.TryParse(roundText, NumberStyles.Integer, CultureInfo.InvariantCulture, out long round))
        {
            return SignatureCheck.Invalid;
        }

        using ECDsa? key = coordinator.GetECDsaPublicKey();
        if (key is null)
        {
            return SignatureCheck.UnsupportedKey;
        }

        if (!key.VerifyData(ModelStatement(model.Version, round, model.Hash), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return SignatureCheck.Invalid;
        }

        return string.Equals(model.Parameters.ComputeHash(), model.Hash, StringComparison.Ordinal) ? SignatureCheck.Valid : SignatureCheck.HashMismatch;
    }

    private static void WriteInt64(Stream stream, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        stream.Write(bytes);
    }

    private static void WriteString(Stream stream, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        WriteInt64(stream, bytes.Length);
        stream.Write(bytes);
    }
}
