using System.Diagnostics;
using System.Security.Cryptography;
using FedEdge.Privacy.SecretSharing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// The coordinator's side of one secure-aggregation round (Bonawitz et al., CCS 2017, in the
/// honest-but-curious server model, with the SecAgg+ sparse graph of Bell et al., CCS 2020).
/// </summary>
/// <remarks>
/// <para>Drive it phase by phase: feed each inbound message to the matching <c>Receive</c>
/// overload, wait with <see cref="WaitForPhaseAsync"/> until every expected client answered or the
/// phase deadline passed, then call the phase's <c>Complete…</c> method and send what it returns
/// (or, when it aborted, send its <see cref="SecAggAbort"/> to every client).</para>
/// <para>The server learns only the sum of the surviving clients' clipped inputs: every masked
/// input it holds carries a self mask known only through t shares, and pairwise masks that cancel
/// across the survivors. Masked inputs are folded into a running sum as they arrive (memory is one
/// vector, independent of the number of clients). Thread-safe: transports may call <c>Receive</c>
/// concurrently.</para>
/// </remarks>
public sealed class SecureAggregationServer
{
    private readonly object _gate = new();
    private readonly SecureAggregationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _round;
    private readonly string _nonce;
    private readonly int _vectorLength;
    private readonly HashSet<string> _expected;
    private readonly Dictionary<string, SecAggAdvertiseKeys> _advertised = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SecAggShareKeys> _shareKeys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _maskedReceived = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SecAggUnmaskResponse> _unmaskResponses = new(StringComparer.Ordinal);
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SecAggRoster? _roster;
    private Dictionary<string, int>? _indexOf;
    private SecAggGraph? _graph;
    private HashSet<string>? _survivors;
    private string[]? _dropped;
    private uint[]? _sum;

    /// <summary>Starts a round; the advertise-keys phase and its deadline begin now.</summary>
    /// <param name="options">Threshold, graph and deadlines; validated here.</param>
    /// <param name="round">The training round.</param>
    /// <param name="nonce">The round's nonce (bound into every derived key).</param>
    /// <param name="vectorLength">The number of values each client contributes.</param>
    /// <param name="expectedClients">The clients selected for the round.</param>
    /// <param name="timeProvider">The clock for deadlines (default: system).</param>
    /// <param name="logger">Where to log phase transitions.</param>
    public SecureAggregationServer(SecureAggregationOptions options, long round, string nonce, int vectorLength, IEnumerable<string> expectedClients, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(nonce);
        ArgumentOutOfRangeException.ThrowIfLessThan(vectorLength, 1);
        ArgumentNullException.ThrowIfNull(expectedClients);
        options.Validate();
        _options = options;
        _round = round;
        _nonce = nonce;
        _vectorLength = vectorLength;
        _expected = new HashSet<string>(expectedClients, StringComparer.Ordinal);
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        Phase = SecAggPhase.AdvertiseKeys;
        PhaseDeadline = _time.GetUtcNow() + options.AdvertiseKeysTimeout;
    }

    /// <summary>Tests fix the graph seed so that which neighbours survive is reproducible.</summary>
    internal byte[]? FixedGraphSeed { get; init; }

    /// <summary>The current phase.</summary>
    public SecAggPhase Phase { get; private set; }

    /// <summary>When the current phase stops accepting messages.</summary>
    public DateTimeOffset PhaseDeadline { get; private set; }

    /// <summary>The abort, once the round aborted.</summary>
    public SecAggAbort? Abort { get; private set; }

    /// <summary>The roster, once the advertise-keys phase closed.</summary>
    public SecAggRoster? Roster => _roster;

    /// <summary>True when every client expected in this phase answered, or the deadline passed.</summary>
    public bool IsPhaseReady
    {
        get
        {
            lock (_gate)
            {
                return Phase is SecAggPhase.Completed or SecAggPhase.Aborted || _time.GetUtcNow() >= PhaseDeadline || PendingCount() == 0;
            }
        }
    }

