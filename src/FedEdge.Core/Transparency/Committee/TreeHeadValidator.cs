using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using FedEdge.Aggregation;

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
/// Limits: in a secure-aggregation round (no individual updates) the validator checks consistency and inclusion only,
/// not the protocol transcript; it recomputes only stateless strategies (a server optimiser's state is not sent); for
/// rounds it missed while down it checks consistency and inclusion, not their aggregates.
/// </remarks>
public sealed class TreeHeadValidator : ITreeHeadWitness, IDisposable
{
    /// <summary>The state file name in the state folder.</summary>
    public const string StateFile = "witness-state.json";

    private readonly ECDsa _signingKey;
    private readonly ECDsa _logKey;
    private readonly Func<string, IAggregationStrategy?> _strategies;
    private readonly string _statePath;
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
    {
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

                if (entry.Kind == LedgerEntryKind.Round && entry.Round == request.Round)
                {
                    record = entry;
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

        return record.Completed == true && request.Updates is not null ? Recompute(request, record) : null;
    }

    private string? Recompute(CoSignRequest request, LedgerEntry record)
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

        IAggregationStrategy? strategy = record.Strategy is null ? null : _strategies(record.Strategy);
        if (strategy is null)
        {
            return $"the round record names strategy '{record.Strategy}', which this validator cannot recompute";
        }

        string hash;
        try
        {
            using IAggregationRound round = strategy.BeginRound(request.PreviousGlobal, new AggregationRoundOptions { Round = request.Round, ExpectedParticipants = updates.Count });
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

        return string.Equals(hash, record.ModelHash, StringComparison.Ordinal)
            ? null
            : $"wrong model hash: recomputing round {request.Round} with {record.Strategy} gives {hash}, the round record says {record.ModelHash}";
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
