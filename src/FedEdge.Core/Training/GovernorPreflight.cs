namespace FedEdge.Training;

/// <summary>What a governor allowed before training started.</summary>
/// <param name="PlannedSteps">The steps the trainer may plan for (possibly cut).</param>
/// <param name="Cut">True when the governor lowered the plan.</param>
/// <param name="Reason">The governor's reason for a cut, or null.</param>
/// <param name="Declined">The result to return at once when the governor declined the round; null otherwise.</param>
public readonly record struct GovernorPlan(int PlannedSteps, bool Cut, string? Reason, TrainingResult? Declined);

/// <summary>
/// Consults a request's <see cref="ITrainingGovernor"/> before training, the same way for every
/// trainer (managed, TorchSharp, third-party): decline, cap the planned steps, or pause first.
/// </summary>
public static class GovernorPreflight
{
    /// <summary>Asks the governor (if any) about <paramref name="plannedSteps"/> and waits for any pause it asks for.</summary>
    /// <param name="request">The training request (its governor may be null).</param>
    /// <param name="plannedSteps">The steps the trainer planned.</param>
    /// <param name="timeProvider">The clock for the pause and for the declined result's duration.</param>
    /// <param name="startTimestamp">When the run started, from <paramref name="timeProvider"/>.</param>
    /// <param name="cancellationToken">Cancels the consultation and the pause.</param>
    public static async ValueTask<GovernorPlan> RunAsync(TrainingRequest request, int plannedSteps, TimeProvider timeProvider, long startTimestamp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (request.Governor is null)
        {
            return new GovernorPlan(plannedSteps, false, null, null);
        }

        GovernorDecision before = await request.Governor.BeforeTrainingAsync(plannedSteps, cancellationToken).ConfigureAwait(false);
        if (before.Declined)
        {
            return new GovernorPlan(0, true, before.Reason, new TrainingResult
            {
                Parameters = request.GlobalParameters.Clone(),
                SampleCount = 0,
                Steps = 0,
                Loss = double.NaN,
                Duration = timeProvider.GetElapsedTime(startTimestamp),
                CutByGovernor = true,
                GovernorReason = before.Reason ?? "declined by the governor",
            });
        }

        bool cut = before.MaxSteps < plannedSteps;
        int planned = cut ? Math.Max(0, before.MaxSteps) : plannedSteps;
        if (before.Pause > TimeSpan.Zero)
        {
            await Task.Delay(before.Pause, timeProvider, cancellationToken).ConfigureAwait(false);
        }

        return new GovernorPlan(planned, cut, cut ? before.Reason : null, null);
    }
}