    /// <summary>Waits until <see cref="IsPhaseReady"/> (all answers in, or the deadline on the injected clock).</summary>
    public async Task WaitForPhaseAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task progress;
            TimeSpan remaining;
            lock (_gate)
            {
                if (IsPhaseReady)
                {
                    return;
                }

                progress = _progress.Task;
                remaining = PhaseDeadline - _time.GetUtcNow();
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task delay = Task.Delay(remaining, _time, cts.Token);
            Task first = await Task.WhenAny(progress, delay).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (first == delay && delay.IsFaulted)
            {
                await delay.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Phase 1: a client's public keys.</summary>
    public SecAggReceiveResult Receive(SecAggAdvertiseKeys message)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            if (Check(message, SecAggPhase.AdvertiseKeys) is { } refused)
            {
                return refused;
            }

            if (!_expected.Contains(message.SenderId))
            {
                return new(SecAggReceiveStatus.UnknownSender, $"'{message.SenderId}' was not selected for round {_round}.");
            }

            if (_advertised.ContainsKey(message.SenderId))
            {
                return new(SecAggReceiveStatus.Duplicate, "Keys were already advertised.");
            }

            try
            {
                SecAggCrypto.ImportPublicKey(message.EncryptionPublicKey).Dispose();
                SecAggCrypto.ImportPublicKey(message.MaskingPublicKey).Dispose();
            }
            catch (CryptographicException ex)
            {
                return new(SecAggReceiveStatus.Invalid, $"A public key is not a valid P-256 SubjectPublicKeyInfo: {ex.Message}");
            }

            if (message.EncryptionPublicKey.AsSpan().SequenceEqual(message.MaskingPublicKey) || _advertised.Values.Any(a => a.MaskingPublicKey.AsSpan().SequenceEqual(message.MaskingPublicKey)))
            {
                return new(SecAggReceiveStatus.Invalid, "Public keys must be fresh and distinct.");
            }

            _advertised.Add(message.SenderId, message);
            Signal();
            return new(SecAggReceiveStatus.Accepted);
        }
    }

    /// <summary>Closes phase 1: builds the roster to send to every client that advertised, or aborts below the minimum.</summary>
    public SecAggPhaseResult<SecAggRoster> CompleteAdvertiseKeys()
    {
        lock (_gate)
        {
            RequirePhase(SecAggPhase.AdvertiseKeys);
            int n = _advertised.Count;
            if (n < _options.EffectiveMinimumClients || n < _options.Threshold)
            {
                return SecAggPhaseResult<SecAggRoster>.Aborted(AbortRound(SecAggAbortReason.TooFewClients, $"{n} of {_expected.Count} clients advertised keys before the deadline; at least {Math.Max(_options.EffectiveMinimumClients, _options.Threshold)} are needed."));
            }

            int neighbours = _options.NeighbourCount >= n - 1 ? 0 : _options.NeighbourCount;
            if (neighbours > 0 && _options.Threshold > neighbours + 1)
            {
                return SecAggPhaseResult<SecAggRoster>.Aborted(AbortRound(SecAggAbortReason.TooFewClients, $"The threshold {_options.Threshold} exceeds the neighbourhood size {neighbours + 1}."));
            }

            SecAggParticipant[] participants = _advertised.Values
                .OrderBy(a => a.SenderId, StringComparer.Ordinal)
                .Select((a, i) => new SecAggParticipant { ClientId = a.SenderId, Index = i + 1, EncryptionPublicKey = a.EncryptionPublicKey, MaskingPublicKey = a.MaskingPublicKey })
                .ToArray();
            byte[] graphSeed = FixedGraphSeed ?? RandomNumberGenerator.GetBytes(32);
            _roster = new SecAggRoster
            {
                Round = _round,
                Nonce = _nonce,
                Participants = participants,
                Threshold = _options.Threshold,
                MinimumClients = _options.EffectiveMinimumClients,
                NeighbourCount = neighbours,
                VectorLength = _vectorLength,
                ClipRange = _options.ClipRange,
                Scale = FixedPointQuantizer.ComputeScale(n, _options.ClipRange),
                GraphSeed = graphSeed,
            };
            _indexOf = participants.ToDictionary(p => p.ClientId, p => p.Index, StringComparer.Ordinal);
            _graph = SecAggGraph.Create(n, neighbours, graphSeed);
            Advance(SecAggPhase.ShareKeys, _options.ShareKeysTimeout);
            Log.PhaseClosed(_logger, _round, SecAggPhase.AdvertiseKeys, n, _expected.Count);
            return SecAggPhaseResult<SecAggRoster>.Success(_roster);
        }
    }

