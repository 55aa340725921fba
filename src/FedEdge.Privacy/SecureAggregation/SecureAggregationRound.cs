using FedEdge.Coordination;
using FedEdge.Rounds;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// Secure aggregation as a coordinator round protocol: the selected devices send masked inputs over the
/// transport's protocol channel and the coordinator learns only their sum (Σ nᵢΔᵢ, Σ nᵢ, Σ nᵢ·lossᵢ), which it
/// turns into one mean delta folded into the strategy. Registered by <c>services.AddSecureAggregation()</c>.
/// </summary>
internal sealed class SecureAggregationRound(ISecureAggregationCoordinator secureAggregation) : IRoundProtocol
{
    /// <summary>Values an input carries after the parameters: the aggregation weight and the loss times the weight.</summary>
    public const int ExtraSlots = SecureAggregationTranscript.ExtraSlots;

    /// <summary>The sender id of the single aggregate update folded into the strategy after a secure round.</summary>
    public const string AggregateSenderId = SecureAggregationTranscript.AggregateSenderId;

    public string Name => "secagg";

    public bool RevealsIndividualUpdates => false;

    public bool RequiresProtocolChannel => true;

    public IRoundSession Begin(RoundSessionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ISecureAggregationServerRound server = secureAggregation.BeginRound(context.Round, context.Nonce, context.GlobalParameters.Length + ExtraSlots, [.. context.Selected]);
        return new Session(context, server);
    }

    private sealed class Session : IRoundSession
    {
        private readonly RoundSessionContext _context;
        private readonly ISecureAggregationServerRound _server;
        private readonly CancellationTokenSource _cancellation;
        private readonly Task<SecureSum> _run;
        private readonly Lock _gate = new();
        private readonly HashSet<string> _inputs = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _left = new(StringComparer.Ordinal);
        private readonly List<RefusedUpdate> _refused = [];
        private bool _finished;

        public Session(RoundSessionContext context, ISecureAggregationServerRound server)
        {
            _context = context;
            _server = server;
            _cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
            _run = server.RunAsync((id, message, token) => context.SendProtocolAsync(id, SecAggWireCodec.Encode(message), token), _cancellation.Token);
        }

        public Task Settled => _run;

        public RoundUpdateVerdict OnUpdate(ModelUpdate update)
        {
            ArgumentNullException.ThrowIfNull(update);
            const string reason = "this federation uses secure aggregation: plaintext updates are refused";
            lock (_gate)
            {
                _refused.Add(new RefusedUpdate(update.SenderId, update.Round, reason));
            }

            return new(RoundUpdateOutcome.Refused, reason);
        }

        public string? OnProtocol(string deviceId, ReadOnlyMemory<byte> payload)
        {
            SecAggMessage message;
            try
            {
                message = SecAggWireCodec.Decode(payload.Span);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                return "undecodable secure-aggregation message: " + ex.Message;
            }

            string? sender = message switch
            {
                SecAggAdvertiseKeys m => m.SenderId,
                SecAggShareKeys m => m.SenderId,
                SecAggMaskedInput m => m.SenderId,
                SecAggUnmaskResponse m => m.SenderId,
                _ => null,
            };
            if (sender is null)
            {
                return $"a device may not send {message.GetType().Name}";
            }

            if (!string.Equals(sender, deviceId, StringComparison.Ordinal))
            {
                return $"the protocol message names sender '{sender}' but came from '{deviceId}'";
            }

            if (message.Round != _context.Round)
            {
                return $"no secure-aggregation round {message.Round} is open (round {_context.Round} is)";
            }

            SecAggReceiveResult received = _server.Receive(message);
            if (received.Status == SecAggReceiveStatus.Duplicate)
            {
                // A re-sent copy: harmless.
                return null;
            }

            if (!received.Accepted)
            {
                return $"secure aggregation refused the {message.GetType().Name}: {received.Status}: {received.Reason}";
            }

            if (message is SecAggMaskedInput)
            {
                lock (_gate)
                {
                    _inputs.Add(deviceId);
                }
            }

            return null;
        }

        public void Leave(string deviceId, string reason)
        {
            // The protocol's own deadlines and dropout recovery handle a device that left; remember why.
            lock (_gate)
            {
                if (!_inputs.Contains(deviceId))
                {
                    _left.TryAdd(deviceId, reason);
                }
            }
        }

