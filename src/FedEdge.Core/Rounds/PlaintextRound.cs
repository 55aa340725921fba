using System.Numerics.Tensors;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Privacy;

namespace FedEdge.Rounds;

/// <summary>Factories for Core's round protocols.</summary>
public static class RoundProtocols
{
    /// <summary>
    /// The plaintext round (the default): each device's update is validated and folded into the strategy as it
    /// arrives. Coordinator-side <paramref name="updateTransforms"/> (central DP clipping) run, in order, on each
    /// accepted update's delta before it is folded.
    /// </summary>
    public static IRoundProtocol Plaintext(IEnumerable<IUpdateTransform>? updateTransforms = null) => new PlaintextRound(updateTransforms);

    /// <summary>The worker side of the plaintext round: the update is sent as it is (the engine re-sends it until a receipt arrives).</summary>
    public static IWorkerRoundProtocol PlaintextWorker() => PlaintextWorkerRound.Instance;
}

/// <summary>Core's plaintext round protocol.</summary>
internal sealed class PlaintextRound(IEnumerable<IUpdateTransform>? updateTransforms) : IRoundProtocol
{
    private readonly IUpdateTransform[] _transforms = updateTransforms?.ToArray() ?? [];

    public string Name => "plaintext";

    public bool RevealsIndividualUpdates => true;

    public bool RequiresProtocolChannel => false;

    public IRoundSession Begin(RoundSessionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Session(context, _transforms);
    }

    private sealed class Session(RoundSessionContext context, IUpdateTransform[] transforms) : IRoundSession
    {
        private readonly Lock _gate = new();
        private readonly Lock _transformGate = new();
        private readonly HashSet<string> _selected = new(context.Selected, StringComparer.Ordinal);
        private readonly HashSet<string> _received = new(StringComparer.Ordinal);
        private readonly List<string> _contributors = [];
        private readonly Dictionary<string, string> _accepted = new(StringComparer.Ordinal);
        private readonly List<double> _norms = [];
        private readonly List<AcceptedUpdateRecord> _records = [];
        private readonly Dictionary<string, Hierarchy.EdgeDeviceSummary> _edges = new(StringComparer.Ordinal);
        private readonly List<ModelUpdate> _folded = [];
        private readonly List<ModelUpdate> _pending = [];
        private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);
        private readonly List<RefusedUpdate> _refused = [];
        private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private double _lossSum;
        private double _lossWeight;
        private long _samples;
        private bool _finished;

        public Task Settled => _settled.Task;

        public RoundUpdateVerdict OnUpdate(ModelUpdate update)
        {
            ArgumentNullException.ThrowIfNull(update);
            RoundUpdateVerdict verdict = Judge(update);
            lock (_gate)
            {
                if (!verdict.IsAccepted)
                {
                    _refused.Add(new RefusedUpdate(update.SenderId, update.Round, verdict.Reason ?? "refused"));
                }

                CheckSettled();
            }

            return verdict;
        }

        public string? OnProtocol(string deviceId, ReadOnlyMemory<byte> payload) => "this round runs in plaintext: protocol messages are not expected";

        public void Leave(string deviceId, string reason)
        {
            lock (_gate)
            {
                if (_selected.Contains(deviceId) && !_received.Contains(deviceId))
                {
                    _failed.TryAdd(deviceId, reason);
                    CheckSettled();
                }
            }
        }

        public bool IsAwaiting(string deviceId)
        {
            lock (_gate)
            {
                return !_finished && _selected.Contains(deviceId) && !_received.Contains(deviceId) && !_failed.ContainsKey(deviceId);
            }
        }

