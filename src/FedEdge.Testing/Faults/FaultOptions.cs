using System.Diagnostics.CodeAnalysis;
using FedEdge.Messaging;

namespace FedEdge.Transport.Faults;

/// <summary>
/// What a fault-injecting transport decorator does to each message, in both directions (sends and deliveries),
/// for every message kind: round tasks, receipts, global models, statuses, updates, protocol payloads and joins.
/// </summary>
/// <remarks>
/// <para>
/// Each decorator keeps one seeded generator per link and direction, its seed derived from
/// (<see cref="Seed"/>, link, direction) with SHA-256, so links draw independent fault sequences while the
/// same seed and link always give the same sequence. See <see cref="FaultInjection"/> for how links are named.
/// </para>
/// <para>
/// Per message, at most one of drop, duplicate, reorder and corrupt applies (their rates must sum to at most 1);
/// latency (<see cref="DelayRate"/>) is drawn independently and applies on top to whatever is still delivered.
/// </para>
/// <para>
/// The spec form (<see cref="Parse"/>, <see cref="ToString"/>) is what a command line takes:
/// <c>drop=0.5,duplicate=0.1,delay=50ms,seed=7</c>.
/// </para>
/// </remarks>
public sealed class FaultOptions
{
    /// <summary>The default <see cref="MaxDelay"/>.</summary>
    public static readonly TimeSpan DefaultMaxDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>The default <see cref="JoinLossTimeout"/>.</summary>
    public static readonly TimeSpan DefaultJoinLossTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The longest accepted <see cref="MaxDelay"/> and <see cref="JoinLossTimeout"/>.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);

    // Rates are doubles: allow the rounding error of a sum such as 0.1 + 0.2 + 0.7.
    private const double SumTolerance = 1e-9;

    /// <summary>Probability that a message is lost.</summary>
    public double DropRate { get; set; }

    /// <summary>Probability that a message is delivered twice.</summary>
    public double DuplicateRate { get; set; }

    /// <summary>
    /// Probability that a delivered message (or both copies of a duplicated one) is delayed by a uniform time in
    /// [0, <see cref="MaxDelay"/>], and so may be overtaken. Drawn independently of the other faults.
    /// </summary>
    public double DelayRate { get; set; }

    /// <summary>Probability that a message is held back until after later ones (delayed by <see cref="MaxDelay"/>).</summary>
    public double ReorderRate { get; set; }

    /// <summary>
    /// Probability that a message has one bit of one byte flipped. Typed messages are flipped in their serialized
    /// form: a delivery that no longer decodes reaches <see cref="ICoordinatorHandler.OnMalformedAsync"/> as a
    /// <see cref="WireFormatException"/>; one that still decodes is delivered altered; a corrupted send that no
    /// longer decodes is lost. Protocol payloads are flipped in a copy of their bytes and always delivered
    /// (an empty payload has nothing to flip and passes unchanged). A corrupted join is lost.
    /// </summary>
    public double CorruptRate { get; set; }

    /// <summary>The longest injected delay (<see cref="DelayRate"/>) and the hold-back of a reordered message.</summary>
    public TimeSpan MaxDelay { get; set; } = DefaultMaxDelay;

    /// <summary>
    /// How long a worker's <see cref="IWorkerTransport.JoinAsync"/> waits, on the injected <see cref="TimeProvider"/>,
    /// before it fails with a <see cref="TimeoutException"/> when its join request or response was dropped or corrupted.
    /// Not part of the spec form.
    /// </summary>
    public TimeSpan JoinLossTimeout { get; set; } = DefaultJoinLossTimeout;

    /// <summary>The seed from which every link's generator seed is derived.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Counts of injected faults (shared by every decorator created with these options).</summary>
    public FaultCounters Counters { get; } = new();

    /// <summary>
    /// Parses a fault spec such as <c>drop=0.5,duplicate=0.1,delay=50ms,seed=7</c>. Keys: <c>drop</c>, <c>duplicate</c>,
    /// <c>reorder</c>, <c>corrupt</c> and <c>delay-rate</c> take a probability in [0, 1]; <c>delay</c> takes a duration
    /// with an <c>ms</c> or <c>s</c> suffix, sets <see cref="MaxDelay"/> and, unless <c>delay-rate</c> is given, sets
    /// <see cref="DelayRate"/> to 1 (every message delayed uniformly in [0, duration]); <c>seed</c> takes an integer.
    /// An empty spec means no faults.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    /// <exception cref="FaultSpecException">The spec is malformed; the message names the bad entry.</exception>
    public static FaultOptions Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return FaultSpec.Parse(spec, out FaultSpecException? error) ?? throw error!;
    }

    /// <summary>Parses a fault spec (see <see cref="Parse"/>); false when <paramref name="spec"/> is null or malformed.</summary>
    public static bool TryParse([NotNullWhen(true)] string? spec, [NotNullWhen(true)] out FaultOptions? options)
    {
        options = spec is null ? null : FaultSpec.Parse(spec, out _);
        return options is not null;
    }

    /// <summary>The spec form of these options, which <see cref="Parse"/> reads back (without <see cref="JoinLossTimeout"/>).</summary>
    public override string ToString() => FaultSpec.Format(this);

    /// <summary>Throws when a rate is outside [0, 1], the exclusive rates sum above 1, or a duration is negative or above <see cref="MaxDuration"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the parameter name says which.</exception>
    public void Validate()
    {
        foreach ((string name, double rate) in new[] { (nameof(DropRate), DropRate), (nameof(DuplicateRate), DuplicateRate), (nameof(DelayRate), DelayRate), (nameof(ReorderRate), ReorderRate), (nameof(CorruptRate), CorruptRate) })
        {
            if (!IsRate(rate))
            {
                throw new ArgumentOutOfRangeException(name, rate, "A fault rate must be in [0, 1].");
            }
        }

        if (!ExclusiveRatesFit(DropRate, DuplicateRate, ReorderRate, CorruptRate))
        {
            throw new ArgumentOutOfRangeException(nameof(DropRate), DropRate + DuplicateRate + ReorderRate + CorruptRate, "DropRate + DuplicateRate + ReorderRate + CorruptRate must be at most 1 (at most one of them applies to a message; DelayRate is independent).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, TimeSpan.Zero, nameof(MaxDelay));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxDelay, MaxDuration, nameof(MaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(JoinLossTimeout, TimeSpan.Zero, nameof(JoinLossTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(JoinLossTimeout, MaxDuration, nameof(JoinLossTimeout));
    }

    internal static bool IsRate(double rate) => rate >= 0 && rate <= 1;

    internal static bool ExclusiveRatesFit(double drop, double duplicate, double reorder, double corrupt) =>
        drop + duplicate + reorder + corrupt <= 1 + SumTolerance;
}
