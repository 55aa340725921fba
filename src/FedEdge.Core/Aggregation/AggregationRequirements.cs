using System.Globalization;

namespace FedEdge.Aggregation;

/// <summary>
/// What a strategy needs from a round before it can aggregate: whether it must see every device's update on
/// its own (so secure aggregation, which reveals only the sum, cannot feed it) and how many updates its
/// guarantee needs for the Byzantine tolerance f it was configured with (Krum: n &gt; 2f + 2). A host checks
/// these against the devices it admits before the first round, and the strategy checks the same bound when a
/// round completes, so the two never disagree.
/// </summary>
public sealed record AggregationRequirements
{
    private readonly int _minimumUpdates = 1;
    private readonly int _byzantineTolerance;

    /// <summary>A streaming strategy's requirements: it works on the sum of the updates and needs one of them.</summary>
    public static AggregationRequirements None { get; } = new();

    /// <summary>The strategy's name, used in the sentences of <see cref="Check"/>; null reads as "the strategy".</summary>
    public string? Strategy { get; init; }

    /// <summary>True when the strategy must see each update on its own (robust strategies); false when the sum is enough.</summary>
    public bool NeedsIndividualUpdates { get; init; }

    /// <summary>The fewest updates a round needs; at least 1.</summary>
    public int MinimumUpdates
    {
        get => _minimumUpdates;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _minimumUpdates = value;
        }
    }

    /// <summary>The number f of Byzantine (arbitrary) updates the strategy is configured to tolerate; 0 when it has no such setting.</summary>
    public int ByzantineTolerance
    {
        get => _byzantineTolerance;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _byzantineTolerance = value;
        }
    }

    /// <summary>The bound as the literature writes it, e.g. <c>n &gt; 2f + 2</c>; <see cref="MinimumUpdates"/> is its value for this f.</summary>
    public string Rule { get; init; } = "n ≥ 1";

    /// <summary>Null when <paramref name="updates"/> updates meet <see cref="MinimumUpdates"/>; otherwise one sentence saying why not.</summary>
    /// <param name="updates">How many updates a round can have (the devices that can take part, or the updates that arrived).</param>
    /// <returns>Null, or e.g. "krum with f = 1 needs n &gt; 2f + 2, i.e. at least 5 updates, but only 4 can take part."</returns>
    public string? Check(int updates)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(updates);
        if (updates >= MinimumUpdates)
        {
            return null;
        }

        string available = updates switch
        {
            0 => "none can take part",
            1 => "only 1 can take part",
            _ => string.Create(CultureInfo.InvariantCulture, $"only {updates} can take part"),
        };
        return string.Create(CultureInfo.InvariantCulture, $"{Describe()} needs {Rule}, i.e. at least {MinimumUpdates} {(MinimumUpdates == 1 ? "update" : "updates")}, but {available}.");
    }

    /// <summary>
    /// How many more updates the bound needs for each unit of f (Krum: 2, Bulyan: 4); 0 when the bound does not depend on
    /// f. With <see cref="BucketSize"/> the bound holds for the bucket count.
    /// </summary>
    internal int PerByzantine { get; init; }

    /// <summary>Updates per bucket when the strategy buckets its updates (1: no buckets).</summary>
    internal int BucketSize { get; init; } = 1;

    /// <summary>The pre-aggregation a robust rule runs after (<see cref="AggregationOptions.PreAggregation"/>); the round record names it so a validator can tell a different setting from a wrong model.</summary>
    internal PreAggregation PreAggregation { get; init; }

    /// <summary>
    /// The f a round of <paramref name="updates"/> updates runs with, after the host removed <paramref name="quarantined"/>
    /// devices as faulty: f is an upper bound on the faulty devices among those taking part, and a quarantined device no
    /// longer takes part, so the f a round must tolerate is at least f − quarantined. The strategy keeps its configured f
    /// when the bound holds for it; otherwise it lowers f to the largest value whose bound the round meets, but never below
    /// f − <paramref name="quarantined"/>. Null when even that floor's bound is not met (the round cannot run).
    /// </summary>
    /// <param name="updates">How many updates the round has (or can have).</param>
    /// <param name="quarantined">How many devices the host has removed as faulty (reputation's quarantine); 0 never lowers f.</param>
    /// <returns>The effective f, from <see cref="ByzantineTolerance"/> − <paramref name="quarantined"/> up to <see cref="ByzantineTolerance"/>; or null.</returns>
    public int? EffectiveByzantineCount(int updates, int quarantined)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(updates);
        ArgumentOutOfRangeException.ThrowIfNegative(quarantined);
        if (updates >= MinimumUpdates)
        {
            return ByzantineTolerance;
        }

        if (PerByzantine == 0)
        {
            return null;
        }

        int floor = Math.Max(0, ByzantineTolerance - quarantined);
        for (int f = ByzantineTolerance - 1; f >= floor; f--)
        {
            if (updates >= MinimumUpdatesFor(f))
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>
    /// Null when a round of <paramref name="updates"/> updates can run after <paramref name="quarantined"/> devices were
    /// removed as faulty (see <see cref="EffectiveByzantineCount"/>); otherwise one sentence saying why not.
    /// </summary>
    /// <param name="updates">How many updates a round can have.</param>
    /// <param name="quarantined">How many devices the host has removed as faulty; 0 makes this <see cref="Check(int)"/>.</param>
    /// <returns>Null, or the reason with the lowest f the round could have used.</returns>
    public string? CheckAfterQuarantine(int updates, int quarantined)
    {
        if (EffectiveByzantineCount(updates, quarantined) is not null)
        {
            return null;
        }

        int floor = Math.Max(0, ByzantineTolerance - quarantined);
        if (quarantined == 0 || floor == ByzantineTolerance || PerByzantine == 0)
        {
            return Check(updates);
        }

        return string.Create(CultureInfo.InvariantCulture, $"{Describe()} needs {Rule}; with {quarantined} {(quarantined == 1 ? "device" : "devices")} quarantined as faulty f may drop to {floor}, which needs at least {MinimumUpdatesFor(floor)} updates, but only {updates} can take part.");
    }

    /// <summary>The bound's value for another f (the same rule and buckets).</summary>
    internal int MinimumUpdatesFor(int f) => BucketSize * ((PerByzantine * f) + 2) + 1;

    /// <summary>Null when the strategy can aggregate a secure-aggregation sum; otherwise one sentence saying why not.</summary>
    /// <returns>Null for a strategy that works on the sum; a reason for one that <see cref="NeedsIndividualUpdates"/>.</returns>
    public string? CheckSecureAggregation() =>
        NeedsIndividualUpdates
            ? $"{Strategy ?? "the strategy"} needs each device's update on its own, but secure aggregation reveals only their sum; use a streaming strategy such as fedavg, or turn secure aggregation off."
            : null;

    /// <summary>Throws when <paramref name="updates"/> updates cannot meet <see cref="MinimumUpdates"/>.</summary>
    /// <param name="updates">How many updates a round can have at most (e.g. the devices admitted to the federation).</param>
    /// <exception cref="AggregationConfigurationException">The bound cannot hold; the message is <see cref="Check"/>'s sentence.</exception>
    public void ThrowIfUnmet(int updates)
    {
        if (Check(updates) is string reason)
        {
            throw new AggregationConfigurationException(reason, this);
        }
    }

    /// <summary>The strategy's name with its f when the rule depends on f, e.g. <c>krum with f = 1</c>.</summary>
    private string Describe()
    {
        string name = Strategy ?? "the strategy";
        return Rule.Contains('f', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"{name} with f = {ByzantineTolerance}")
            : name;
    }
}
