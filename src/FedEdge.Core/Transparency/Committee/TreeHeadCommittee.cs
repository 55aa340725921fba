using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedEdge.Transparency;

/// <summary>One committee member: the witness to ask and the public key (PEM) its co-signatures must verify with.</summary>
/// <param name="Witness">The witness.</param>
/// <param name="PublicKeyPem">Its ECDSA P-256 public key or certificate, PEM.</param>
public sealed record CommitteeMember(ITreeHeadWitness Witness, string PublicKeyPem);

/// <summary>Settings of the committee.</summary>
public sealed class CommitteeOptions
{
    /// <summary>How long the coordinator waits for the witnesses of one head (all are asked in parallel). Default 10 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Once 2f + 1 valid co-signatures are in, how much longer the coordinator waits for the other witnesses before it
    /// cancels them (never past <see cref="Timeout"/>). Default 250 ms; zero returns at the quorum.
    /// </summary>
    public TimeSpan QuorumGrace { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is not positive, or the grace is negative.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero, nameof(Timeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(QuorumGrace, TimeSpan.Zero, nameof(QuorumGrace));
    }
}

/// <summary>What one witness said about a head.</summary>
/// <param name="Witness">The witness's name.</param>
/// <param name="Signed">True when it returned a co-signature that verifies with its key.</param>
/// <param name="Problem">Why there is no valid co-signature (refused, down, timed out, invalid signature), or null.</param>
public sealed record WitnessReport(string Witness, bool Signed, string? Problem);

/// <summary>The committee's answer for one head.</summary>
public sealed record CommitteeResult
{
    /// <summary>The co-signatures that verified, in committee order.</summary>
    public required IReadOnlyList<CoSignature> CoSignatures { get; init; }

    /// <summary>Each witness's answer, in committee order.</summary>
    public required IReadOnlyList<WitnessReport> Witnesses { get; init; }

    /// <summary>The co-signatures needed (2f + 1).</summary>
    public required int Quorum { get; init; }

    /// <summary>True when <see cref="CoSignatures"/> reach <see cref="Quorum"/>.</summary>
    public bool HasQuorum => CoSignatures.Count >= Quorum;

    /// <summary>Why the quorum failed, in one sentence naming each witness that did not co-sign, or null.</summary>
    public string? Describe() => HasQuorum
        ? null
        : string.Create(CultureInfo.InvariantCulture, $"committee quorum not reached: {CoSignatures.Count} valid co-signatures of the {Quorum} needed ({string.Join("; ", Witnesses.Where(w => !w.Signed).Select(w => w.Witness + ": " + w.Problem))})");
}

/// <summary>
/// The committee of 3f + 1 witnesses that co-sign the transparency log's heads (MicroFL's committee). The coordinator
/// asks every witness in parallel, with <see cref="CommitteeOptions.Timeout"/>, stops waiting shortly after 2f + 1
/// co-signatures are in (<see cref="CommitteeOptions.QuorumGrace"/>), and publishes a round's model only
/// when 2f + 1 co-signatures verify with the members' configured keys. A witness that is down, slow, refuses or
/// answers with an invalid signature is reported and counted out; it cannot stall the round while a quorum remains.
/// </summary>
public sealed class TreeHeadCommittee
{
    private readonly CommitteeMember[] _members;
    private readonly CommitteeOptions _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, long> _lastSigned = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Creates the committee.</summary>
    /// <exception cref="ArgumentException">The members are not 3f + 1 for some f ≥ 0, their names repeat, or a key is unreadable.</exception>
    public TreeHeadCommittee(IEnumerable<CommitteeMember> members, CommitteeOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        _members = [.. members];
        _options = options ?? new CommitteeOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        if (_members.Length == 0 || (_members.Length - 1) % 3 != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A committee has 3f + 1 members (1, 4, 7, ...); {_members.Length} were given."), nameof(members));
        }

        if (_members.Select(m => m.Witness.Id).Distinct(StringComparer.Ordinal).Count() != _members.Length)
        {
            throw new ArgumentException("The committee members' names must be distinct.", nameof(members));
        }

        foreach (CommitteeMember member in _members)
        {
            using ECDsa _ = ImportKey(member.PublicKeyPem, member.Witness.Id);
        }
    }

