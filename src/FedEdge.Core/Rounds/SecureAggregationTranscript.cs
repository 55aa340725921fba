using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FedEdge.Rounds;

/// <summary>
/// What a finished secure-aggregation round can show a committee without revealing any device's input: who took part
/// (the roster of devices that advertised keys), the secret-sharing threshold, whose masked inputs are in the sum,
/// whose masks were removed after they dropped out, and the unmasked sum itself (the parameters' weighted sum, then
/// the total weight, then the weighted loss). The coordinator logs it as a <c>transcript</c> entry with the sum's hash;
/// a validator recomputes the round's model from the sum.
/// </summary>
public sealed record SecureAggregationTranscript
{
    /// <summary>Values the sum carries after the parameters: the total weight and the weighted loss.</summary>
    public const int ExtraSlots = 2;

    /// <summary>The sender id of the single aggregate update a secure round folds into the strategy.</summary>
    public const string AggregateSenderId = "fededge.secure-aggregate";

    /// <summary>The devices that advertised keys and so received the round's roster (the protocol's U1).</summary>
    public required IReadOnlyList<string> Roster { get; init; }

    /// <summary>t: the shares needed to rebuild a device's secret; fewer than t colluding devices learn nothing.</summary>
    public required int Threshold { get; init; }

    /// <summary>The devices whose masked inputs are in <see cref="Sum"/>.</summary>
    public required IReadOnlyList<string> Contributors { get; init; }

    /// <summary>Devices that shared keys but sent no input; their masks were removed.</summary>
    public IReadOnlyList<string> RecoveredDropouts { get; init; } = [];

    /// <summary>The unmasked sum: the parameters' weighted sum, the total weight, the weighted loss.</summary>
    public required ReadOnlyMemory<float> Sum { get; init; }

    /// <summary>Lower-case hex SHA-256 of the sum's little-endian float32 bytes (what the transcript entry records).</summary>
    public static string SumHash(ReadOnlySpan<float> sum)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(MemoryMarshal.AsBytes(sum), hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>
    /// The one update a secure round folds into the strategy: the sample-weighted mean change Σ nᵢΔᵢ / Σ nᵢ, weighing
    /// the total weight; null when the sum is not for <paramref name="global"/>'s layout or its weight is unusable.
    /// The coordinator and every validator build it with this method, so they fold the same bits.
    /// </summary>
    /// <param name="global">The global parameters the round started from.</param>
    /// <param name="sum">The unmasked sum (<see cref="Sum"/>).</param>
    /// <param name="round">The round.</param>
    /// <param name="nonce">The round's nonce.</param>
    public static ModelUpdate? MeanUpdate(ParameterSet global, ReadOnlySpan<float> sum, long round, string nonce)
    {
        ArgumentNullException.ThrowIfNull(global);
        int n = global.Length;
        if (sum.Length != n + ExtraSlots)
        {
            return null;
        }

        double weight = sum[n];
        if (!(weight > 0.5) || !double.IsFinite(weight))
        {
            return null;
        }

        var delta = new ParameterSet(global.Layout);
        Span<float> d = delta.Values;
        for (int i = 0; i < n; i++)
        {
            d[i] = (float)(sum[i] / weight);
        }

        return new ModelUpdate
        {
            SenderId = AggregateSenderId,
            Round = round,
            Nonce = nonce,
            SampleCount = Math.Max(1, (long)Math.Round(weight)),
            Kind = UpdateKind.Delta,
            Values = delta,
        };
    }
}
