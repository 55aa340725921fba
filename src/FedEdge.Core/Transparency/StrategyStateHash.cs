using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using FedEdge.Aggregation;

namespace FedEdge.Transparency;

/// <summary>
/// The hash a round record gives a strategy's server-optimiser state (FedAvgM's velocity, FedAdam's and FedYogi's
/// moments and step), so a validator can check the state it is sent, or the state it kept, before recomputing a round.
/// </summary>
public static class StrategyStateHash
{
    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("FEDEDGE-STRATEGY-STATE-V1\0");

    /// <summary>
    /// Lower-case hex SHA-256 over a domain tag, the strategy's name, each array (by name, in ordinal order: name,
    /// length, little-endian float32 values) and each scalar (by name: name, IEEE 754 bits).
    /// </summary>
    public static string Compute(StrategyState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Domain);
        AppendString(hash, state.Strategy);
        foreach (KeyValuePair<string, float[]> array in state.Arrays.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            AppendString(hash, array.Key);
            AppendInt64(hash, array.Value.Length);
            if (BitConverter.IsLittleEndian)
            {
                hash.AppendData(MemoryMarshal.AsBytes(array.Value.AsSpan()));
            }
            else
            {
                byte[] bytes = new byte[array.Value.Length * sizeof(float)];
                for (int i = 0; i < array.Value.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), array.Value[i]);
                }

                hash.AppendData(bytes);
            }
        }

        foreach (KeyValuePair<string, double> scalar in state.Scalars.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            AppendString(hash, scalar.Key);
            AppendInt64(hash, BitConverter.DoubleToInt64Bits(scalar.Value));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void AppendString(IncrementalHash hash, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        AppendInt64(hash, bytes.Length);
        hash.AppendData(bytes);
    }

    private static void AppendInt64(IncrementalHash hash, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        hash.AppendData(bytes);
    }
}