        public ValueTask<RoundContribution> FinishAsync(CancellationToken cancellationToken = default)
        {
            RoundContribution contribution;
            ModelUpdate[] pending;
            lock (_gate)
            {
                // No update is accepted after this, so the held ones are all there are.
                _finished = true;
                pending = [.. _pending];
                _pending.Clear();
                contribution = new RoundContribution
                {
                    Contributors = [.. _contributors],
                    Failed = new Dictionary<string, string>(_failed, StringComparer.Ordinal),
                    Refused = [.. _refused],
                    LossSum = _lossSum,
                    LossWeight = _lossWeight,
                    SampleCount = _samples,
                    DeltaNorms = [.. _norms],
                    Accepted = Records(),
                    EdgeSummaries = new Dictionary<string, Hierarchy.EdgeDeviceSummary>(_edges, StringComparer.Ordinal),
                    Folded = [.. _folded],
                };
            }

            if (pending.Length > 0)
            {
                // The sum of floats depends on its order: the order of the senders' ids makes the aggregate the same bits
                // however the updates raced in (a committee recomputes it from the same list, in the same order).
                Array.Sort(pending, static (a, b) => string.CompareOrdinal(a.SenderId, b.SenderId));
                if (context.Aggregation is IOrderedFold ordered)
                {
                    // Core's streaming round: the same bits as the loop below, a cache-sized block at a time on both cores.
                    ordered.AddInOrder(pending);
                }
                else
                {
                    foreach (ModelUpdate update in pending)
                    {
                        context.Aggregation.Add(update);
                    }
                }

                if (context.RecordFolded)
                {
                    contribution = contribution with { Folded = pending };
                }
            }

            return ValueTask.FromResult(contribution);
        }

        /// <summary>The accepted updates' records (digests taken at acceptance).</summary>
        private AcceptedUpdateRecord[] Records() => [.. _records];

        /// <summary>
        /// The hash that recognises a re-sent copy of an accepted update. When the round records updates (transparency
        /// log, reputation) it is the update's signing digest (<see cref="Security.UpdateSigning.Digest"/>, over the
        /// header and the values), which the log needs anyway; otherwise a fast non-cryptographic fingerprint of the
        /// values (a re-send only needs telling apart from a different update by the same authenticated sender). Either is
        /// one pass.
        /// </summary>
        private string AcceptanceHash(ModelUpdate update) => context.RecordUpdates
            ? Convert.ToHexStringLower(Security.UpdateSigning.Digest(update))
            : Fingerprint(update.Values);

        public ValueTask DisposeAsync()
        {
            lock (_gate)
            {
                _finished = true;
                _pending.Clear();
            }

            return ValueTask.CompletedTask;
        }

        /// <summary>
        /// Judges one update. The passes over its values (validation, bounds, transforms, the acceptance hash) read only
        /// the update and the round's fixed context, so they run outside the session's lock; the lock is taken twice, for
        /// a look at the sender's state before and for the decision after, which is made again from the state then (a
        /// copy of the same update may have raced this one to it).
        /// </summary>
        private RoundUpdateVerdict Judge(ModelUpdate update)
        {
            string sender = update.SenderId;
            bool finished;
            string? acceptedHash;
            string? why;
            lock (_gate)
            {
                finished = _finished;
                _accepted.TryGetValue(sender ?? string.Empty, out acceptedHash);
                _failed.TryGetValue(sender ?? string.Empty, out why);
            }

            if (finished)
            {
                return Late();
            }

            if (acceptedHash is not null && IsCopyOf(update, acceptedHash))
            {
                // The same update again (its receipt was lost): harmless, answered with the same receipt.
                return new(RoundUpdateOutcome.AlreadyAccepted);
            }

            if (why is not null)
            {
                return Left(why);
            }

            UpdateValidationResult check = context.Validator.CheckConcurrently(update);
            if (!check.IsAccepted)
            {
                bool ownOnlyUpdate = check.Reason is UpdateRejectionReason.LayoutMismatch or UpdateRejectionReason.NonFiniteValue
                    or UpdateRejectionReason.NonPositiveSampleCount or UpdateRejectionReason.UnsupportedKind;

                // A participant's update for this round was unusable: it counts as failed.
                return ownOnlyUpdate ? FailIfOwed(sender!, check.Message) : new(RoundUpdateOutcome.Refused, check.Message);
            }

            if (context.Bounds.Check(update, context.GlobalParameters, context.ReferenceDeltaNorm, out double deltaNorm) is { } outOfBounds)
            {
                // A hostile or broken update: it never touches the aggregate, and the sender's contribution is void.
                return FailIfOwed(sender!, $"update out of bounds: {outOfBounds}");
            }

            ModelUpdate folded = update;
            if (transforms.Length > 0)
            {
                // Transforms may keep state (a noise generator), so they see one update at a time, as they always did;
                // their lock is not the one the status handlers wait on.
                lock (_transformGate)
                {
                    folded = Transform(update);
                }
            }

            if (context.WeightOf?.Invoke(sender!) is double weight && weight < 1)
            {
                // Reputation's punishment: a device with a lower score weighs less in the aggregate.
                folded = folded with { SampleCount = Math.Max(1, (long)Math.Round(folded.SampleCount * Math.Max(weight, 0))) };
            }

            // The validator found the update's own values finite; only values the transforms produced need the check again.
            if (!ReferenceEquals(folded.Values, update.Values) && !folded.Values.AllFinite())
            {
                return FailIfOwed(sender!, "the coordinator's update transforms produced non-finite values");
            }

            string hash = AcceptanceHash(update);
            float[]? delta = context.RecordUpdates && context.RecordDeltas ? Delta(update) : null;
            Hierarchy.EdgeDeviceSummary? edge = Hierarchy.EdgeDeviceSummary.FromMetrics(update.Metrics);
            lock (_gate)
            {
                return Accept(update, folded, hash, deltaNorm, delta, edge);
            }
        }

