using FedEdge.Messaging;
using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>
/// Sends a round's task to every participant and re-sends it, with jittered exponential back-off, to each one
/// that neither acknowledged it (a status naming the round) nor contributed, until the round settles or its
/// deadline passes. A failed send (broker down) is logged and retried like a lost one. Up to
/// <see cref="MaxConcurrentSends"/> sends run at once, so one device's slow link (or a transport that waits for a
/// broker's acknowledgement per chunk) does not hold back every device after it, and a device's re-send timer starts
/// when its own send ended.
/// </summary>
internal sealed class TaskDispatcher(ICoordinatorTransport transport, CoordinatorOptions options, TimeProvider time, CoordinatorTelemetry telemetry, ILogger logger)
{
    /// <summary>Sends in flight at once, across devices.</summary>
    internal const int MaxConcurrentSends = 16;

    /// <summary>Runs until the round settles or <paramref name="deadline"/>; returns the number of re-sends.</summary>
    public async Task<int> RunAsync(ActiveRound round, DateTimeOffset deadline, CancellationToken ct)
    {
        var attempts = new Dictionary<string, int>(StringComparer.Ordinal);
        var due = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (string device in round.SelectedList)
        {
            attempts[device] = 0;
        }

        await SendAllAsync(round.SelectedList, round.Task, deadline, due, attempts, ct).ConfigureAwait(false);

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
            var resend = new List<string>();
            foreach (string device in round.SelectedList)
            {
                if (due[device] <= now && now < deadline && NeedsTask(round, device))
                {
                    int attempt = ++attempts[device];
                    Log.TaskResent(logger, round.Round, device, attempt);
                    telemetry.Resent();
                    resends++;
                    resend.Add(device);
                }
            }

            await SendAllAsync(resend, round.Task, deadline, due, attempts, ct).ConfigureAwait(false);
        }

        return resends;
    }

    /// <summary>Sends the task to <paramref name="devices"/>, several at once; each device's next re-send falls due after its own send.</summary>
    private async Task SendAllAsync(IReadOnlyList<string> devices, RoundTask task, DateTimeOffset deadline, Dictionary<string, DateTimeOffset> due, Dictionary<string, int> attempts, CancellationToken ct)
    {
        if (devices.Count == 0)
        {
            return;
        }

        var gate = new Lock();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrentSends, CancellationToken = ct };
        await Parallel.ForEachAsync(devices, parallel, async (device, token) =>
        {
            await SendAsync(device, task, deadline, token).ConfigureAwait(false);
            lock (gate)
            {
                due[device] = time.GetUtcNow() + Backoff.Delay(options.ResendDelay, options.MaxResendDelay, attempts[device], Random.Shared);
            }
        }).ConfigureAwait(false);
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
