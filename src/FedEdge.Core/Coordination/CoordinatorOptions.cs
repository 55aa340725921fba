using FedEdge.Rounds;
using FedEdge.Selection;
using FedEdge.Training;

namespace FedEdge.Coordination;

/// <summary>Settings of a <see cref="Coordinator"/>; validated once when the coordinator starts.</summary>
public sealed partial class CoordinatorOptions
{
    /// <summary>The federation's name (used in logs, topics and the audit log).</summary>
    public string Federation { get; set; } = "default";

    /// <summary>The round budget: the coordinator stops after this round number (absolute, so a resumed run finishes the same budget).</summary>
    public int MaxRounds { get; set; } = 10;

    /// <summary>The fewest updates that make a round (quorum); a round with fewer at its deadline fails and is repeated.</summary>
    public int MinParticipants { get; set; } = 1;

    /// <summary>The most devices selected per round; null selects every available device.</summary>
    public int? MaxParticipants { get; set; }

    /// <summary>The fraction of available devices selected per round (FedAvg's C), at least <see cref="MinParticipants"/>. Used only when no <see cref="IClientSelector"/> is given to the coordinator (then it is <see cref="ClientSelectors.All"/> at 1, otherwise <see cref="ClientSelectors.RandomFraction"/> with <see cref="MinParticipants"/> and <see cref="Seed"/>).</summary>
    public double SelectionFraction { get; set; } = 1.0;

    /// <summary>The fraction of selected devices that may fail (no update, refused update) before the round fails although quorum was met (Flower's <c>accept_failures</c> as a fraction).</summary>
    public double AcceptFailuresFraction { get; set; } = 1.0;