    /// <summary>The members, in order.</summary>
    public IReadOnlyList<CommitteeMember> Members => _members;

    /// <summary>f: the faulty witnesses tolerated.</summary>
    public int FaultTolerance => (_members.Length - 1) / 3;

    /// <summary>2f + 1: the co-signatures a head needs.</summary>
    public int Quorum => (2 * FaultTolerance) + 1;

    /// <summary>Reads a member's public key from a PEM public key or certificate.</summary>
    /// <exception cref="ArgumentException">The PEM holds no ECDSA P-256 key.</exception>
    public static ECDsa ImportKey(string pem, string name)
    {
        ArgumentNullException.ThrowIfNull(pem);
        try
        {
            if (pem.Contains("BEGIN CERTIFICATE", StringComparison.Ordinal))
            {
                using var certificate = X509Certificate2.CreateFromPem(pem);
                return certificate.GetECDsaPublicKey() ?? throw new ArgumentException($"The certificate of committee member '{name}' has no ECDSA key.");
            }

            var key = ECDsa.Create();
            key.ImportFromPem(pem);
            return key;
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"The key of committee member '{name}' is unreadable: {ex.Message}", ex);
        }
    }

    /// <summary>Asks every witness to co-sign <paramref name="head"/>, the head after round <paramref name="round"/>'s entries in <paramref name="log"/>.</summary>
    /// <param name="log">The log that signed the head (for entries and proofs).</param>
    /// <param name="head">The new head.</param>
    /// <param name="previousSize">The size of the log's head before the round (where a witness not heard from yet is assumed to stand).</param>
    /// <param name="round">The round.</param>
    /// <param name="previousGlobal">The global parameters the round started from (plaintext rounds).</param>
    /// <param name="updates">The folded updates, in order (plaintext rounds), or null.</param>
    /// <param name="cancellationToken">Cancels the whole collection.</param>
    public ValueTask<CommitteeResult> CoSignAsync(ITransparencyLog log, SignedTreeHead head, long previousSize, long round, ParameterSet? previousGlobal, IReadOnlyList<ModelUpdate>? updates, CancellationToken cancellationToken = default) =>
        CoSignAsync(log, head, previousSize, round, new RoundEvidence { PreviousGlobal = previousGlobal, Updates = updates }, cancellationToken);

