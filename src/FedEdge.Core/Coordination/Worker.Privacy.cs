using FedEdge.Messaging;
using FedEdge.Privacy;

namespace FedEdge.Coordination;

/// <content>
/// Differential privacy and secure aggregation on the worker: the update transforms run on the delta
/// (trained − global) before it leaves the device, and with secure aggregation the device sends only a
/// masked input (delta × samples, samples, loss × samples) over the transport's protocol channel.
/// </content>
public sealed partial class Worker
{
    private SecureContribution? _secureContribution;

    /// <inheritdoc />
    public async ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        SecAggMessage message;
        try
        {
            message = SecAggWireCodec.Decode(payload.Span);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            Log.WorkerProtocolIgnored(_logger, DeviceId, "undecodable protocol message: " + ex.Message);
            return;
        }

        SecureContribution? contribution = Volatile.Read(ref _secureContribution);
        if (contribution is null || contribution.Round != message.Round)
        {
            Log.WorkerProtocolIgnored(_logger, DeviceId, $"no secure-aggregation round {message.Round} is running here");
            return;
        }

        SecAggMessage? reply;
        lock (contribution.Gate)
        {
            if (contribution.Closed)
            {
                return;
            }

            if (message is SecAggForwardedShares && contribution.Input is null)
            {
                // The masked input needs the trained update: answer once training has finished.
                contribution.PendingShares = message;
                return;
            }

            reply = Respond(contribution, message, contribution.Input ?? []);
        }