    /// <summary>How long a round waits for updates after the tasks went out.</summary>
    public TimeSpan RoundTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The temporal window: how long it stays open after the first training request (CoLearn's T).</summary>
    public TimeSpan WindowDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The temporal window closes once this many devices asked to train (CoLearn's N) or after <see cref="WindowDuration"/>; null closes it as soon as every admitted device that wants to train has asked (or after <see cref="WindowDuration"/>). With a reputation policy, devices it quarantined no longer count: the window closes once N less their number asked.</summary>
    public int? WindowSize { get; set; }

    /// <summary>
    /// What happens to a training request that arrives while a round runs (after the window closed):
    /// <see cref="LateRequestPolicy.CarryOver"/> (the default) keeps it for the next window, which it opens as
    /// soon as the round ends; <see cref="LateRequestPolicy.Discard"/> drops it, so the device must announce
    /// <see cref="Devices.DeviceIntent.Training"/> again once the round is over. Devices that asked in time but
    /// were not selected always stay in the next window.
    /// </summary>
    public LateRequestPolicy LateRequests { get; set; } = LateRequestPolicy.CarryOver;

    /// <summary>Adaptive T: <see cref="WindowSizing.Adaptive"/> lets the window's duration follow recent request arrivals (starting from <see cref="WindowDuration"/>).</summary>
    public WindowSizing WindowSizing { get; set; } = WindowSizing.Fixed;

    /// <summary>How often workers are expected to send a heartbeat (any message counts as one). Workers use their own <see cref="WorkerOptions.HeartbeatInterval"/>; keep the two equal.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A device that sends nothing for this many heartbeat intervals is lost: it leaves the window and its round until it is heard again.</summary>
    public int MissedHeartbeats { get; set; } = 3;

    /// <summary>The first delay before an unacknowledged round task is sent again; it doubles (with ±25 % jitter) up to <see cref="MaxResendDelay"/>, until the round deadline.</summary>
    public TimeSpan ResendDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between re-sends of a round task.</summary>
    public TimeSpan MaxResendDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The bounds every plaintext update must stay within (values, claimed sample count, the L2 norm of its change,
    /// absolute and relative to the previous round's median); an update beyond them is refused with a receipt to its
    /// sender and never touches the aggregate. The same value bound guards the new global model: a round whose
    /// aggregate breaks it fails, and the previous model stays (it is neither published nor checkpointed).
    /// </summary>
    public UpdateBounds UpdateBounds { get; set; } = new();

    /// <summary>Stop after this many failed rounds in a row (the stop reason says why); null never stops for failures.</summary>
    public int? MaxConsecutiveFailures { get; set; } = 3;

    /// <summary>How long the coordinator waits for a first training request before a round gives up.</summary>
    public TimeSpan JoinTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Entries added to each round task's <see cref="Messaging.RoundTask.Config"/>, asked for with the round's number
    /// when the task is built: a schedule every device of the round must follow alike (e.g. from which round a
    /// pruning mask applies, decided from the coordinator's evaluation). Workers hand them to their trainer in
    /// <see cref="Training.TrainingRequest.Config"/>. Null adds nothing.
    /// </summary>
    public Func<long, IReadOnlyDictionary<string, string>>? TaskConfig { get; set; }

    /// <summary>The hyper-parameters sent with each round task.</summary>
    public TrainingHyperParameters HyperParameters { get; set; } = new();

    /// <summary>
    /// The codec workers encode their updates with (<see cref="Messaging.UpdateCodecSpec"/>: <c>f32</c>, <c>f16</c>,
    /// <c>int8</c>, <c>topk:0.01</c>), announced in every round task; null announces none (float32).
    /// </summary>
    public string? UpdateCodec { get; set; }

    /// <summary>The evaluation metric watched by the stop rules (e.g. <c>f1</c>); null watches the mean training loss.</summary>
    public string? MonitorMetric { get; set; }

    /// <summary>True when a larger <see cref="MonitorMetric"/> is better (F1, accuracy); false for losses.</summary>
    public bool MonitorHigherIsBetter { get; set; } = true;

    /// <summary>Stop as soon as the monitored metric reaches this value; null disables the rule.</summary>
    public double? TargetMetric { get; set; }

    /// <summary>Stop after this many rounds without improvement of the monitored metric; null disables the rule.</summary>
    public int? Patience { get; set; }

    /// <summary>Resume from the checkpoint store's latest checkpoint when one exists.</summary>
    public bool ResumeFromCheckpoint { get; set; } = true;

    /// <summary>A seed for the participant sampling; null draws one.</summary>
    public int? Seed { get; set; }

    /// <summary>Checks the settings and throws a clear error naming the bad one.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Federation))
        {
            throw new ArgumentException("CoordinatorOptions.Federation must name the federation.");
        }

        Require(MaxRounds >= 1, nameof(MaxRounds), "must be at least 1");
        Require(MinParticipants >= 1, nameof(MinParticipants), "must be at least 1");
        Require(MaxParticipants is null || MaxParticipants >= MinParticipants, nameof(MaxParticipants), "must be at least MinParticipants");
        Require(SelectionFraction is > 0 and <= 1, nameof(SelectionFraction), "must be in (0, 1]");
        Require(AcceptFailuresFraction is >= 0 and <= 1, nameof(AcceptFailuresFraction), "must be in [0, 1]");
        Require(RoundTimeout > TimeSpan.Zero, nameof(RoundTimeout), "must be positive");
        Require(WindowDuration >= TimeSpan.Zero, nameof(WindowDuration), "must not be negative");
        Require(WindowSize is null || WindowSize >= 1, nameof(WindowSize), "must be at least 1");
        Require(WindowSize is null || WindowSize >= MinParticipants, nameof(WindowSize), "must be at least MinParticipants (a smaller window could never hold a quorum)");
        Require(Enum.IsDefined(LateRequests), nameof(LateRequests), "must be CarryOver or Discard");
        Require(JoinTimeout > TimeSpan.Zero, nameof(JoinTimeout), "must be positive");
        Require(Enum.IsDefined(WindowSizing), nameof(WindowSizing), "must be Fixed or Adaptive");
        Require(WindowSizing != WindowSizing.Adaptive || WindowDuration > TimeSpan.Zero, nameof(WindowDuration), "must be positive with an adaptive window (it is the first window's T)");
        Require(HeartbeatInterval > TimeSpan.Zero, nameof(HeartbeatInterval), "must be positive");
        Require(MissedHeartbeats >= 1, nameof(MissedHeartbeats), "must be at least 1");
        Require(ResendDelay > TimeSpan.Zero, nameof(ResendDelay), "must be positive");
        Require(MaxResendDelay >= ResendDelay, nameof(MaxResendDelay), "must be at least ResendDelay");
        Require(Patience is null || Patience >= 1, nameof(Patience), "must be at least 1");
        Require(MaxConsecutiveFailures is null || MaxConsecutiveFailures >= 1, nameof(MaxConsecutiveFailures), "must be at least 1");
        Require(UpdateBounds is not null, nameof(UpdateBounds), "must be set");
        Require(UpdateBounds is null || UpdateBounds.MaxAbsoluteValue is null || UpdateBounds.MaxAbsoluteValue > 0, nameof(UpdateBounds), "MaxAbsoluteValue must be positive");
        Require(UpdateBounds is null || UpdateBounds.MaxSampleCount is null || UpdateBounds.MaxSampleCount >= 1, nameof(UpdateBounds), "MaxSampleCount must be at least 1");
        Require(UpdateBounds is null || UpdateBounds.MaxDeltaNorm is null || UpdateBounds.MaxDeltaNorm > 0, nameof(UpdateBounds), "MaxDeltaNorm must be positive");
        Require(UpdateBounds is null || UpdateBounds.MaxDeltaNormFactor is null || UpdateBounds.MaxDeltaNormFactor >= 1, nameof(UpdateBounds), "MaxDeltaNormFactor must be at least 1");
        Require(UpdateBounds is null || (UpdateBounds.ReferenceQuantile > 0 && UpdateBounds.ReferenceQuantile < 1), nameof(UpdateBounds), "ReferenceQuantile must be in (0, 1)");
        Require(HyperParameters is not null, nameof(HyperParameters), "must be set");
        Require(TargetMetric is null || double.IsFinite(TargetMetric.Value), nameof(TargetMetric), "must be finite");
        Require(UpdateCodec is null || Messaging.UpdateCodecSpec.TryParse(UpdateCodec, out _, out _, out _), nameof(UpdateCodec), "must be f32, f16, int8 or topk:FRACTION");
        ValidatePrivacy();
    }

    private static void Require(bool ok, string name, string rule)
    {
        if (!ok)
        {
            throw new ArgumentException($"CoordinatorOptions.{name} {rule}.");
        }
    }
}