        public bool IsAwaiting(string deviceId)
        {
            lock (_gate)
            {
                return !_finished && !_run.IsCompleted && _context.Selected.Contains(deviceId) && !_inputs.Contains(deviceId) && !_left.ContainsKey(deviceId);
            }
        }

        public async ValueTask<RoundContribution> FinishAsync(CancellationToken cancellationToken = default)
        {
            lock (_gate)
            {
                _finished = true;
            }

            (SecureSum? sum, string? failure) = await AwaitSumAsync(cancellationToken).ConfigureAwait(false);
            RefusedUpdate[] refused;
            Dictionary<string, string> left;
            lock (_gate)
            {
                refused = [.. _refused];
                left = new Dictionary<string, string>(_left, StringComparer.Ordinal);
            }

            int n = _context.GlobalParameters.Length;
            if (failure is not null || sum?.Sum is not float[] values)
            {
                return new RoundContribution
                {
                    Contributors = [],
                    Failed = _context.Selected.ToDictionary(d => d, d => left.GetValueOrDefault(d, "the secure-aggregation round failed"), StringComparer.Ordinal),
                    Refused = refused,
                    FailureReason = failure ?? "secure aggregation produced no sum",
                };
            }

            double weight = values[n];
            if (!(weight > 0.5) || !double.IsFinite(weight))
            {
                return new RoundContribution
                {
                    Contributors = [],
                    Failed = new Dictionary<string, string>(StringComparer.Ordinal),
                    Refused = refused,
                    FailureReason = $"secure aggregation produced an unusable total weight {weight}",
                };
            }

            var failed = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string device in _context.Selected)
            {
                if (!sum.Contributors.Contains(device))
                {
                    failed[device] = sum.RecoveredDropouts.Contains(device)
                        ? "dropped out of secure aggregation after sharing its keys (its masks were removed)"
                        : left.GetValueOrDefault(device, "sent no masked input in time for secure aggregation");
                }
            }

            if (sum.Contributors.Count > 0 && SecureAggregationTranscript.MeanUpdate(_context.GlobalParameters, values, _context.Round, _context.Nonce) is { } mean)
            {
                _context.Aggregation.Add(mean);
            }

            return new RoundContribution
            {
                Contributors = [.. sum.Contributors],
                Failed = failed,
                Refused = refused,
                LossSum = values[n + 1],
                LossWeight = weight,
                SampleCount = Math.Max(0, (long)Math.Round(weight)),
                RecoveredDropouts = sum.RecoveredDropouts,
                ErrorBound = MeanErrorBound(sum, values, n),
                Transcript = new SecureAggregationTranscript
                {
                    Roster = sum.Roster,
                    Threshold = sum.Threshold,
                    Contributors = [.. sum.Contributors],
                    RecoveredDropouts = sum.RecoveredDropouts,
                    Sum = values,
                },
            };
        }

        public async ValueTask DisposeAsync()
        {
            await _cancellation.CancelAsync().ConfigureAwait(false);
            await ((Task)_run).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _cancellation.Dispose();
        }

        /// <summary>The per-coordinate bound on the error of the mean: the sum's bound propagated through the division by the (also quantised) total weight.</summary>
        private static double MeanErrorBound(SecureSum sum, float[] values, int n)
        {
            double weight = values[n];
            double eb = sum.ErrorBound;
            double maxMean = 0;
            for (int i = 0; i < n; i++)
            {
                maxMean = Math.Max(maxMean, Math.Abs(values[i] / weight));
            }

            return weight > eb ? eb * (1 + maxMean) / (weight - eb) : double.PositiveInfinity;
        }

        private async ValueTask<(SecureSum? Sum, string? Failure)> AwaitSumAsync(CancellationToken ct)
        {
            try
            {
                if (!_run.IsCompleted)
                {
                    // The deadline passed: end the phase that is waiting.
                    await _cancellation.CancelAsync().ConfigureAwait(false);
                }

                SecureSum sum = await _run.ConfigureAwait(false);
                return sum.Succeeded ? (sum, null) : (sum, $"secure aggregation aborted in phase {sum.Abort!.Phase} ({sum.Abort.Reason}): {sum.Abort.Detail}");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return (null, "secure aggregation did not finish before the round deadline");
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or NotSupportedException)
            {
                // A transport or protocol failure ends this round only; the next round starts afresh.
                return (null, $"secure aggregation failed: {ex.GetType().Name}: {ex.Message}");
            }
        }
    }
}
