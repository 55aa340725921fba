using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FedEdge.Transport.Faults;

/// <summary>The one fault (if any) among the exclusive ones that applies to a message.</summary>
internal enum Fault
{
    None,
    Drop,
    Duplicate,
    Reorder,
    Corrupt,
}

/// <summary>Which end of a link applies a fault, and to which direction of traffic.</summary>
internal enum FaultDirection
{
    /// <summary>The coordinator's sends to a device (or its broadcasts).</summary>
    CoordinatorSend,

    /// <summary>What the coordinator's transport delivers from a device to the coordinator's handler.</summary>
    CoordinatorDeliver,

    /// <summary>A worker's sends to the coordinator (including join requests).</summary>
    WorkerSend,

    /// <summary>What a worker's transport delivers to the worker's handler (including join responses).</summary>
    WorkerDeliver,
}

/// <summary>What happens to one message: one exclusive fault, optional latency, and where a corruption flips a bit.</summary>
internal readonly record struct FaultDraw(Fault Fault, bool Delayed, double DelayFraction, int FlipAt, byte FlipMask)
{
    public FaultDraw WithoutCorruption() => Fault == Fault.Corrupt ? this with { Fault = Fault.None } : this;
}

/// <summary>
/// The fault generator of one link in one direction: a SplitMix64 sequence seeded from SHA-256 of
/// (options seed, link, direction), so it is the same in every process and on every runtime, and
/// independent of every other link's. Draws are serialised; each consumes the same number of values.
/// </summary>
internal sealed class FaultStream
{
    private readonly Lock _gate = new();
    private ulong _state;

    public FaultStream(int seed, string link, FaultDirection direction)
    {
        _state = DeriveSeed(seed, link, direction);
    }

    /// <summary>The generator seed of (<paramref name="seed"/>, <paramref name="link"/>, <paramref name="direction"/>): the first 8 bytes of a SHA-256.</summary>
    public static ulong DeriveSeed(int seed, string link, FaultDirection direction)
    {
        string directionName = direction switch
        {
            FaultDirection.CoordinatorSend => "coordinator-send",
            FaultDirection.CoordinatorDeliver => "coordinator-deliver",
            FaultDirection.WorkerSend => "worker-send",
            _ => "worker-deliver",
        };

        // seed (4 bytes LE) | link length (4 bytes LE) | link UTF-8 | direction UTF-8: unambiguous for any link text.
        int linkBytes = Encoding.UTF8.GetByteCount(link);
        byte[] input = new byte[8 + linkBytes + Encoding.UTF8.GetByteCount(directionName)];
        BinaryPrimitives.WriteInt32LittleEndian(input, seed);
        BinaryPrimitives.WriteInt32LittleEndian(input.AsSpan(4), linkBytes);
        Encoding.UTF8.GetBytes(link, input.AsSpan(8));
        Encoding.UTF8.GetBytes(directionName, input.AsSpan(8 + linkBytes));
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        return BinaryPrimitives.ReadUInt64LittleEndian(hash);
    }

    /// <summary>Draws the fault of the next message with the rates <paramref name="options"/> has now.</summary>
    public FaultDraw Draw(FaultOptions options)
    {
        lock (_gate)
        {
            double roll = NextDouble();
            bool delayed = NextDouble() < options.DelayRate;
            double delayFraction = NextDouble();
            ulong bits = Next();
            int flipAt = (int)(bits >> 33);
            byte mask = (byte)(1 << (int)(bits & 7));
            Fault fault = Fault.None;
            double edge = options.DropRate;
            if (roll < edge)
            {
                fault = Fault.Drop;
            }
            else if (roll < (edge += options.DuplicateRate))
            {
                fault = Fault.Duplicate;
            }
            else if (roll < (edge += options.ReorderRate))
            {
                fault = Fault.Reorder;
            }
            else if (roll < edge + options.CorruptRate)
            {
                fault = Fault.Corrupt;
            }

            // Latency applies to what is still delivered; a reordered message has its own hold-back.
            return new FaultDraw(fault, delayed && fault is not (Fault.Drop or Fault.Reorder), delayFraction, flipAt, mask);
        }
    }

    // SplitMix64 (Steele, Lea, Flood 2014): small, fast, and fully specified here, unlike System.Random's seeded algorithm.
    private ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
