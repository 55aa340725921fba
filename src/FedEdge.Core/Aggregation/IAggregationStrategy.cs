using FedEdge.Training;

namespace FedEdge.Aggregation;

/// <summary>
/// The aggregation port. A strategy is long-lived (it may keep server-optimiser state across rounds);
/// each round is a streaming <see cref="IAggregationRound"/>: begin from the global parameters,
/// fold validated updates in one at a time as they arrive, complete.
/// </summary>
public interface IAggregationStrategy
{
    /// <summary>A short name, e.g. <c>fedavg</c>.</summary>
    string Name { get; }

    /// <summary>True when a round's memory is O(parameters) whatever the number of clients.</summary>
    bool IsStreaming { get; }

    /// <summary>Starts a round from the current global parameters.</summary>
    IAggregationRound BeginRound(ParameterSet globalParameters, AggregationRoundOptions? options = null);

    /// <summary>Server-optimiser state to checkpoint (moments, velocity); null when stateless.</summary>
    StrategyState? ExportState();

    /// <summary>Restores state exported by <see cref="ExportState"/> after a restart.</summary>
    void ImportState(StrategyState state);

    /// <summary>
    /// Adjusts the hyper-parameters the coordinator sends to trainers for this strategy (FedProx sets
    /// <see cref="TrainingHyperParameters.ProximalMu"/>, FedSGD asks for one local step). The default
    /// returns them unchanged, so existing implementations need not override it.
    /// </summary>
    TrainingHyperParameters ConfigureTraining(TrainingHyperParameters hyperParameters) => hyperParameters;

    /// <summary>
    /// What a round needs before this strategy can aggregate it: how many updates (Krum: n &gt; 2f + 2) and whether
    /// it must see each one on its own. Hosts check it before the first round (<see cref="AggregationRequirements.Check"/>);
    /// the strategy enforces the same bound when a round completes. The default, <see cref="AggregationRequirements.None"/>,
    /// suits a strategy that works on the sum of one or more updates, so existing implementations need not override it.
    /// </summary>
    AggregationRequirements Requirements => AggregationRequirements.None;
}

/// <summary>One round of aggregation in progress.</summary>
public interface IAggregationRound : IDisposable
{
    /// <summary>Updates folded in so far.</summary>
    int Count { get; }

    /// <summary>Folds in one update that has passed validation. Does not keep a reference to it unless the strategy needs all updates.</summary>
    void Add(ModelUpdate update);

    /// <summary>Produces the new global parameters.</summary>
    /// <exception cref="EmptyRoundException">No update was added.</exception>
    AggregationResult Complete();
}

/// <summary>Per-round settings for aggregation.</summary>
public sealed record AggregationRoundOptions
{
    /// <summary>The round number.</summary>
    public long Round { get; init; }

    /// <summary>Expected number of participants, as a sizing hint.</summary>
    public int ExpectedParticipants { get; init; }

    /// <summary>
    /// How many devices the host has removed from the federation as faulty so far (quarantined by reputation). f is an
    /// upper bound on the faulty devices among those taking part, so once q of them are quarantined a round needs to
    /// tolerate only f − q: Krum, Multi-Krum and Bulyan whose bound on n (n &gt; 2f + 2, n ≥ 4f + 3) no longer holds
    /// lower their f to the largest value that fits, never below f − q (<see cref="AggregationRequirements.EffectiveByzantineCount"/>),
    /// and report it in <see cref="AggregationResult.ByzantineCount"/>. Default 0: f is never lowered.
    /// </summary>
    public int QuarantinedDevices { get; init; }
}

/// <summary>The new global parameters and what went into them.</summary>
public sealed record AggregationResult
{
    /// <summary>The new global parameters.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary>Updates that were folded in.</summary>
    public required int Participants { get; init; }

    /// <summary>Senders whose updates the strategy excluded (robust strategies), with no blame implied.</summary>
    public IReadOnlyList<string> Excluded { get; init; } = [];

    /// <summary>The f the round ran with (Krum, Multi-Krum, Bulyan; see <see cref="AggregationRoundOptions.QuarantinedDevices"/>); null for a strategy without one.</summary>
    public int? ByzantineCount { get; init; }
}

/// <summary>Opaque, serialisable strategy state: named float arrays plus scalars.</summary>
public sealed record StrategyState
{
    /// <summary>The strategy name the state belongs to.</summary>
    public required string Strategy { get; init; }

    /// <summary>Named arrays (e.g. <c>m</c>, <c>v</c>).</summary>
    public IReadOnlyDictionary<string, float[]> Arrays { get; init; } = new Dictionary<string, float[]>();

    /// <summary>Named scalars (e.g. the step count).</summary>
    public IReadOnlyDictionary<string, double> Scalars { get; init; } = new Dictionary<string, double>();
}

/// <summary>Thrown when a round is completed with no updates.</summary>
public sealed class EmptyRoundException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public EmptyRoundException()
        : base("The aggregation round has no updates; add at least one validated update before completing it.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public EmptyRoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public EmptyRoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
