namespace FedEdge.Training;

/// <summary>
/// A trainer's conversation with a request's <see cref="ITrainingGovernor"/>, the same for every
/// trainer (managed, TorchSharp, third-party): before training it may decline, cap the planned
/// steps or pause; between steps it may stop, cap further or pause.
/// </summary>
public sealed class GovernorSession
{
    private readonly ITrainingGovernor? _governor;
    private readonly TimeProvider _timeProvider;

    private GovernorSession(ITrainingGovernor? governor, TimeProvider timeProvider, int plannedSteps)
    {
        _governor = governor;
        _timeProvider = timeProvider;
        PlannedSteps = plannedSteps;
    }

    /// <summary>The steps the trainer may do in total (lowered by the governor).</summary>
    public int PlannedSteps { get; private set; }

    /// <summary>True when the governor lowered the plan or stopped training.</summary>
    public bool Cut { get; private set; }

    /// <summary>The governor's last reason for a cut, or null.</summary>
    public string? Reason { get; private set; }

    /// <summary>The result to return at once when the governor declined the round; null otherwise.</summary>
    public TrainingResult? Declined { get; private set; }

    /// <summary>Asks the governor (if any) about <paramref name="plannedSteps"/> and waits for any pause it asks for.</summary>
    /// <param name="request">The training request (its governor may be null).</param>
    /// <param name="plannedSteps">The steps the trainer planned.</param>
    /// <param name="timeProvider">The clock for pauses and for the declined result's duration.</param>
    /// <param name="startTimestamp">When the run started, from <paramref name="timeProvider"/>.</param>
    /// <param name="cancellationToken">Cancels the consultation and the pause.</param>
    public static async ValueTask<GovernorSession> BeginAsync(TrainingRequest request, int plannedSteps, TimeProvider timeProvider, long startTimestamp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var session = new GovernorSession(request.Governor, timeProvider, plannedSteps);
        if (request.Governor is null)
        {
            return session;
        }

        GovernorDecision before = await request.Governor.BeforeTrainingAsync(plannedSteps, cancellationToken).ConfigureAwait(false);
        if (before.Declined)
        {
            session.Cut = true;
            session.Reason = before.Reason;
            session.PlannedSteps = 0;
            session.Declined = new TrainingResult
            {
                Parameters = request.GlobalParameters.Clone(),
                SampleCount = 0,
                Steps = 0,
                Loss = double.NaN,
                Duration = timeProvider.GetElapsedTime(startTimestamp),
                CutByGovernor = true,
                GovernorReason = before.Reason ?? "declined by the governor",
            };
            return session;
        }

        if (before.MaxSteps < plannedSteps)
        {
            session.PlannedSteps = Math.Max(0, before.MaxSteps);
            session.Cut = true;
            session.Reason = before.Reason;
        }

        await session.PauseAsync(before.Pause, cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>Called between steps: returns false when training must stop now; may lower <see cref="PlannedSteps"/> or pause.</summary>
    /// <param name="stepsDone">Steps done so far.</param>
    /// <param name="cancellationToken">Cancels the consultation and the pause.</param>
    public async ValueTask<bool> ContinueAsync(int stepsDone, CancellationToken cancellationToken = default)
    {
        if (_governor is null || stepsDone == 0)
        {
            return true;
        }

        GovernorDecision during = await _governor.DuringTrainingAsync(stepsDone, PlannedSteps, cancellationToken).ConfigureAwait(false);
        if (during.Declined || during.MaxSteps <= stepsDone)
        {
            Cut = true;
            Reason = during.Reason ?? Reason;
            return false;
        }

        if (during.MaxSteps < PlannedSteps)
        {
            PlannedSteps = during.MaxSteps;
            Cut = true;
            Reason = during.Reason ?? Reason;
        }

        await PauseAsync(during.Pause, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private Task PauseAsync(TimeSpan pause, CancellationToken cancellationToken) =>
        pause > TimeSpan.Zero ? Task.Delay(pause, _timeProvider, cancellationToken) : Task.CompletedTask;
}
