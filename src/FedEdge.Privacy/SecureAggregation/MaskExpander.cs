namespace FedEdge.Privacy.SecureAggregation;

/// <summary>Adds or subtracts the AES-CTR streams of many seeds into one vector, split into block-aligned ranges across cores.</summary>
internal static class MaskExpander
{
    public static void Apply(uint[] vector, IReadOnlyList<(byte[] Seed, bool Subtract)> seeds, int maxDegreeOfParallelism)
    {
        int parts = Math.Max(1, Math.Min(maxDegreeOfParallelism, vector.Length / 65536));
        int chunk = ((vector.Length / parts) + 3) & ~3;
        void Run(int part)
        {
            int from = part * chunk;
            int to = part == parts - 1 ? vector.Length : Math.Min(vector.Length, from + chunk);
            if (from >= to)
            {
                return;
            }

            foreach ((byte[] seed, bool subtract) in seeds)
            {
                using var prg = new AesCtrPrg(seed);
                prg.Apply(vector.AsSpan(from, to - from), from, subtract);
            }
        }

        if (parts == 1)
        {
            Run(0);
        }
        else
        {
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, Run);
        }
    }
}