    /// <summary>Phase 2: a client's encrypted shares, one per neighbour.</summary>
    public SecAggReceiveResult Receive(SecAggShareKeys message)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            if (Check(message, SecAggPhase.ShareKeys) is { } refused)
            {
                return refused;
            }

            if (!_indexOf!.TryGetValue(message.SenderId, out int sender))
            {
                return new(SecAggReceiveStatus.UnknownSender, $"'{message.SenderId}' is not on the roster.");
            }

            if (_shareKeys.ContainsKey(message.SenderId))
            {
                return new(SecAggReceiveStatus.Duplicate, "Shares were already sent.");
            }

            ReadOnlySpan<int> neighbours = _graph!.NeighboursOf(sender);
            if (message.Shares.Count != neighbours.Length)
            {
                return new(SecAggReceiveStatus.Invalid, $"{message.Shares.Count} encrypted shares but the client has {neighbours.Length} neighbours.");
            }

            var seen = new HashSet<int>();
            foreach (SecAggEncryptedShare share in message.Shares)
            {
                if (!string.Equals(share.SenderId, message.SenderId, StringComparison.Ordinal)
                    || !_indexOf.TryGetValue(share.RecipientId, out int recipient)
                    || !_graph.AreNeighbours(sender, recipient)
                    || !seen.Add(recipient)
                    || share.Ciphertext.Length < SecAggCrypto.NonceSize + SecAggCrypto.TagSize)
                {
                    return new(SecAggReceiveStatus.Invalid, $"An encrypted share from '{message.SenderId}' to '{share.RecipientId}' is misaddressed, repeated or too short.");
                }
            }