        if (reply is not null)
        {
            await _transport.SendProtocolAsync(SecAggWireCodec.Encode(reply), cancellationToken).ConfigureAwait(false);
            if (reply is SecAggMaskedInput)
            {
                contribution.InputSent.TrySetResult();
            }
        }
    }

    /// <summary>Starts this device's part in the round's secure aggregation (when configured) by advertising fresh keys.</summary>
    private async ValueTask<SecureContribution?> BeginSecureContributionAsync(RoundTask task, CancellationToken ct)
    {
        if (_options.SecureAggregation is not { } secureAggregation)
        {
            return null;
        }

        var contribution = new SecureContribution(task.Round, secureAggregation.BeginRound(DeviceId, task.Round, task.Nonce));
        Interlocked.Exchange(ref _secureContribution, contribution)?.Close();
        SecAggAdvertiseKeys keys;
        lock (contribution.Gate)
        {
            keys = contribution.Client.AdvertiseKeys();
        }

        await _transport.SendProtocolAsync(SecAggWireCodec.Encode(keys), ct).ConfigureAwait(false);
        return contribution;
    }

    /// <summary>Stops taking part in the round's secure aggregation (training failed or was declined): the coordinator recovers the dropout.</summary>
    private void AbandonSecureContribution(long round, string reason)
    {
        SecureContribution? contribution = Volatile.Read(ref _secureContribution);
        if (contribution is not null && contribution.Round == round && Interlocked.CompareExchange(ref _secureContribution, null, contribution) == contribution)
        {
            contribution.Close();
            Log.WorkerSecureAggregationLeft(_logger, DeviceId, round, reason);
        }
    }

    private void CloseSecureContribution() => Interlocked.Exchange(ref _secureContribution, null)?.Close();

    /// <summary>Sends the trained update: as parameters, as a transformed delta, or as a secure-aggregation input.</summary>
    private async ValueTask SendOrContributeAsync(RoundTask task, ModelUpdate update, SecureContribution? secure, CancellationToken ct)
    {
        if (!_options.SendsDelta)
        {
            await _transport.SendUpdateAsync(update, ct).ConfigureAwait(false);
            return;
        }

        ParameterSet delta = update.Values.Clone();
        Span<float> d = delta.Values;
        ReadOnlySpan<float> global = task.GlobalParameters.Values;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] -= global[i];
        }

        var metrics = new Dictionary<string, double>(update.Metrics, StringComparer.Ordinal);
        var context = new UpdateTransformContext { Round = task.Round, SenderId = DeviceId, SampleCount = update.SampleCount, Metrics = metrics };
        foreach (IUpdateTransform transform in _options.UpdateTransforms)
        {
            transform.Apply(delta, context);
        }

        if (!delta.AllFinite())
        {
            throw new InvalidOperationException("The update transforms produced non-finite values.");
        }

        if (secure is null)
        {
            long sampleCount = _options.UniformAggregationWeight ? 1 : update.SampleCount;
            await _transport.SendUpdateAsync(update with { Kind = UpdateKind.Delta, Values = delta, Metrics = metrics, SampleCount = sampleCount }, ct).ConfigureAwait(false);
            return;
        }

        // FedAvg under secure aggregation: the coordinator divides Σ nᵢΔᵢ by Σ nᵢ, both summed securely.
        int n = delta.Length;
        float weight = _options.UniformAggregationWeight ? 1f : update.SampleCount;
        var input = new float[n + Coordinator.SecureAggregationExtraSlots];
        ReadOnlySpan<float> values = delta.Values;
        for (int i = 0; i < n; i++)
        {
            input[i] = values[i] * weight;
        }

        input[n] = weight;
        input[n + 1] = metrics.TryGetValue("loss", out double loss) && double.IsFinite(loss) ? (float)(loss * weight) : 0f;
        SecAggMessage? reply = null;
        lock (secure.Gate)
        {
            if (secure.Closed)
            {
                throw new InvalidOperationException($"The secure-aggregation round {task.Round} ended before this device's input was ready.");
            }

            secure.Input = input;
            if (secure.PendingShares is { } pending)
            {
                secure.PendingShares = null;
                reply = Respond(secure, pending, input);
            }
        }

        if (reply is not null)
        {
            await _transport.SendProtocolAsync(SecAggWireCodec.Encode(reply), ct).ConfigureAwait(false);
            secure.InputSent.TrySetResult();
        }

        // Announce readiness for the next round only once the masked input is out (or the round ended),
        // so the coordinator does not count this device as idle while its round is still open.
        TimeSpan left = task.Deadline - _time.GetUtcNow();
        try
        {
            await secure.InputSent.Task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            AbandonSecureContribution(task.Round, "the coordinator asked for no masked input before the round deadline");
        }
    }

    /// <summary>Under the contribution's gate: the client's answer to a coordinator message, or null (abort, protocol error: the device leaves the round).</summary>
    private SecAggMessage? Respond(SecureContribution contribution, SecAggMessage message, ReadOnlySpan<float> input)
    {
        try
        {
            SecAggMessage? reply = contribution.Client.Respond(message, input);
            if (reply is null)
            {
                contribution.Close();
                Log.WorkerSecureAggregationLeft(_logger, DeviceId, contribution.Round, message is SecAggAbort abort ? $"the coordinator aborted: {abort.Reason}: {abort.Detail}" : "the round ended");
            }

            return reply;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // A protocol violation or a message this client cannot answer: leave the round (the coordinator treats us as a dropout).
            contribution.Close();
            Log.WorkerSecureAggregationLeft(_logger, DeviceId, contribution.Round, $"{ex.GetType().Name}: {ex.Message}");
            return null;
        }
    }

    private sealed class SecureContribution(long round, ISecureAggregationClientRound client)
    {
        public Lock Gate { get; } = new();

        public long Round { get; } = round;

        public ISecureAggregationClientRound Client { get; } = client;

        public float[]? Input { get; set; }

        public SecAggMessage? PendingShares { get; set; }

        public bool Closed { get; private set; }

        public TaskCompletionSource InputSent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Close()
        {
            lock (Gate)
            {
                if (!Closed)
                {
                    Closed = true;
                    Client.Dispose();
                    InputSent.TrySetResult();
                }
            }
        }
    }
}
