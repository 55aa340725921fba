using FedEdge.Messaging;
using FedEdge.Privacy;

namespace FedEdge.Coordination;

/// <content>
/// Differential privacy and secure aggregation inside the coordinator's rounds: aggregate transforms
/// (central noise) on each round's model change, a privacy accountant stepped once per round that can
/// stop training at its budget, and secure aggregation run over the transport's protocol channel in
/// place of plaintext aggregation.
/// </content>
public sealed partial class Coordinator
{
    /// <summary>Values a secure-aggregation input carries after the parameters: the sample count and the loss times the sample count.</summary>
    public const int SecureAggregationExtraSlots = 2;

    /// <summary>The sender id of the single aggregate update the coordinator folds into its strategy after a secure round.</summary>
    public const string SecureAggregateSenderId = "fededge.secure-aggregate";

    private SecureRound? _secure;
    private string? _privacyBudgetStop;

    /// <inheritdoc />
    public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        SecAggMessage message;
        try
        {
            message = SecAggWireCodec.Decode(payload.Span);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return OnMalformedAsync("protocol message from " + deviceId, ex, cancellationToken);
        }

        string? sender = message switch
        {
            SecAggAdvertiseKeys m => m.SenderId,
            SecAggShareKeys m => m.SenderId,
            SecAggMaskedInput m => m.SenderId,
            SecAggUnmaskResponse m => m.SenderId,
            _ => null,
        };
        string? reason = null;
        SecureRound? secure;
        lock (_gate)
        {
            secure = _secure;
        }

        if (sender is null)
        {
            reason = $"a device may not send {message.GetType().Name}";
        }
        else if (!string.Equals(sender, deviceId, StringComparison.Ordinal)
            || (context.AuthenticatedId is not null && !string.Equals(context.AuthenticatedId, deviceId, StringComparison.Ordinal)))
        {
            reason = $"the protocol message names sender '{sender}' but came from '{context.AuthenticatedId ?? deviceId}'";
        }
        else if (secure is null || secure.Round != message.Round)
        {
            reason = $"no secure-aggregation round {message.Round} is open";
        }
        else
        {
            SecAggReceiveResult received = secure.Server.Receive(message);
            if (!received.Accepted)
            {
                reason = $"secure aggregation refused the {message.GetType().Name}: {received.Status}: {received.Reason}";
            }
            else if (message is SecAggMaskedInput)
            {
                lock (_gate)
                {
                    // The device has contributed: a training request it sends now is for the next window.
                    _current?.Received.Add(deviceId);
                }
            }
        }

        if (reason is not null)
        {
            _refusedCounter.Add(1);
            Log.UpdateRefused(_logger, deviceId, message.Round, reason);
        }