        /// <summary>Under the lock: the decision on an update whose checks passed, made from the state now.</summary>
        private RoundUpdateVerdict Accept(ModelUpdate update, ModelUpdate folded, string hash, double deltaNorm, float[]? delta, Hierarchy.EdgeDeviceSummary? edge)
        {
            string sender = update.SenderId;
            if (_finished)
            {
                return Late();
            }

            if (_accepted.TryGetValue(sender, out string? other))
            {
                // Another copy from the same sender was accepted while this one was checked.
                return string.Equals(other, hash, StringComparison.Ordinal)
                    ? new(RoundUpdateOutcome.AlreadyAccepted)
                    : new(RoundUpdateOutcome.Refused, $"Sender '{sender}' already contributed to round {context.Round}.");
            }

            if (_failed.TryGetValue(sender, out string? why))
            {
                return Left(why);
            }

            if (context.FoldAtClose)
            {
                _pending.Add(folded);
            }
            else
            {
                // A strategy that keeps every update (and orders them itself) folds it now, so it can refuse one beyond its capacity.
                try
                {
                    context.Aggregation.Add(folded);
                }
                catch (AggregationCapacityExceededException ex)
                {
                    return new(RoundUpdateOutcome.Refused, ex.Message);
                }

                if (context.RecordFolded)
                {
                    _folded.Add(folded);
                }
            }

            // Checked above: record the sender without checking every value again.
            context.Validator.MarkAccepted(sender);
            _received.Add(sender);
            _accepted[sender] = hash;
            _norms.Add(deltaNorm);
            if (context.RecordUpdates)
            {
                // The acceptance hash is then the update's signing digest: the transparency log reuses it, so
                // recording costs no second pass over the parameters.
                _records.Add(new AcceptedUpdateRecord(sender, hash, update.SampleCount, delta));
            }

            _contributors.Add(sender);
            if (edge is not null)
            {
                _edges[sender] = edge;
            }

            _samples += update.SampleCount;
            if (update.Metrics.TryGetValue("loss", out double loss) && double.IsFinite(loss))
            {
                _lossSum += loss * update.SampleCount;
                _lossWeight += update.SampleCount;
            }

            return new(RoundUpdateOutcome.Accepted);
        }

        /// <summary>A re-sent copy of the sender's accepted update: same round, nonce and layout, and the same acceptance hash.</summary>
        private bool IsCopyOf(ModelUpdate update, string acceptedHash) =>
            update.Round == context.Round
            && string.Equals(update.Nonce, context.Nonce, StringComparison.Ordinal)
            && context.GlobalParameters.Layout.DescribeMismatch(update.Layout) is null
            && string.Equals(AcceptanceHash(update), acceptedHash, StringComparison.Ordinal);

