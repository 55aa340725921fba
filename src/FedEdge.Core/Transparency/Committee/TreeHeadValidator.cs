using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Rounds;
using FedEdge.Security;

namespace FedEdge.Transparency;

/// <summary>
/// The built-in committee validator. It co-signs a tree head only when: the log's key signed the head; the head is
/// consistent (RFC 9162 consistency proof) with the last head this validator co-signed; every entry sent is in the
/// head (inclusion proofs); and, for a completed plaintext round, recomputing the aggregate from the round's updates
/// with the strategy the round record names gives the model hash the record names. The last co-signed head is kept
/// in <c>witness-state.json</c> in the state folder, so a restarted validator keeps its promise. Requests are
/// handled one at a time. Anything in a request can be hostile: a bad one is refused with a reason, never thrown.
/// </summary>
/// <remarks>
/// In a completed plaintext round every folded update must match a logged update entry's digest (with the sample
/// count the device sent) and that entry's device signature must verify. In a completed secure-aggregation round the
/// round's <c>transcript</c> entry must hold: the threshold is at least <see cref="TreeHeadValidatorOptions.MinimumThreshold"/>,
/// the contributors are the round record's participants, on the roster, at least the threshold, each with a logged
/// update entry, every other roster member is refused in the round, and the unmasked sum sent hashes to the entry's
/// <c>sum</c> and recomputes the model. A stateful strategy's round record carries the hashes of its state before and
/// after; the validator checks the state it is sent against the first, recomputes from it and checks the second.
/// Limits: for rounds it missed while down it checks consistency and inclusion, not their aggregates; it cannot check
/// the reputation weighting (a folded sample count may only be lower than the one the device signed).
/// </remarks>
public sealed class TreeHeadValidator : ITreeHeadWitness, IDisposable
{
    /// <summary>The state file name in the state folder.</summary>
    public const string StateFile = "witness-state.json";

    private readonly ECDsa _signingKey;
    private readonly ECDsa _logKey;
    private readonly Func<string, IAggregationStrategy?> _strategies;
    private readonly string _statePath;
    private readonly TreeHeadValidatorOptions _options;
    private readonly CertificateValidator? _certificates;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _size;
    private byte[] _root = [];

    /// <summary>Creates a validator.</summary>
    /// <param name="id">Its name in the committee.</param>
    /// <param name="signingKey">Its ECDSA P-256 key (the caller keeps ownership).</param>
    /// <param name="logKeyPem">The transparency log's public key (PEM) that signs the heads.</param>
    /// <param name="stateDirectory">Where it keeps the last head it co-signed.</param>
    /// <param name="strategies">Creates a fresh strategy from the name a round record gives (e.g. <see cref="AggregationStrategies.Create"/> with the federation's settings); null for an unknown name.</param>
    /// <exception cref="InvalidDataException">The state file is unreadable.</exception>
    public TreeHeadValidator(string id, ECDsa signingKey, string logKeyPem, string stateDirectory, Func<string, IAggregationStrategy?> strategies)
        : this(id, signingKey, logKeyPem, stateDirectory, strategies, new TreeHeadValidatorOptions())
    {
    }

    /// <summary>Creates a validator with options (device certificates, the lowest secure-aggregation threshold it accepts).</summary>
    /// <param name="id">Its name in the committee.</param>
    /// <param name="signingKey">Its ECDSA P-256 key (the caller keeps ownership).</param>
    /// <param name="logKeyPem">The transparency log's public key (PEM) that signs the heads.</param>
    /// <param name="stateDirectory">Where it keeps the last head it co-signed.</param>
    /// <param name="strategies">Creates a fresh strategy from the name a round record gives; null for an unknown name.</param>
    /// <param name="options">What else it requires.</param>
    /// <exception cref="InvalidDataException">The state file is unreadable.</exception>
    public TreeHeadValidator(string id, ECDsa signingKey, string logKeyPem, string stateDirectory, Func<string, IAggregationStrategy?> strategies, TreeHeadValidatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MinimumThreshold < 2)
        {
            throw new ArgumentException($"TreeHeadValidatorOptions.MinimumThreshold must be at least 2, not {options.MinimumThreshold}.", nameof(options));
        }