    /// <summary>Asks every witness to co-sign <paramref name="head"/>, the head after round <paramref name="round"/>'s entries in <paramref name="log"/>, with what the witnesses need to recompute the round.</summary>
    /// <param name="log">The log that signed the head (for entries and proofs).</param>
    /// <param name="head">The new head.</param>
    /// <param name="previousSize">The size of the log's head before the round (where a witness not heard from yet is assumed to stand).</param>
    /// <param name="round">The round.</param>
    /// <param name="evidence">The previous model, the folded updates or the secure sum, and the strategy's state before the round.</param>
    /// <param name="cancellationToken">Cancels the whole collection.</param>
    public async ValueTask<CommitteeResult> CoSignAsync(ITransparencyLog log, SignedTreeHead head, long previousSize, long round, RoundEvidence evidence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(evidence);
        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Task<(CoSignature?, string?)>[] asks = [.. _members.Select(m => Task.Run(() => AskAsync(m, log, head, previousSize, round, evidence, linked.Token), CancellationToken.None))];

        // Collect answers as they come; at the quorum, give the rest a bounded grace, then cancel them: a hung witness
        // costs at most the grace, not the timeout.
        var pending = new HashSet<Task<(CoSignature?, string?)>>(asks);
        int valid = 0;
        bool quorumReached = false;
        Task? grace = null;
        using var graceCancel = new CancellationTokenSource();
        while (pending.Count > 0)
        {
            Task done = grace is null
                ? await Task.WhenAny(pending).ConfigureAwait(false)
                : await Task.WhenAny([.. pending.Cast<Task>(), grace]).ConfigureAwait(false);
            if (ReferenceEquals(done, grace))
            {
                break;
            }

            var ask = (Task<(CoSignature?, string?)>)done;
            pending.Remove(ask);
            if ((await ask.ConfigureAwait(false)).Item1 is not null)
            {
                valid++;
            }

            if (!quorumReached && valid >= Quorum && pending.Count > 0)
            {
                quorumReached = true;
                grace = _options.QuorumGrace > TimeSpan.Zero ? Task.Delay(_options.QuorumGrace, _time, graceCancel.Token) : Task.CompletedTask;
            }
        }

        await graceCancel.CancelAsync().ConfigureAwait(false);
        if (pending.Count > 0)
        {
            // The quorum is in: the witnesses still asking are not needed. Cancel them and let them unwind.
            await linked.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(pending).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var reports = new List<WitnessReport>();
        var signatures = new List<CoSignature>();
        for (int i = 0; i < _members.Length; i++)
        {
            (CoSignature? signature, string? problem) = pending.Contains(asks[i])
                ? (null, "not needed: the quorum was reached before it answered")
                : await asks[i].ConfigureAwait(false);
            reports.Add(new WitnessReport(_members[i].Witness.Id, signature is not null, problem));
            if (signature is not null)
            {
                signatures.Add(signature);
            }
        }

        return new CommitteeResult { CoSignatures = signatures, Witnesses = reports, Quorum = Quorum };
    }

    private async Task<(CoSignature?, string?)> AskAsync(CommitteeMember member, ITransparencyLog log, SignedTreeHead head, long previousSize, long round, RoundEvidence evidence, CancellationToken ct)
    {
        string id = member.Witness.Id;
        long from;
        lock (_gate)
        {
            from = _lastSigned.TryGetValue(id, out long known) ? known : previousSize;
        }

        try
        {
            for (int attempt = 0; ; attempt++)
            {
                WitnessVerdict verdict = await member.Witness.CoSignAsync(Request(log, head, from, round, evidence), ct).ConfigureAwait(false);
                if (verdict.CoSignature is { } signature)
                {
                    using ECDsa key = ImportKey(member.PublicKeyPem, id);
                    if (!string.Equals(signature.Witness, id, StringComparison.Ordinal) || !signature.Verify(head, key))
                    {
                        return (null, "its co-signature does not verify with its configured key");
                    }

                    lock (_gate)
                    {
                        _lastSigned[id] = head.Size;
                    }

                    return (signature, null);
                }

                // A witness that last co-signed elsewhere (it was down, or restarted) gets one more request from where it stands.
                if (attempt == 0 && verdict.LastSignedSize is long stands && stands != from && stands >= 0 && stands <= head.Size)
                {
                    from = stands;
                    continue;
                }

                return (null, "refused: " + (verdict.Refusal ?? "no reason given"));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"no answer within {_options.Timeout.TotalSeconds:0.###} s"));
        }
        catch (Exception ex)
        {
            // Whatever a witness does wrong (down, unreachable, broken), the round goes on without it.
            return (null, "down: " + ex.Message);
        }
    }

    private static CoSignRequest Request(ITransparencyLog log, SignedTreeHead head, long from, long round, RoundEvidence evidence)
    {
        IReadOnlyList<ReadOnlyMemory<byte>> entries = log.ReadEntries(from, head.Size);
        var proofs = new List<IReadOnlyList<byte[]>>(entries.Count);
        for (long i = from; i < head.Size; i++)
        {
            proofs.Add(log.InclusionProof(i, head.Size));
        }

        return new CoSignRequest
        {
            Round = round,
            Head = head,
            PreviousSize = from,
            ConsistencyProof = log.ConsistencyProof(from, head.Size),
            Entries = entries,
            InclusionProofs = proofs,
            PreviousGlobal = evidence.PreviousGlobal,
            Updates = evidence.Updates,
            PreviousStrategyState = evidence.PreviousStrategyState,
            SecureSum = evidence.SecureSum,
        };
    }
}
