using FedEdge.Privacy;

namespace FedEdge.Training;

/// <summary>
/// Enforces a pruning mask on the coordinator (MEDNN in rounds): every received update's pruned positions are set to
/// zero before aggregation, whatever the device sent, so a device cannot revive pruned weights. The mask comes from the
/// round's global parameters (<see cref="UpdateTransformContext.GlobalParameters"/>) through a rule the devices share;
/// the default rule prunes the weights that are exactly zero in the global model. Values found non-zero on pruned
/// positions are counted in the update's metrics as <c>mask.violations</c> (and their absolute sum as
/// <c>mask.violation_l1</c>). Register it with the coordinator's <c>updateTransforms</c> (plaintext rounds); it does
/// nothing when the engine passes no global parameters.
/// <para>
/// Registered also with the coordinator's <c>aggregateTransforms</c>, it re-applies the round's mask to the aggregate:
/// averaging in float32 leaves tiny non-zeros where every update agreed on zero (the weighted mean of equal values is
/// not always bit-exact), so the aggregate's change on pruned positions is set to −global and the next global model
/// holds exact zeros there (<c>mask.aggregate_residue</c> counts the positions it corrected).
/// </para>
/// </summary>
public sealed class PrunedWeightsTransform : IUpdateTransform, IAggregateTransform
{
    private readonly Func<ParameterSet, long, PruningMask> _maskFor;

    /// <summary>Creates the transform.</summary>
    /// <param name="maskForGlobal">The mask devices derive from a round's global parameters; null prunes the global model's zero weights.</param>
    public PrunedWeightsTransform(Func<ParameterSet, PruningMask>? maskForGlobal = null)
    {
        Func<ParameterSet, PruningMask> rule = maskForGlobal ?? (global => PruningMask.FromThreshold(global, 0f, inclusive: true));
        _maskFor = (global, _) => rule(global);
    }

    private PrunedWeightsTransform(Func<ParameterSet, long, PruningMask> maskForRound) => _maskFor = maskForRound;

    /// <summary>Creates the transform with a mask rule that also depends on the round number (e.g. a schedule that starts pruning at a given round).</summary>
    /// <param name="maskForRound">The mask devices derive from a round's global parameters and the round's number.</param>
    public static PrunedWeightsTransform ForRounds(Func<ParameterSet, long, PruningMask> maskForRound)
    {
        ArgumentNullException.ThrowIfNull(maskForRound);
        return new PrunedWeightsTransform(maskForRound);
    }

    /// <inheritdoc />
    public string Name => "mask.pruned";

    /// <inheritdoc />
    /// <remarks><paramref name="update"/> is the delta from the round's global parameters, so a pruned position must end at 0: its delta becomes −global.</remarks>
    public void Apply(ParameterSet update, UpdateTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(context);
        if (context.GlobalParameters is not { } global)
        {
            return;
        }

        if (global.Layout.DescribeMismatch(update.Layout) is not null)
        {
            return;
        }

        PruningMask mask = _maskFor(global, context.Round);
        ReadOnlySpan<float> keep = mask.Keep;
        ReadOnlySpan<float> g = global.Values;
        Span<float> delta = update.Values;
        long violations = 0;
        double l1 = 0;
        for (int i = 0; i < keep.Length; i++)
        {
            if (keep[i] != 0f)
            {
                continue;
            }

            float sent = g[i] + delta[i];
            if (sent != 0f)
            {
                violations++;
                l1 += Math.Abs((double)sent);
            }

            delta[i] = -g[i];
        }

        context.Metrics["mask.violations"] = violations;
        context.Metrics["mask.violation_l1"] = l1;
    }

    /// <inheritdoc />
    /// <remarks><paramref name="aggregate"/> is the change from the round's global parameters; a pruned position's change becomes −global, so the next global model is exactly 0 there.</remarks>
    public void Apply(ParameterSet aggregate, AggregateTransformContext context)
    {
        ArgumentNullException.ThrowIfNull(aggregate);
        ArgumentNullException.ThrowIfNull(context);
        if (context.GlobalParameters is not { } global || global.Layout.DescribeMismatch(aggregate.Layout) is not null)
        {
            return;
        }

        PruningMask mask = _maskFor(global, context.Round);
        ReadOnlySpan<float> keep = mask.Keep;
        ReadOnlySpan<float> g = global.Values;
        Span<float> change = aggregate.Values;
        long residue = 0;
        for (int i = 0; i < keep.Length; i++)
        {
            if (keep[i] == 0f)
            {
                residue += g[i] + change[i] != 0f ? 1 : 0;
                change[i] = -g[i];
            }
        }

        context.Metrics["mask.aggregate_residue"] = residue;
    }
}
