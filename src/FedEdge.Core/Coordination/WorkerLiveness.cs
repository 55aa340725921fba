using FedEdge.Devices;
using FedEdge.Messaging;
using Microsoft.Extensions.Logging;

namespace FedEdge.Coordination;

/// <summary>
/// A worker's side of liveness on lossy networks: heartbeats that announce its intent every
/// <see cref="WorkerOptions.HeartbeatInterval"/> (which also re-announces a training request when no task came),
/// and updates re-sent with jittered back-off until their receipt arrives or the round's deadline passes.
/// </summary>
internal sealed class WorkerLiveness(WorkerOptions options, IWorkerTransport transport, TimeProvider time, ILogger logger, CancellationToken stopping)
{
    private int _updateResends;

    /// <summary>Updates sent again because their receipt did not come in time.</summary>
    public int UpdateResends => Volatile.Read(ref _updateResends);

    /// <summary>Sends the update, then keeps re-sending it in the background until its receipt arrives.</summary>
    public async ValueTask SendUpdateAsync(WorkerRound round, ModelUpdate update, CancellationToken ct)
    {
        round.PendingUpdate = update;
        await TrySendAsync(update, ct).ConfigureAwait(false);
        _ = Task.Run(() => ResendUntilReceiptAsync(round, update), CancellationToken.None);
    }

    /// <summary>Sends the update once; a link that is down is logged (the re-send loop, or the coordinator's re-sent task, tries again).</summary>
    public async ValueTask TrySendAsync(ModelUpdate update, CancellationToken ct)
    {
        try
        {
            await transport.SendUpdateAsync(update, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException)
        {
            Log.SendFailed(logger, "the coordinator", $"update of round {update.Round}", ex);
        }
    }

    /// <summary>Publishes <paramref name="announcement"/>'s intent every heartbeat interval until <paramref name="ct"/> is cancelled.</summary>
    public async Task RunHeartbeatsAsync(Func<(DeviceIntent? Intent, string? Reason)> announcement, Func<DeviceIntent, string?, CancellationToken, ValueTask> publish, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(options.HeartbeatInterval, time, ct).ConfigureAwait(false);
                (DeviceIntent? intent, string? reason) = announcement();
                if (intent is DeviceIntent announce)
                {
                    await publish(announce, reason, ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private async Task ResendUntilReceiptAsync(WorkerRound round, ModelUpdate update)
    {
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                TimeSpan delay = Backoff.Delay(options.ResendDelay, options.MaxResendDelay, attempt, Random.Shared);
                TimeSpan left = round.Task.Deadline - time.GetUtcNow();
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                Task timer = Task.Delay(delay < left ? delay : left, time, stopping);
                if (await Task.WhenAny(round.Receipt.Task, timer).ConfigureAwait(false) == round.Receipt.Task || round.Retired)
                {
                    return;
                }

                if (time.GetUtcNow() < round.Task.Deadline)
                {
                    Interlocked.Increment(ref _updateResends);
                    Log.UpdateResent(logger, options.DeviceId, update.Round, attempt + 1);
                    await TrySendAsync(update, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Disposed.
        }
    }
}