            _shareKeys.Add(message.SenderId, message);
            Signal();
            return new(SecAggReceiveStatus.Accepted);
        }
    }

    /// <summary>Closes phase 2: the shares to forward, one message per client that shared keys, or an abort below the minimum.</summary>
    public SecAggPhaseResult<IReadOnlyList<SecAggForwardedShares>> CompleteShareKeys()
    {
        lock (_gate)
        {
            RequirePhase(SecAggPhase.ShareKeys);
            if (_shareKeys.Count < _options.EffectiveMinimumClients)
            {
                return SecAggPhaseResult<IReadOnlyList<SecAggForwardedShares>>.Aborted(AbortRound(SecAggAbortReason.TooFewClients, $"{_shareKeys.Count} of {_roster!.Participants.Count} clients shared keys before the deadline; at least {_options.EffectiveMinimumClients} are needed."));
            }

            var inbox = _shareKeys.Keys.ToDictionary(k => k, _ => new List<SecAggEncryptedShare>(), StringComparer.Ordinal);
            foreach (SecAggShareKeys message in _shareKeys.Values)
            {
                foreach (SecAggEncryptedShare share in message.Shares)
                {
                    if (inbox.TryGetValue(share.RecipientId, out List<SecAggEncryptedShare>? list))
                    {
                        list.Add(share);
                    }
                }
            }

            SecAggForwardedShares[] forwarded = inbox
                .OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new SecAggForwardedShares { Round = _round, Nonce = _nonce, RecipientId = kv.Key, Shares = kv.Value.OrderBy(s => s.SenderId, StringComparer.Ordinal).ToArray() })
                .ToArray();
            _sum = new uint[_vectorLength];
            Advance(SecAggPhase.MaskedInput, _options.MaskedInputTimeout);
            Log.PhaseClosed(_logger, _round, SecAggPhase.ShareKeys, _shareKeys.Count, _roster!.Participants.Count);
            return SecAggPhaseResult<IReadOnlyList<SecAggForwardedShares>>.Success(forwarded);
        }
    }

    /// <summary>Phase 3: a client's masked input, folded into the running sum at once.</summary>
    public SecAggReceiveResult Receive(SecAggMaskedInput message)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            if (Check(message, SecAggPhase.MaskedInput) is { } refused)
            {
                return refused;
            }

            if (!_shareKeys.ContainsKey(message.SenderId))
            {
                return new(SecAggReceiveStatus.UnknownSender, $"'{message.SenderId}' did not share keys, so its masks could not be removed.");
            }

            if (!_maskedReceived.Add(message.SenderId))
            {
                return new(SecAggReceiveStatus.Duplicate, "A masked input was already received.");
            }

            if (message.MaskedValues.Length != _vectorLength)
            {
                _maskedReceived.Remove(message.SenderId);
                return new(SecAggReceiveStatus.Invalid, $"{message.MaskedValues.Length} values but the round aggregates {_vectorLength}.");
            }

            System.Numerics.Tensors.TensorPrimitives.Add(_sum!, message.MaskedValues, _sum);
            Signal();
            return new(SecAggReceiveStatus.Accepted);
        }
    }

    /// <summary>Closes phase 3: the unmask request to send to every survivor, or an abort below the minimum.</summary>
    public SecAggPhaseResult<SecAggUnmaskRequest> CompleteMaskedInput()
    {
        lock (_gate)
        {
            RequirePhase(SecAggPhase.MaskedInput);
            if (_maskedReceived.Count < _options.EffectiveMinimumClients)
            {
                return SecAggPhaseResult<SecAggUnmaskRequest>.Aborted(AbortRound(SecAggAbortReason.TooFewClients, $"{_maskedReceived.Count} of {_shareKeys.Count} clients sent masked input before the deadline; at least {_options.EffectiveMinimumClients} are needed."));
            }

            _survivors = new HashSet<string>(_maskedReceived, StringComparer.Ordinal);
            _dropped = _shareKeys.Keys.Where(k => !_survivors.Contains(k)).Order(StringComparer.Ordinal).ToArray();
            var request = new SecAggUnmaskRequest
            {
                Round = _round,
                Nonce = _nonce,
                Survivors = _survivors.Order(StringComparer.Ordinal).ToArray(),
                Dropped = _dropped,
            };
            Advance(SecAggPhase.Unmasking, _options.UnmaskingTimeout);
            Log.PhaseClosed(_logger, _round, SecAggPhase.MaskedInput, _survivors.Count, _shareKeys.Count);
            return SecAggPhaseResult<SecAggUnmaskRequest>.Success(request);
        }
    }

    /// <summary>Phase 4: a survivor's revealed shares.</summary>
    public SecAggReceiveResult Receive(SecAggUnmaskResponse message)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            if (Check(message, SecAggPhase.Unmasking) is { } refused)
            {
                return refused;
            }

            if (!_survivors!.Contains(message.SenderId))
            {
                return new(SecAggReceiveStatus.UnknownSender, $"'{message.SenderId}' is not a survivor of this round.");
            }

            if (_unmaskResponses.ContainsKey(message.SenderId))
            {
                return new(SecAggReceiveStatus.Duplicate, "Shares were already revealed.");
            }

            int holder = _indexOf![message.SenderId];
            var droppedSet = new HashSet<string>(_dropped!, StringComparer.Ordinal);
            var seen = new HashSet<(string, SecAggSecretKind)>();
            foreach (SecAggRevealedShare share in message.Shares)
            {
                bool kindMatches = share.Kind == SecAggSecretKind.SelfMaskSeed ? _survivors.Contains(share.OwnerId) : droppedSet.Contains(share.OwnerId);
                if (!kindMatches
                    || share.X != holder
                    || !_indexOf.TryGetValue(share.OwnerId, out int owner)
                    || (owner != holder && !_graph!.AreNeighbours(owner, holder))
                    || !seen.Add((share.OwnerId, share.Kind)))
                {
                    return new(SecAggReceiveStatus.Invalid, $"A revealed share of '{share.OwnerId}' ({share.Kind}) is not one this holder may reveal.");
                }
            }

            _unmaskResponses.Add(message.SenderId, message);
            Signal();
            return new(SecAggReceiveStatus.Accepted);
        }
    }

    /// <summary>Closes phase 4: reconstructs the self-mask seeds of the survivors and the masking keys of the dropped, removes every mask and returns the sum, or aborts.</summary>
    public SecAggPhaseResult<SecAggResult> CompleteUnmasking()
    {
        lock (_gate)
        {
            RequirePhase(SecAggPhase.Unmasking);
            using Activity? activity = PrivacyTelemetry.ActivitySource.StartActivity("secagg.unmask");
            activity?.SetTag("fededge.round", _round);
            HashSet<string> survivors = _survivors!;
            var start = _time.GetTimestamp();
            if (_unmaskResponses.Count < _options.EffectiveMinimumClients)
            {
                return SecAggPhaseResult<SecAggResult>.Aborted(AbortRound(SecAggAbortReason.TooFewClients, $"{_unmaskResponses.Count} of {_survivors!.Count} survivors revealed shares before the deadline; at least {_options.EffectiveMinimumClients} are needed."));
            }

            var shares = new Dictionary<(string Owner, SecAggSecretKind Kind), List<ShamirShare>>();
            foreach (SecAggUnmaskResponse response in _unmaskResponses.Values)
            {
                foreach (SecAggRevealedShare share in response.Shares)
                {
                    if (!shares.TryGetValue((share.OwnerId, share.Kind), out List<ShamirShare>? list))
                    {
                        list = [];
                        shares.Add((share.OwnerId, share.Kind), list);
                    }

                    list.Add(new ShamirShare(share.X, share.Values));
                }
            }

            // Every survivor's self-mask seed, and the masking key of every dropped client that has a surviving neighbour.
            var seeds = new List<(byte[] Seed, bool Subtract)>();
            try
            {
                foreach (string survivor in _survivors!.Order(StringComparer.Ordinal))
                {
                    byte[] seed = Reconstruct(shares, survivor, SecAggSecretKind.SelfMaskSeed);
                    seeds.Add((seed, true));
                }

                foreach (string dropped in _dropped!)
                {
                    int v = _indexOf![dropped];
                    int[] survivingNeighbours = _graph!.NeighboursOf(v).ToArray().Where(u => survivors.Contains(_roster!.Participants[u - 1].ClientId)).ToArray();
                    if (survivingNeighbours.Length == 0)
                    {
                        continue;
                    }

                    byte[] d = Reconstruct(shares, dropped, SecAggSecretKind.MaskingKey);
                    using ECDiffieHellman key = SecAggCrypto.RebuildPrivateKey(d, _roster!.Participants[v - 1].MaskingPublicKey);
                    CryptographicOperations.ZeroMemory(d);
                    foreach (int u in survivingNeighbours)
                    {
                        using ECDiffieHellman peer = SecAggCrypto.ImportPublicKey(_roster.Participants[u - 1].MaskingPublicKey);
                        byte[] pairSeed = SecAggCrypto.DeriveKey(key, peer, "mask", _round, _nonce, u, v);

                        // Survivor u added +PRG when u < v and −PRG when u > v; undo that.
                        seeds.Add((pairSeed, u < v));
                    }
                }
            }
            catch (SecureAggregationException ex)
            {
                return SecAggPhaseResult<SecAggResult>.Aborted(AbortRound(ex.Reason, ex.Message));
            }
            catch (CryptographicException ex)
            {
                return SecAggPhaseResult<SecAggResult>.Aborted(AbortRound(SecAggAbortReason.ProtocolViolation, $"A reconstructed masking key is not a valid P-256 key ({ex.Message}); shares were corrupted."));
            }

            uint[] sum = _sum!;
            MaskExpander.Apply(sum, seeds, Environment.ProcessorCount);
            foreach ((byte[] seed, _) in seeds)
            {
                CryptographicOperations.ZeroMemory(seed);
            }

            float[] decoded = new float[_vectorLength];
            FixedPointQuantizer.Dequantize(sum, _roster!.Scale, decoded);
            var result = new SecAggResult
            {
                Sum = decoded,
                Contributors = survivors.Order(StringComparer.Ordinal).ToArray(),
                RecoveredDropouts = _dropped!,
                QuantizationErrorBound = FixedPointQuantizer.ErrorBound(survivors.Count, _roster.Scale),
            };
            Phase = SecAggPhase.Completed;
            PrivacyTelemetry.RoundsCompleted.Add(1);
            PrivacyTelemetry.UnmaskDuration.Record(_time.GetElapsedTime(start).TotalSeconds);
            Log.RoundCompleted(_logger, _round, survivors.Count, _dropped!.Length);
            Signal();
            return SecAggPhaseResult<SecAggResult>.Success(result);
        }
    }

    /// <summary>Aborts the round now (e.g. the host is shutting down); returns the message to broadcast.</summary>
    public SecAggAbort Cancel(string detail)
    {
        lock (_gate)
        {
            if (Phase == SecAggPhase.Completed)
            {
                throw new InvalidOperationException("The round already completed; there is nothing to cancel.");
            }

            return Abort ?? AbortRound(SecAggAbortReason.Cancelled, detail);
        }
    }

    private byte[] Reconstruct(Dictionary<(string Owner, SecAggSecretKind Kind), List<ShamirShare>> shares, string owner, SecAggSecretKind kind)
    {
        if (!shares.TryGetValue((owner, kind), out List<ShamirShare>? list) || list.Count < _options.Threshold)
        {
            throw new SecureAggregationException(SecAggPhase.Unmasking, SecAggAbortReason.InsufficientShares, $"Only {list?.Count ?? 0} shares of the {kind} of '{owner}' arrived; {_options.Threshold} are needed.");
        }

        try
        {
            return ShamirSecretSharing.CombineBytes(list, _options.Threshold, 32);
        }
        catch (SecretSharingException ex)
        {
            throw new SecureAggregationException(SecAggPhase.Unmasking, SecAggAbortReason.ProtocolViolation, $"The shares of the {kind} of '{owner}' are unusable: {ex.Message}", ex);
        }
    }

    private SecAggReceiveResult? Check(SecAggMessage message, SecAggPhase phase)
    {
        if (message.Round != _round || !string.Equals(message.Nonce, _nonce, StringComparison.Ordinal))
        {
            return new(SecAggReceiveStatus.WrongRound, $"The message is for round {message.Round}, this is round {_round} (or the nonce differs).");
        }

        if (Phase != phase)
        {
            return new(SecAggReceiveStatus.WrongPhase, $"The round is in phase {Phase}, not {phase}.");
        }

        if (_time.GetUtcNow() >= PhaseDeadline)
        {
            return new(SecAggReceiveStatus.Late, $"The {phase} deadline {PhaseDeadline:O} has passed.");
        }

        return null;
    }

    private int PendingCount() => Phase switch
    {
        SecAggPhase.AdvertiseKeys => _expected.Count - _advertised.Count,
        SecAggPhase.ShareKeys => _roster!.Participants.Count - _shareKeys.Count,
        SecAggPhase.MaskedInput => _shareKeys.Count - _maskedReceived.Count,
        SecAggPhase.Unmasking => _survivors!.Count - _unmaskResponses.Count,
        _ => 0,
    };

    private void RequirePhase(SecAggPhase phase)
    {
        if (Phase != phase)
        {
            throw new InvalidOperationException($"The round is in phase {Phase}; {phase} cannot be completed now.");
        }
    }

    private void Advance(SecAggPhase next, TimeSpan timeout)
    {
        Phase = next;
        PhaseDeadline = _time.GetUtcNow() + timeout;
        Signal();
    }

    private SecAggAbort AbortRound(SecAggAbortReason reason, string detail)
    {
        var abort = new SecAggAbort { Round = _round, Nonce = _nonce, Phase = Phase, Reason = reason, Detail = detail };
        Log.RoundAborted(_logger, _round, Phase, reason, detail);
        PrivacyTelemetry.RoundsAborted.Add(1);
        Abort = abort;
        Phase = SecAggPhase.Aborted;
        if (_sum is not null)
        {
            Array.Clear(_sum);
        }

        Signal();
        return abort;
    }

    private void Signal()
    {
        TaskCompletionSource previous = _progress;
        _progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }
}
