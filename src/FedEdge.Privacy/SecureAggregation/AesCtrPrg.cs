using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// A pseudo-random generator that expands a 32-byte seed into a stream of 32-bit words with
/// AES-256 in counter mode (AES-ECB over counter blocks, which AES-NI runs at memory speed).
/// Word i of the stream is word (i mod 4) of block floor(i / 4), so any range can be produced on its
/// own; callers split long vectors across threads.
/// </summary>
internal sealed class AesCtrPrg : IDisposable
{
    private const int BlocksPerChunk = 4096; // 64 KiB of key stream per AES call, stays in L2
    private readonly Aes _aes;

    public AesCtrPrg(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != 32)
        {
            throw new ArgumentException($"A PRG seed is 32 bytes, not {seed.Length}.", nameof(seed));
        }

        _aes = Aes.Create();
        _aes.Key = seed.ToArray();
    }

    /// <summary>Adds (or subtracts) words [start, start + accumulator.Length) of the stream into <paramref name="accumulator"/>, modulo 2^32.</summary>
    public void Apply(Span<uint> accumulator, int start, bool subtract)
    {
        if ((start & 3) != 0)
        {
            throw new ArgumentException("The start word must be a multiple of four (block aligned).", nameof(start));
        }

        byte[] counters = ArrayPool<byte>.Shared.Rent(BlocksPerChunk * 16);
        byte[] stream = ArrayPool<byte>.Shared.Rent(BlocksPerChunk * 16);
        try
        {
            Array.Clear(counters, 0, BlocksPerChunk * 16);
            long block = start / 4;
            int done = 0;
            while (done < accumulator.Length)
            {
                int words = Math.Min(BlocksPerChunk * 4, accumulator.Length - done);
                int blocks = (words + 3) / 4;
                for (int b = 0; b < blocks; b++)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(counters.AsSpan(b * 16, 8), block + b);
                }

                _aes.EncryptEcb(counters.AsSpan(0, blocks * 16), stream.AsSpan(0, blocks * 16), PaddingMode.None);
                ReadOnlySpan<uint> keyStream = MemoryMarshal.Cast<byte, uint>(stream.AsSpan(0, blocks * 16))[..words];
                Span<uint> target = accumulator.Slice(done, words);
                if (subtract)
                {
                    TensorPrimitives.Subtract(target, keyStream, target);
                }
                else
                {
                    TensorPrimitives.Add(target, keyStream, target);
                }

                done += words;
                block += blocks;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(counters);
            ArrayPool<byte>.Shared.Return(stream);
        }
    }

    /// <summary>Fills <paramref name="destination"/> with stream words starting at word 0.</summary>
    public void Fill(Span<uint> destination)
    {
        destination.Clear();
        Apply(destination, 0, subtract: false);
    }

    public void Dispose() => _aes.Dispose();
}
