using System.Security.Cryptography;

namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>
/// Draws standard normal samples (Marsaglia's polar method) from the OS CSPRNG, or from a seeded
/// <see cref="Random"/> for reproducible tests and simulations. Not thread-safe; use one per thread.
/// </summary>
/// <remarks>
/// Uniforms carry 53 random bits. Floating-point Gaussian samplers are known to leak through their
/// low-order bits (Mironov, CCS 2012) when an attacker sees the exact noised float; FedEdge noises
/// model updates that are then quantised (secure aggregation) or averaged, which blunts that channel.
/// </remarks>
public sealed class GaussianNoise
{
    private readonly Random? _random;
    private readonly ulong[] _buffer = new ulong[256];
    private int _position = 256;
    private double _spare;
    private bool _hasSpare;

    /// <summary>Creates a sampler over the OS CSPRNG (use this for real privacy).</summary>
    public GaussianNoise()
    {
    }

    /// <summary>Creates a reproducible sampler from a seed (tests and simulations only: not private).</summary>
    public GaussianNoise(int seed)
    {
        _random = new Random(seed);
    }

    /// <summary>One sample from N(0, 1).</summary>
    public double NextStandard()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }

        while (true)
        {
            double u = (2 * NextUniform()) - 1;
            double v = (2 * NextUniform()) - 1;
            double s = (u * u) + (v * v);
            if (s > 0 && s < 1)
            {
                double factor = Math.Sqrt(-2 * Math.Log(s) / s);
                _spare = v * factor;
                _hasSpare = true;
                return u * factor;
            }
        }
    }

    /// <summary>Adds independent N(0, stdDev²) noise to every value.</summary>
    public void AddNoise(Span<float> values, double stdDev)
    {
        if (!(stdDev >= 0) || double.IsInfinity(stdDev))
        {
            throw new ArgumentOutOfRangeException(nameof(stdDev), stdDev, "The noise standard deviation must be finite and non-negative.");
        }

        if (stdDev == 0)
        {
            return;
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(values[i] + (stdDev * NextStandard()));
        }
    }

    private double NextUniform()
    {
        if (_random is not null)
        {
            return _random.NextDouble();
        }

        if (_position == _buffer.Length)
        {
            RandomNumberGenerator.Fill(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_buffer.AsSpan()));
            _position = 0;
        }

        return (_buffer[_position++] >> 11) * (1.0 / (1UL << 53));
    }
}
