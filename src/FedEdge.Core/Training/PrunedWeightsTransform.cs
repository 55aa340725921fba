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
/// </summary>
public sealed class PrunedWeightsTransform : IUpdateTransform
{
    private readonly Func<ParameterSet, PruningMask> _maskForGlobal;

    /// <summary>Creates the transform.</summary>
    /// <param name="maskForGlobal">The mask devices derive from a round's global parameters; null prunes the global model's zero weights.</param>
    public PrunedWeightsTransform(Func<ParameterSet, PruningMask>? maskForGlobal = null)
    {
        _maskForGlobal = maskForGlobal ?? (global => PruningMask.FromThreshold(global, 0f, inclusive: true));
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

        PruningMask mask = _maskForGlobal(global);
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
}
