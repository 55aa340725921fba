namespace FedEdge.Coordination;

/// <summary>Where the coordinator is within a round (reported by <see cref="Coordinator.PhaseChanged"/>).</summary>
public enum RoundPhase
{
    /// <summary>Between rounds, or not started.</summary>
    Idle = 0,

    /// <summary>The temporal window is open: waiting for devices to ask to train.</summary>
    WindowOpen = 1,

    /// <summary>Round tasks are out; the selected devices train and send their updates.</summary>
    Training = 2,

    /// <summary>The updates are folded into the new global model.</summary>
    Aggregating = 3,

    /// <summary>The new model is published, evaluated, audited and checkpointed.</summary>
    Committing = 4,
}