        return ValueTask.CompletedTask;
    }

    private void ValidatePrivacySetup()
    {
        if (_options.SecureAggregation is not null && !_transport.SupportsProtocolMessages)
        {
            throw new ProtocolMessagesNotSupportedException(_transport.GetType().Name);
        }
    }

    /// <summary>Starts the round's secure aggregation (when configured) before the tasks go out, so keys advertised on receipt of the task are accepted.</summary>
    private SecureRound? BeginSecureRound(long round, string nonce, int parameterCount, List<string> selected, CancellationToken ct)
    {
        if (_options.SecureAggregation is not { } secureAggregation)
        {
            return null;
        }

        ISecureAggregationServerRound server = secureAggregation.BeginRound(round, nonce, parameterCount + SecureAggregationExtraSlots, selected);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var secure = new SecureRound(round, server, cts);
        lock (_gate)
        {
            _secure = secure;
        }

        secure.Run = server.RunAsync((id, message, token) => _transport.SendProtocolAsync(id, SecAggWireCodec.Encode(message), token), cts.Token);
        return secure;
    }

    /// <summary>Waits for the secure round (cancelling it when the round timeout has passed) and returns its sum or why it failed.</summary>
    private async ValueTask<(SecureSum? Sum, string? Failure)> FinishSecureRoundAsync(SecureRound? secure, CancellationToken ct)
    {
        if (secure is null)
        {
            return (null, null);
        }

        using (secure.Cancellation)
        {
            try
            {
                if (!secure.Run!.IsCompleted)
                {
                    await secure.Cancellation.CancelAsync().ConfigureAwait(false);
                }

                SecureSum sum = await secure.Run.ConfigureAwait(false);
                return sum.Succeeded
                    ? (sum, null)
                    : (sum, $"secure aggregation aborted in phase {sum.Abort!.Phase} ({sum.Abort.Reason}): {sum.Abort.Detail}");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return (null, $"secure aggregation did not finish within the round timeout {_options.RoundTimeout}");
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or NotSupportedException)
            {
                // A transport or protocol failure ends this round only; the next round starts afresh.
                return (null, $"secure aggregation failed: {ex.GetType().Name}: {ex.Message}");
            }
            finally
            {
                lock (_gate)
                {
                    if (ReferenceEquals(_secure, secure))
                    {
                        _secure = null;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Under the gate: turns a secure sum into one mean delta (FedAvg: Σ nᵢΔᵢ / Σ nᵢ) folded into the
    /// strategy, records contributors, the weighted loss and the dropouts; returns why the round fails, or null.
    /// </summary>
    private static string? ApplySecureSum(RoundState state, SecureSum? sum, string? failure, ParameterSet global)
    {
        if (failure is not null || sum?.Sum is not float[] values)
        {
            foreach (string device in state.Selected)
            {
                state.Failed.TryAdd(device, "the secure-aggregation round failed");
            }

            return failure ?? "secure aggregation produced no sum";
        }

        int n = global.Length;
        double weight = values[n];
        if (!(weight > 0.5) || !double.IsFinite(weight))
        {
            return $"secure aggregation produced an unusable total sample count {weight}";
        }

        var delta = new ParameterSet(global.Layout);
        Span<float> d = delta.Values;
        for (int i = 0; i < n; i++)
        {
            d[i] = (float)(values[i] / weight);
        }

        foreach (string contributor in sum.Contributors)
        {
            state.Received.Add(contributor);
            state.Contributors.Add(contributor);
            state.Failed.Remove(contributor);
        }

        foreach (string device in state.Selected)
        {
            if (!state.Contributors.Contains(device))
            {
                state.Failed[device] = sum.RecoveredDropouts.Contains(device)
                    ? "dropped out of secure aggregation after sharing its keys (its masks were removed)"
                    : "sent no masked input in time for secure aggregation";
            }
        }

        state.LossSum = values[n + 1];
        state.WeightSum = weight;
        if (state.Contributors.Count > 0)
        {
            state.Aggregation.Add(new ModelUpdate
            {
                SenderId = SecureAggregateSenderId,
                Round = state.Round,
                Nonce = state.Nonce,
                SampleCount = Math.Max(1, (long)Math.Round(weight)),
                Kind = UpdateKind.Delta,
                Values = delta,
            });
        }

        return null;
    }

    /// <summary>The per-coordinate bound on the error of the securely aggregated mean: the sum's bound propagated through the division by the (also quantised) total weight.</summary>
    private static double? SecureMeanErrorBound(SecureSum? sum, int parameterCount)
    {
        if (sum?.Sum is not float[] values)
        {
            return null;
        }

        double weight = values[parameterCount];
        double eb = sum.ErrorBound;
        double maxMean = 0;
        for (int i = 0; i < parameterCount; i++)
        {
            maxMean = Math.Max(maxMean, Math.Abs(values[i] / weight));
        }

        return weight > eb ? eb * (1 + maxMean) / (weight - eb) : double.PositiveInfinity;
    }

    /// <summary>Applies the aggregate transforms to the round's model change and returns the new global parameters.</summary>
    private ParameterSet ApplyAggregateTransforms(ParameterSet previous, ParameterSet next, long round, int contributors, Dictionary<string, double> metrics)
    {
        if (_options.AggregateTransforms.Count == 0)
        {
            return next;
        }

        ParameterSet change = next.Clone();
        Span<float> c = change.Values;
        ReadOnlySpan<float> p = previous.Values;
        for (int i = 0; i < c.Length; i++)
        {
            c[i] -= p[i];
        }

        var context = new AggregateTransformContext { Round = round, ContributorCount = contributors, IsMean = true, Metrics = metrics };
        foreach (IAggregateTransform transform in _options.AggregateTransforms)
        {
            transform.Apply(change, context);
        }

        for (int i = 0; i < c.Length; i++)
        {
            c[i] += p[i];
        }

        if (!change.AllFinite())
        {
            throw new InvalidOperationException($"An aggregate transform produced a non-finite global model in round {round}.");
        }

        return change;
    }

    /// <summary>The sampling rate of a round: selected devices over admitted devices.</summary>
    private double SamplingRate(int selected)
    {
        int population;
        lock (_gate)
        {
            population = _devices.Count;
        }

        return Math.Clamp((double)selected / Math.Max(population, Math.Max(selected, 1)), 0, 1);
    }

    /// <summary>Before a round runs: the reason to refuse it when it would exceed the privacy budget, or null.</summary>
    private string? CheckPrivacyBudget(int selected)
    {
        if (_options.PrivacyAccountant is not { } accountant || _options.DpNoiseMultiplier is not double sigma)
        {
            return null;
        }

        PrivacySpent next = accountant.Preview(SamplingRate(selected), sigma, 1);
        if (!next.ExceedsBudget)
        {
            return null;
        }

        _privacyBudgetStop = $"privacy budget reached: another round would spend ε = {next.Epsilon:0.###} > {next.EpsilonBudget:0.###} (spent {accountant.Spent.Epsilon:0.###})";
        return _privacyBudgetStop;
    }

    /// <summary>After a completed round: steps the accountant with the round's actual sampling rate.</summary>
    private PrivacySpent? StepAccountant(int selected)
    {
        if (_options.PrivacyAccountant is not { } accountant || _options.DpNoiseMultiplier is not double sigma)
        {
            return null;
        }

        PrivacySpent spent = accountant.RecordRound(SamplingRate(selected), sigma);
        if (accountant.IsExhausted)
        {
            _privacyBudgetStop ??= $"privacy budget reached: ε = {spent.Epsilon:0.###} of {spent.EpsilonBudget:0.###} spent";
        }

        return spent;
    }

    private sealed class SecureRound(long round, ISecureAggregationServerRound server, CancellationTokenSource cancellation)
    {
        public long Round { get; } = round;

        public ISecureAggregationServerRound Server { get; } = server;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        public Task<SecureSum>? Run { get; set; }
    }
}
