using FedEdge.Messaging;
using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>
/// Sends a round's task to every participant and re-sends it, with jittered exponential back-off, to each one
/// that neither acknowledged it (a status naming the round) nor contributed, until the round settles or its
/// deadline passes. A failed send (broker down) is logged and retried like a lost one.
/// </summary>
internal sealed class TaskDispatcher(ICoordinatorTransport transport, CoordinatorOptions options, TimeProvider time, CoordinatorTelemetry telemetry, ILogger logger)
{
    /// <summary>Runs until the round settles or <paramref name="deadline"/>; returns the number of re-sends.</summary>
    public async Task<int> RunAsync(ActiveRound round, DateTimeOffset deadline, CancellationToken ct)
    {
        var attempts = new Dictionary<string, int>(StringComparer.Ordinal);
        var due = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (string device in round.SelectedList)
        {
            await SendAsync(device, round.Task, deadline, ct).ConfigureAwait(false);
            attempts[device] = 0;
            due[device] = time.GetUtcNow() + Backoff.Delay(options.ResendDelay, options.MaxResendDelay, 0, Random.Shared);
        }

        int resends = 0;
        while (!round.Session.Settled.IsCompleted)
        {
            DateTimeOffset now = time.GetUtcNow();
            if (now >= deadline)
            {
                return resends;
            }

            DateTimeOffset next = deadline;
            foreach ((string device, DateTimeOffset when) in due)
            {
                if (when < next && NeedsTask(round, device))
                {
                    next = when;
                }
            }

            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                TimeSpan delay = next - now;
                Task timer = Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, time, wait.Token);
                await Task.WhenAny(round.Session.Settled, timer).ConfigureAwait(false);
                await wait.CancelAsync().ConfigureAwait(false);
            }

            ct.ThrowIfCancellationRequested();
            now = time.GetUtcNow();
            foreach (string device in round.SelectedList)
            {
                if (due[device] <= now && now < deadline && NeedsTask(round, device))
                {
                    int attempt = ++attempts[device];
                    Log.TaskResent(logger, round.Round, device, attempt);
                    telemetry.Resent();
                    resends++;
                    await SendAsync(device, round.Task, deadline, ct).ConfigureAwait(false);
                    due[device] = time.GetUtcNow() + Backoff.Delay(options.ResendDelay, options.MaxResendDelay, attempt, Random.Shared);
                }
            }
        }

        return resends;
    }

    private static bool NeedsTask(ActiveRound round, string device) => !round.IsAcknowledged(device) && round.Session.IsAwaiting(device);

    /// <summary>Sends one task; a send that outlives the round's deadline (a broker that is down) is given up, never waited out.</summary>
    private async ValueTask SendAsync(string device, RoundTask task, DateTimeOffset deadline, CancellationToken ct)
    {
        TimeSpan left = deadline - time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return;
        }

        using var bounded = new CancellationTokenSource(left, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, bounded.Token);
        try
        {
            await transport.SendTaskAsync(device, task, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The transport could not send (broker down, stream broken): the next re-send tries again.
            Log.SendFailed(logger, device, $"task of round {task.Round}", ex);
        }
    }
}
