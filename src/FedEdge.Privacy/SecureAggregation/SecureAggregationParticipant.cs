using FedEdge.Rounds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// Secure aggregation as the worker's round protocol: when the task arrives the device advertises fresh keys,
/// answers the coordinator's protocol messages, and submits its update as a masked input (Δ·w, w, loss·w, with w
/// the update's aggregation weight). Registered by <c>services.AddSecureAggregation()</c>.
/// </summary>
internal sealed class SecureAggregationParticipant(ISecureAggregationWorker secureAggregation, ILoggerFactory? loggerFactory = null) : IWorkerRoundProtocol
{
    private readonly ILogger _logger = (ILogger?)loggerFactory?.CreateLogger("FedEdge.Privacy.SecureAggregation") ?? NullLogger.Instance;

    public string Name => "secagg";

    public bool RequiresProtocolChannel => true;

    public bool SendsDelta => true;

    public IWorkerRoundSession Begin(WorkerRoundContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Session(context, secureAggregation.BeginRound(context.DeviceId, context.Task.Round, context.Task.Nonce), _logger);
    }

    private sealed class Session(WorkerRoundContext context, ISecureAggregationClientRound client, ILogger logger) : IWorkerRoundSession
    {
        private readonly Lock _gate = new();
        private readonly TaskCompletionSource _inputSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private float[]? _input;
        private SecAggMessage? _pendingShares;
        private bool _closed;

        public async ValueTask StartAsync(CancellationToken cancellationToken = default)
        {
            SecAggAdvertiseKeys keys;
            lock (_gate)
            {
                keys = client.AdvertiseKeys();
            }

            await context.SendProtocolAsync(SecAggWireCodec.Encode(keys), cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
        {
            SecAggMessage message;
            try
            {
                message = SecAggWireCodec.Decode(payload.Span);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                Log.ProtocolIgnored(logger, context.DeviceId, "undecodable protocol message: " + ex.Message);
                return;
            }

            if (message.Round != context.Task.Round)
            {
                Log.ProtocolIgnored(logger, context.DeviceId, $"no secure-aggregation round {message.Round} is running here");
                return;
            }

            SecAggMessage? reply;
            lock (_gate)
            {
                if (_closed)
                {
                    return;
                }

                if (message is SecAggForwardedShares && _input is null)
                {
                    // The masked input needs the trained update: answer once training has finished.
                    _pendingShares = message;
                    return;
                }

                reply = Respond(message, _input ?? []);
            }

            await SendAsync(reply, cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask SubmitAsync(ModelUpdate update, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(update);
            ReadOnlySpan<float> values = update.Values.Values;
            int n = values.Length;
            float weight = update.SampleCount;
            var input = new float[n + SecureAggregationRound.ExtraSlots];
            for (int i = 0; i < n; i++)
            {
                input[i] = values[i] * weight;
            }

            input[n] = weight;
            input[n + 1] = update.Metrics.TryGetValue("loss", out double loss) && double.IsFinite(loss) ? (float)(loss * weight) : 0f;
            SecAggMessage? reply = null;
            lock (_gate)
            {
                if (_closed)
                {
                    throw new InvalidOperationException($"The secure-aggregation round {context.Task.Round} ended before this device's input was ready.");
                }

                _input = input;
                if (_pendingShares is { } pending)
                {
                    _pendingShares = null;
                    reply = Respond(pending, input);
                }
            }

            await SendAsync(reply, cancellationToken).ConfigureAwait(false);

            // Return only once the masked input is out (or the round ended), so the worker does not announce
            // readiness for the next round while this one still needs it.
            TimeSpan left = context.Task.Deadline - context.TimeProvider.GetUtcNow();
            try
            {
                await _inputSent.Task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, context.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abandon("the coordinator asked for no masked input before the round deadline");
            }
        }

        public void Abandon(string reason)
        {
            lock (_gate)
            {
                if (_closed)
                {
                    return;
                }
            }

            Log.Left(logger, context.DeviceId, context.Task.Round, reason);
            Dispose();
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (!_closed)
                {
                    _closed = true;
                    client.Dispose();
                    _inputSent.TrySetResult();
                }
            }
        }

        private async ValueTask SendAsync(SecAggMessage? reply, CancellationToken ct)
        {
            if (reply is null)
            {
                return;
            }

            await context.SendProtocolAsync(SecAggWireCodec.Encode(reply), ct).ConfigureAwait(false);
            if (reply is SecAggMaskedInput)
            {
                _inputSent.TrySetResult();
            }
        }

        /// <summary>Under the gate: the client's answer, or null (abort, protocol error: the device leaves the round).</summary>
        private SecAggMessage? Respond(SecAggMessage message, ReadOnlySpan<float> input)
        {
            try
            {
                SecAggMessage? reply = client.Respond(message, input);
                if (reply is null)
                {
                    Close(message is SecAggAbort abort ? $"the coordinator aborted: {abort.Reason}: {abort.Detail}" : "the round ended");
                }

                return reply;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // A protocol violation or a message this client cannot answer: leave the round (the coordinator treats us as a dropout).
                Close($"{ex.GetType().Name}: {ex.Message}");
                return null;
            }
        }

        private void Close(string reason)
        {
            _closed = true;
            client.Dispose();
            _inputSent.TrySetResult();
            Log.Left(logger, context.DeviceId, context.Task.Round, reason);
        }
    }
}