        _options = options;
        _certificates = options.DeviceAuthority is null ? null : new CertificateValidator(options.DeviceAuthority);
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(logKeyPem);
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        ArgumentNullException.ThrowIfNull(strategies);
        if (signingKey.KeySize != 256)
        {
            throw new ArgumentException("A validator key must be ECDSA P-256.", nameof(signingKey));
        }

        Id = id;
        _signingKey = signingKey;
        _logKey = ECDsa.Create();
        _logKey.ImportFromPem(logKeyPem);
        _strategies = strategies;
        Directory.CreateDirectory(stateDirectory);
        _statePath = Path.Combine(Path.GetFullPath(stateDirectory), StateFile);
        LoadState();
    }

    /// <inheritdoc />
    public string Id { get; }

    /// <summary>The size of the last head this validator co-signed (0 when none).</summary>
    public long LastSignedSize => Volatile.Read(ref _size);

    /// <inheritdoc />
    public async ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string? problem = Check(request);
            if (problem is not null)
            {
                return WitnessVerdict.Refused(problem, _size);
            }

            CoSignature signature = CoSignature.Sign(Id, request.Head, _signingKey);
            SaveState(request.Head.Size, request.Head.RootHash.ToArray());
            return WitnessVerdict.Signed(signature);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _logKey.Dispose();
        _gate.Dispose();
    }

    private string? Check(CoSignRequest request)
    {
        SignedTreeHead head = request.Head ?? throw new ArgumentException("The request has no head.", nameof(request));
        if (!head.VerifySignature(_logKey))
        {
            return $"head of size {head.Size} is not signed by the log's key";
        }

        if (request.PreviousSize != _size)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the request starts at size {request.PreviousSize}, but the last head this validator co-signed has size {_size}");
        }

        if (head.Size < _size)
        {
            return string.Create(CultureInfo.InvariantCulture, $"inconsistent head: size {head.Size} is smaller than the co-signed size {_size}");
        }

        bool consistent = _size == 0 || (head.Size == _size
            ? head.RootHash.Span.SequenceEqual(_root)
            : MerkleTree.VerifyConsistency(_size, head.Size, _root, head.RootHash.Span, request.ConsistencyProof ?? []));
        if (!consistent)
        {
            return string.Create(CultureInfo.InvariantCulture, $"inconsistent head: size {head.Size} does not extend the co-signed head of size {_size} (the consistency proof fails)");
        }

        long count = head.Size - _size;
        if (request.Entries is null || request.InclusionProofs is null || request.Entries.Count != count || request.InclusionProofs.Count != count)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the request must carry the {count} entries from {_size} to {head.Size - 1} with one inclusion proof each");
        }

        LedgerEntry? record = null;
        LedgerEntry? transcript = null;
        var updates = new Dictionary<string, LedgerEntry>(StringComparer.Ordinal);
        var refused = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            long index = _size + i;
            ReadOnlyMemory<byte> leaf = request.Entries[i];
            if (!MerkleTree.VerifyInclusion(index, head.Size, MerkleTree.LeafHash(leaf.Span), request.InclusionProofs[i] ?? [], head.RootHash.Span))
            {
                return string.Create(CultureInfo.InvariantCulture, $"entry {index} is not in the head (the inclusion proof fails)");
            }

            try
            {
                (long written, _, LedgerEntry entry) = LedgerEntry.Parse(leaf.Span);
                if (written != index)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"entry {index} says it is entry {written}");
                }

                if (entry.Round == request.Round)
                {
                    switch (entry.Kind)
                    {
                        case LedgerEntryKind.Round:
                            record = entry;
                            break;
                        case LedgerEntryKind.Transcript:
                            transcript = entry;
                            break;
                        case LedgerEntryKind.Update when entry.DeviceId is not null:
                            updates[entry.DeviceId] = entry;
                            break;
                        case LedgerEntryKind.Refusal when entry.DeviceId is not null:
                            refused.Add(entry.DeviceId);
                            break;
                    }
                }
            }
            catch (InvalidDataException ex)
            {
                return string.Create(CultureInfo.InvariantCulture, $"entry {index} is unreadable: {ex.Message}");
            }
        }

        if (record is null)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the entries hold no round record for round {request.Round}");
        }

        if (record.Completed != true)
        {
            return null;
        }

        if (transcript is not null || !request.SecureSum.IsEmpty)
        {
            return CheckTranscript(request, record, transcript, updates, refused);
        }

        return request.Updates is not null
            ? Recompute(request, record, updates)
            : string.Create(CultureInfo.InvariantCulture, $"missing-evidence: completed round {request.Round} came with neither its updates nor a secure-aggregation transcript and sum");
    }

    private string? Recompute(CoSignRequest request, LedgerEntry record, Dictionary<string, LedgerEntry> logged)
    {
        IReadOnlyList<ModelUpdate> updates = request.Updates!;
        if (request.PreviousGlobal is null)
        {
            return "a plaintext round must carry the global parameters it started from";
        }

        var participants = new HashSet<string>(record.Participants ?? [], StringComparer.Ordinal);
        if (updates.Count != participants.Count || updates.Any(u => u is null || !participants.Contains(u.SenderId) || u.Round != request.Round))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the updates sent are not the round record's {participants.Count} participants of round {request.Round}");
        }

        foreach (ModelUpdate update in updates)
        {
            if (LinkProblem(update, logged) is { } problem)
            {
                return problem;
            }
        }

        return Aggregate(request, record, updates);
    }

    /// <summary>The folded update is the one the device sent and signed: its digest (with the sample count the device claimed) is the logged one, and the entry's signature verifies.</summary>
    private string? LinkProblem(ModelUpdate update, Dictionary<string, LedgerEntry> logged)
    {
        if (!logged.TryGetValue(update.SenderId, out LedgerEntry? entry) || entry.SampleCount is not long sent)
        {
            return $"update-not-logged: the update of {update.SenderId} has no update entry with its sample count in round {update.Round}";
        }

        if (update.SampleCount > sent)
        {
            return string.Create(CultureInfo.InvariantCulture, $"update-not-logged: the update of {update.SenderId} weighs {update.SampleCount} samples, more than the {sent} its device sent");
        }

        string digest = Convert.ToHexStringLower(UpdateSigning.Digest(update with { SampleCount = sent }));
        if (!string.Equals(digest, entry.Digest, StringComparison.Ordinal))
        {
            return $"update-not-logged: the update of {update.SenderId} hashes to {digest}, its update entry says {entry.Digest}";
        }

        return SignatureProblem(entry);
    }

    private string? SignatureProblem(LedgerEntry entry)
    {
        if (entry.Signature.IsEmpty)
        {
            return _options.RequireDeviceSignatures || _certificates is not null
                ? $"unsigned-update: the update entry of {entry.DeviceId} in round {entry.Round} carries no device signature"
                : null;
        }

        long certificates = 0;
        return LedgerVerifier.DeviceSignatureProblem(entry, _certificates, ref certificates) is { } bad
            ? $"forged-device-signature: the update entry of {entry.DeviceId} in round {entry.Round}: {bad}"
            : null;
    }

    private string? CheckTranscript(CoSignRequest request, LedgerEntry record, LedgerEntry? transcript, Dictionary<string, LedgerEntry> logged, HashSet<string> refused)
    {
        if (transcript is null)
        {
            return string.Create(CultureInfo.InvariantCulture, $"transcript-missing: secure-aggregation round {request.Round} has no transcript entry");
        }

        if (request.SecureSum.IsEmpty || request.PreviousGlobal is null)
        {
            return string.Create(CultureInfo.InvariantCulture, $"transcript-missing: secure-aggregation round {request.Round} came without its unmasked sum or the global parameters it started from");
        }

        string sumHash = SecureAggregationTranscript.SumHash(request.SecureSum.Span);
        if (!string.Equals(sumHash, transcript.SumHash, StringComparison.Ordinal))
        {
            return $"sum-mismatch: the unmasked sum sent hashes to {sumHash}, the transcript says {transcript.SumHash}";
        }

        int threshold = transcript.Threshold ?? 0;
        if (threshold < _options.MinimumThreshold)
        {
            return string.Create(CultureInfo.InvariantCulture, $"threshold-too-low: the transcript's threshold {threshold} is below the {_options.MinimumThreshold} this validator requires");
        }

        IReadOnlyList<string> roster = transcript.Roster ?? [];
        IReadOnlyList<string> contributors = transcript.Participants ?? [];
        IReadOnlyList<string> dropouts = transcript.Dropouts ?? [];
        var rosterSet = new HashSet<string>(roster, StringComparer.Ordinal);
        var contributorSet = new HashSet<string>(contributors, StringComparer.Ordinal);
        var participants = new HashSet<string>(record.Participants ?? [], StringComparer.Ordinal);
        if (rosterSet.Count != roster.Count || contributorSet.Count != contributors.Count)
        {
            return "roster-mismatch: the transcript's roster or contributors repeat a device";
        }

        if (!contributorSet.SetEquals(participants))
        {
            return "roster-mismatch: the transcript's contributors are not the round record's participants";
        }

        if (contributors.FirstOrDefault(d => !rosterSet.Contains(d)) is { } outsider)
        {
            return $"roster-mismatch: contributor {outsider} is not on the roster";
        }

        if (dropouts.FirstOrDefault(d => !rosterSet.Contains(d) || contributorSet.Contains(d)) is { } dropout)
        {
            return $"roster-mismatch: recovered dropout {dropout} is not on the roster, or also a contributor";
        }

        if (contributors.Count < threshold)
        {
            return string.Create(CultureInfo.InvariantCulture, $"roster-mismatch: {contributors.Count} contributors are fewer than the threshold {threshold}");
        }

        if (roster.FirstOrDefault(d => !contributorSet.Contains(d) && !refused.Contains(d)) is { } unaccounted)
        {
            return $"roster-mismatch: roster member {unaccounted} neither contributed nor is refused in the round";
        }

        foreach (string device in contributors)
        {
            if (!logged.TryGetValue(device, out LedgerEntry? entry))
            {
                return $"update-not-logged: contributor {device} has no update entry in round {request.Round}";
            }

            if (SignatureProblem(entry) is { } problem)
            {
                return problem;
            }
        }

        ModelUpdate? mean = SecureAggregationTranscript.MeanUpdate(request.PreviousGlobal, request.SecureSum.Span, request.Round, string.Empty);
        return mean is null
            ? string.Create(CultureInfo.InvariantCulture, $"sum-mismatch: the unmasked sum holds {request.SecureSum.Length} values or an unusable weight for a model of {request.PreviousGlobal.Length} parameters")
            : Aggregate(request, record, [mean]);
    }

    /// <summary>Folds <paramref name="updates"/> with a fresh strategy (restored to the state the record names, for a stateful one) and checks the record's model hash and state after.</summary>
    private string? Aggregate(CoSignRequest request, LedgerEntry record, IReadOnlyList<ModelUpdate> updates)
    {
        IAggregationStrategy? strategy = record.Strategy is null ? null : _strategies(record.Strategy);
        if (strategy is null)
        {
            return $"the round record names strategy '{record.Strategy}', which this validator cannot recompute";
        }

        if (record.Mixing is not null && RoundEntries.MixingOf(strategy) is { } mine && !string.Equals(mine, record.Mixing, StringComparison.Ordinal))
        {
            return $"mixing-mismatch: the round record says {record.Strategy} ran with mixing {record.Mixing}, this validator recomputes it with mixing {mine}; give the validator the coordinator's mixing (--mixing, AggregationOptions.PreAggregation)";
        }

        string hash;
        try
        {
            if (record.StateBefore is not null)
            {
                if (request.PreviousStrategyState is not { } state)
                {
                    return $"state-mismatch: round {request.Round} of {record.Strategy} came without the strategy state its record names ({record.StateBefore})";
                }

                string sent = StrategyStateHash.Compute(state);
                if (!string.Equals(sent, record.StateBefore, StringComparison.Ordinal))
                {
                    return $"state-mismatch: the strategy state sent hashes to {sent}, the round record says {record.StateBefore}";
                }

                strategy.ImportState(state);
            }
            else if (strategy.ExportState() is not null)
            {
                return $"state-mismatch: {record.Strategy} keeps server-optimiser state, but the round record names no state hashes";
            }

            // The coordinator lowered f only as far as the round's bound needed (never below f minus the devices it had
            // quarantined); the result depends on n alone, so the validator recomputes it without a floor.
            using IAggregationRound round = strategy.BeginRound(request.PreviousGlobal!, new AggregationRoundOptions { Round = request.Round, ExpectedParticipants = updates.Count, QuarantinedDevices = int.MaxValue });
            foreach (ModelUpdate update in updates)
            {
                round.Add(update);
            }

            hash = round.Complete().Parameters.ComputeHash();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or InvalidDataException)
        {
            return $"the round's updates could not be aggregated with {record.Strategy}: {ex.Message}";
        }

        if (!string.Equals(hash, record.ModelHash, StringComparison.Ordinal))
        {
            return $"wrong model hash: recomputing round {request.Round} with {record.Strategy} gives {hash}, the round record says {record.ModelHash}";
        }

        if (record.StateAfter is not null && strategy.ExportState() is { } after && StrategyStateHash.Compute(after) is var afterHash && !string.Equals(afterHash, record.StateAfter, StringComparison.Ordinal))
        {
            return $"state-mismatch: recomputing round {request.Round} leaves the strategy state at {afterHash}, the round record says {record.StateAfter}";
        }

        return null;
    }

    private void LoadState()
    {
        if (!File.Exists(_statePath))
        {
            return;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(_statePath));
            long size = document.RootElement.GetProperty("size").GetInt64();
            byte[] root = Convert.FromHexString(document.RootElement.GetProperty("root").GetString() ?? string.Empty);
            if (size < 0 || root.Length != MerkleTree.HashSize)
            {
                throw new InvalidDataException("size or root out of range");
            }

            _size = size;
            _root = root;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"The validator state '{_statePath}' is unreadable ({ex.Message}); restore it from a backup (starting afresh forgets the validator's promise).", ex);
        }
    }

    private void SaveState(long size, byte[] root)
    {
        string temporary = _statePath + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new Dictionary<string, object> { ["size"] = size, ["root"] = Convert.ToHexStringLower(root) }));
        File.Move(temporary, _statePath, overwrite: true);
        _root = root;
        Volatile.Write(ref _size, size);
    }
}

/// <summary>What a <see cref="TreeHeadValidator"/> requires beyond consistency, inclusion and recomputation.</summary>
public sealed class TreeHeadValidatorOptions
{
    /// <summary>The federation CA: each signed update entry's certificate must chain to it and name its device (and every update must then be signed). Null checks signatures against the entries' own certificates only.</summary>
    public X509Certificate2? DeviceAuthority { get; init; }

    /// <summary>When true, every update entry of a recomputed round must carry a device signature.</summary>
    public bool RequireDeviceSignatures { get; init; }

    /// <summary>The lowest secure-aggregation threshold the validator accepts in a transcript (at least 2; default 2).</summary>
    public int MinimumThreshold { get; init; } = 2;
}