        private RoundUpdateVerdict Late() => new(RoundUpdateOutcome.Refused, $"late update: round {context.Round} is closed");

        private RoundUpdateVerdict Left(string why) => new(RoundUpdateOutcome.Refused, $"the device already left round {context.Round} ({why})");

        /// <summary>An unusable update: a participant that still owed its contribution has failed the round with <paramref name="reason"/>.</summary>
        private RoundUpdateVerdict FailIfOwed(string sender, string reason)
        {
            lock (_gate)
            {
                if (!_finished && _selected.Contains(sender) && !_received.Contains(sender))
                {
                    _failed[sender] = reason;
                    return new(RoundUpdateOutcome.RefusedAndFailed, reason);
                }
            }

            return new(RoundUpdateOutcome.Refused, reason);
        }

        /// <summary>
        /// What tells a re-sent copy of an accepted update from a different one: a 128-bit xxHash over the layout and
        /// the values' bits, an order of magnitude cheaper than SHA-256 on the path that acknowledges updates. It is not
        /// collision resistant, and need not be: a device that crafts a colliding second update only gets the receipt
        /// of its first one, and the aggregate holds the first one either way.
        /// </summary>
        private static string Fingerprint(ParameterSet values)
        {
            var hash = new System.IO.Hashing.XxHash128();
            foreach (TensorSpec tensor in values.Layout.Tensors)
            {
                hash.Append(System.Text.Encoding.UTF8.GetBytes(tensor.Name));
                hash.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensor.Shape.ToArray().AsSpan()));
            }

            hash.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.Values));
            return Convert.ToHexStringLower(hash.GetCurrentHash());
        }

        /// <summary>The update's change from the round's global parameters.</summary>
        private float[] Delta(ModelUpdate update)
        {
            float[] delta = update.Values.Values.ToArray();
            if (update.Kind == UpdateKind.Parameters)
            {
                TensorPrimitives.Subtract(delta, context.GlobalParameters.Values, delta);
            }

            return delta;
        }

        /// <summary>Central clipping: the transforms see the update's delta from the round's global parameters.</summary>
        private ModelUpdate Transform(ModelUpdate update)
        {
            ParameterSet delta = update.Values.Clone();
            if (update.Kind == UpdateKind.Parameters)
            {
                TensorPrimitives.Subtract(delta.Values, context.GlobalParameters.Values, delta.Values);
            }

            var metrics = new Dictionary<string, double>(update.Metrics, StringComparer.Ordinal);
            var transformContext = new UpdateTransformContext { Round = update.Round, SenderId = update.SenderId, SampleCount = update.SampleCount, Metrics = metrics, GlobalParameters = context.GlobalParameters };
            foreach (IUpdateTransform transform in transforms)
            {
                transform.Apply(delta, transformContext);
            }

            return update with { Kind = UpdateKind.Delta, Values = delta, Metrics = metrics };
        }

        private void CheckSettled()
        {
            if (_received.Count + _failed.Count >= _selected.Count)
            {
                _settled.TrySetResult();
            }
        }
    }
}

/// <summary>The worker side of the plaintext round.</summary>
internal sealed class PlaintextWorkerRound : IWorkerRoundProtocol
{
    public static readonly PlaintextWorkerRound Instance = new();

    public string Name => "plaintext";

    public bool RequiresProtocolChannel => false;

    public bool SendsDelta => false;

    public IWorkerRoundSession Begin(WorkerRoundContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Session(context);
    }

    private sealed class Session(WorkerRoundContext context) : IWorkerRoundSession
    {
        public ValueTask StartAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask SubmitAsync(ModelUpdate update, CancellationToken cancellationToken = default) => context.SendUpdateAsync(update, cancellationToken);

        public void Abandon(string reason)
        {
        }

        public void Dispose()
        {
        }
    }
}
