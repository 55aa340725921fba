using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>Key agreement, key derivation and authenticated encryption for secure aggregation, all from the BCL.</summary>
internal static class SecAggCrypto
{
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int PrivateKeySize = 32;
    private const string P256Oid = "1.2.840.10045.3.1.7";

    public static ECDiffieHellman CreateKey() => ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Imports a peer's SubjectPublicKeyInfo and checks that it is a P-256 key.</summary>
    public static ECDiffieHellman ImportPublicKey(byte[] spki)
    {
        var peer = ECDiffieHellman.Create();
        try
        {
            peer.ImportSubjectPublicKeyInfo(spki, out int read);
            if (read != spki.Length)
            {
                throw new CryptographicException("Trailing bytes after the public key.");
            }

            ECParameters parameters = peer.ExportParameters(false);
            if (parameters.Curve.Oid?.Value != P256Oid && parameters.Curve.Oid?.FriendlyName is not ("nistP256" or "ECDSA_P256" or "prime256v1"))
            {
                throw new CryptographicException("The public key is not on P-256.");
            }

            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Derives a 32-byte key from an ECDH agreement with HKDF-SHA256, bound to the purpose, round,
    /// nonce and the unordered pair of indices, so both ends derive the same key.
    /// </summary>
    public static byte[] DeriveKey(ECDiffieHellman own, ECDiffieHellman peer, string purpose, long round, string nonce, int indexA, int indexB)
    {
        byte[] shared = own.DeriveRawSecretAgreement(peer.PublicKey);
        try
        {
            byte[] info = BuildInfo(purpose, round, nonce, Math.Min(indexA, indexB), Math.Max(indexA, indexB));
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, salt: null, info: info);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
        }
    }

    public static byte[] BuildInfo(string purpose, long round, string nonce, int low, int high)
    {
        byte[] text = Encoding.UTF8.GetBytes($"fededge/secagg/v1/{purpose}/{nonce}");
        byte[] info = new byte[text.Length + 16];
        text.CopyTo(info, 0);
        BinaryPrimitives.WriteInt64LittleEndian(info.AsSpan(text.Length), round);
        BinaryPrimitives.WriteInt32LittleEndian(info.AsSpan(text.Length + 8), low);
        BinaryPrimitives.WriteInt32LittleEndian(info.AsSpan(text.Length + 12), high);
        return info;
    }

    public static byte[] Encrypt(byte[] key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] output = new byte[NonceSize + plaintext.Length + TagSize];
        Span<byte> nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var gcm = new AesGcm(key, TagSize);
        gcm.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length, TagSize), associatedData);
        return output;
    }

    /// <summary>Decrypts and authenticates; throws <see cref="AuthenticationTagMismatchException"/> (a <see cref="CryptographicException"/>) when tampered.</summary>
    public static byte[] Decrypt(byte[] key, ReadOnlySpan<byte> sealedBox, ReadOnlySpan<byte> associatedData)
    {
        if (sealedBox.Length < NonceSize + TagSize)
        {
            throw new CryptographicException($"A ciphertext of {sealedBox.Length} bytes is shorter than nonce and tag.");
        }

        int length = sealedBox.Length - NonceSize - TagSize;
        byte[] plaintext = new byte[length];
        using var gcm = new AesGcm(key, TagSize);
        gcm.Decrypt(sealedBox[..NonceSize], sealedBox.Slice(NonceSize, length), sealedBox.Slice(NonceSize + length, TagSize), plaintext, associatedData);
        return plaintext;
    }

    /// <summary>Rebuilds a P-256 key pair from its private scalar and its advertised public key.</summary>
    public static ECDiffieHellman RebuildPrivateKey(byte[] d, byte[] publicSpki)
    {
        using ECDiffieHellman pub = ImportPublicKey(publicSpki);
        ECParameters parameters = pub.ExportParameters(false);
        parameters.D = d;
        var key = ECDiffieHellman.Create();
        try
        {
            key.ImportParameters(parameters);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public static byte[] ExportPrivateScalar(ECDiffieHellman key)
    {
        ECParameters parameters = key.ExportParameters(true);
        byte[] d = parameters.D ?? throw new CryptographicException("The key has no private part.");
        if (d.Length != PrivateKeySize)
        {
            throw new CryptographicException($"A P-256 private scalar is {PrivateKeySize} bytes, not {d.Length}.");
        }

        return d;
    }
}
