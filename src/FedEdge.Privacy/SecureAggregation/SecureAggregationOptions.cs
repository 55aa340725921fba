namespace FedEdge.Privacy.SecureAggregation;

/// <summary>Server-side settings of secure aggregation; validated by <see cref="Validate"/> when a round starts.</summary>
public sealed class SecureAggregationOptions
{
    /// <summary>Shamir threshold t: shares needed to rebuild a client's self-mask seed or masking key. Must be at least 2 (default 2).</summary>
    /// <remarks>Pick t above half of each client's neighbourhood (SecAgg+) or of the roster (SecAgg) so that a server needs a majority to unmask anything.</remarks>
    public int Threshold { get; set; } = 2;

    /// <summary>The fewest clients any phase may continue with (default: <see cref="Threshold"/>). Below it the round aborts.</summary>
    public int? MinimumClients { get; set; }

    /// <summary>SecAgg+ neighbours per client (even, default 0 = complete graph, the original SecAgg). O(log n) keeps client work flat as n grows.</summary>
    public int NeighbourCount { get; set; }

    /// <summary>Each input value is clipped to [−ClipRange, ClipRange] before quantisation (default 1).</summary>
    public float ClipRange { get; set; } = 1f;

    /// <summary>How long clients have to advertise keys (default 30 s).</summary>
    public TimeSpan AdvertiseKeysTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long clients have to send their encrypted shares (default 30 s).</summary>
    public TimeSpan ShareKeysTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long clients have to send their masked input (default 120 s; covers local training when masking follows it).</summary>
    public TimeSpan MaskedInputTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>How long survivors have to reveal shares (default 30 s).</summary>
    public TimeSpan UnmaskingTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The effective minimum number of clients.</summary>
    public int EffectiveMinimumClients => MinimumClients ?? Threshold;

    /// <summary>Throws when a setting is out of range.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public void Validate()
    {
        if (Threshold < 2)
        {
            throw new ArgumentException($"SecureAggregationOptions.Threshold must be at least 2, not {Threshold}.");
        }

        if (EffectiveMinimumClients < Threshold)
        {
            throw new ArgumentException($"SecureAggregationOptions.MinimumClients ({EffectiveMinimumClients}) must be at least the threshold ({Threshold}).");
        }

        if (NeighbourCount < 0 || (NeighbourCount & 1) != 0)
        {
            throw new ArgumentException($"SecureAggregationOptions.NeighbourCount must be 0 or a positive even number, not {NeighbourCount}.");
        }

        if (NeighbourCount > 0 && Threshold > NeighbourCount + 1)
        {
            throw new ArgumentException($"SecureAggregationOptions.Threshold ({Threshold}) cannot exceed the neighbourhood size NeighbourCount + 1 ({NeighbourCount + 1}).");
        }

        if (!(ClipRange > 0) || !float.IsFinite(ClipRange))
        {
            throw new ArgumentException($"SecureAggregationOptions.ClipRange must be positive and finite, not {ClipRange}.");
        }

        foreach ((string name, TimeSpan value) in new[] { (nameof(AdvertiseKeysTimeout), AdvertiseKeysTimeout), (nameof(ShareKeysTimeout), ShareKeysTimeout), (nameof(MaskedInputTimeout), MaskedInputTimeout), (nameof(UnmaskingTimeout), UnmaskingTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"SecureAggregationOptions.{name} must be positive, not {value}.");
            }
        }
    }
}
