namespace FedEdge.Training;

/// <summary>
/// The governor port: consulted before and during local training, it may decline a round, cap the
/// number of steps or ask for a pause between batches (the thermal governor of FedEdge.Hardware).
/// </summary>
public interface ITrainingGovernor
{
    /// <summary>Called once before training with the planned number of steps.</summary>
    ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default);

    /// <summary>Called between steps; the trainer stops after <see cref="GovernorDecision.MaxSteps"/> and waits <see cref="GovernorDecision.Pause"/>.</summary>
    ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default);
}

/// <summary>What a governor allows.</summary>
public readonly record struct GovernorDecision
{
    /// <summary>Go ahead unchanged.</summary>
    public static GovernorDecision Proceed => new() { MaxSteps = int.MaxValue };

    /// <summary>Decline the round, with a reason.</summary>
    public static GovernorDecision Decline(string reason) => new() { Declined = true, MaxSteps = 0, Reason = reason };

    /// <summary>True when the device should not train this round.</summary>
    public bool Declined { get; init; }

    /// <summary>The most steps the trainer may do in total.</summary>
    public int MaxSteps { get; init; }

    /// <summary>A pause before the next step (cooling down).</summary>
    public TimeSpan Pause { get; init; }

    /// <summary>Why the governor limited training, for logs and reports.</summary>
    public string? Reason { get; init; }
}
