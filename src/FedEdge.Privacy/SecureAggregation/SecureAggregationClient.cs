using System.Buffers.Binary;
using System.Security.Cryptography;
using FedEdge.Privacy.SecretSharing;

namespace FedEdge.Privacy.SecureAggregation;

/// <summary>
/// A worker's side of one secure-aggregation round. Call the phase methods in order as the
/// coordinator's messages arrive: <see cref="AdvertiseKeys"/>, <see cref="ShareKeys"/> (on the
/// roster), <see cref="MaskInput"/> (on the forwarded shares, with the update), <see cref="Unmask"/>
/// (on the unmask request); each returns the message to send back. On a <see cref="SecAggAbort"/>
/// call <see cref="OnAbort"/>. A message that breaks the protocol raises a
/// <see cref="SecureAggregationException"/> and the client refuses to continue.
/// </summary>
/// <remarks>
/// The client never reveals both the self-mask seed and the masking key of the same client: it
/// reveals seeds only for clients the server lists as survivors and keys only for clients it lists
/// as dropped, and refuses a request where the two lists overlap or that lists itself as dropped.
/// </remarks>
public sealed class SecureAggregationClient : IDisposable
{
    private readonly ECDiffieHellman _encryptionKey;
    private readonly ECDiffieHellman _maskingKey;
    private readonly long _round;
    private readonly string _nonce;
    private readonly int _maxDegreeOfParallelism;
    private readonly Dictionary<int, (ulong[] KeyShare, ulong[] SeedShare)> _held = [];
    private SecAggRoster? _roster;
    private SecAggGraph? _graph;
    private Dictionary<string, int>? _indexOf;
    private int _me;
    private byte[]? _selfSeed;

    /// <summary>Creates the client for one round, with fresh P-256 key pairs.</summary>
    /// <param name="clientId">This device's id, as the coordinator knows it.</param>
    /// <param name="round">The training round.</param>
    /// <param name="nonce">The round's nonce.</param>
    /// <param name="maxDegreeOfParallelism">Cores to use for mask expansion (default: all).</param>
    public SecureAggregationClient(string clientId, long round, string nonce, int? maxDegreeOfParallelism = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ArgumentException.ThrowIfNullOrEmpty(nonce);
        ClientId = clientId;
        _round = round;
        _nonce = nonce;
        _maxDegreeOfParallelism = Math.Max(1, maxDegreeOfParallelism ?? Environment.ProcessorCount);
        _encryptionKey = SecAggCrypto.CreateKey();
        _maskingKey = SecAggCrypto.CreateKey();
        Phase = SecAggPhase.AdvertiseKeys;
    }

    /// <summary>This device's id.</summary>
    public string ClientId { get; }

    /// <summary>The phase whose message the client will produce next.</summary>
    public SecAggPhase Phase { get; private set; }

    /// <summary>Step 1: the client's public keys.</summary>
    public SecAggAdvertiseKeys AdvertiseKeys()
    {
        Require(SecAggPhase.AdvertiseKeys);
        Phase = SecAggPhase.ShareKeys;
        return new SecAggAdvertiseKeys
        {
            Round = _round,
            Nonce = _nonce,
            SenderId = ClientId,
            EncryptionPublicKey = _encryptionKey.ExportSubjectPublicKeyInfo(),
            MaskingPublicKey = _maskingKey.ExportSubjectPublicKeyInfo(),
        };
    }

    /// <summary>Step 3: checks the roster, Shamir-shares the self-mask seed and the masking key among the neighbours and encrypts each neighbour's shares.</summary>
    /// <exception cref="SecureAggregationException">The roster is invalid, omits this client, or its parameters are unsafe.</exception>
    public SecAggShareKeys ShareKeys(SecAggRoster roster)
    {
        ArgumentNullException.ThrowIfNull(roster);
        Require(SecAggPhase.ShareKeys);
        CheckRound(roster, SecAggPhase.ShareKeys);
        ValidateRoster(roster);
        _roster = roster;
        _indexOf = roster.Participants.ToDictionary(p => p.ClientId, p => p.Index, StringComparer.Ordinal);
        _me = _indexOf[ClientId];
        _graph = SecAggGraph.Create(roster.Participants.Count, roster.NeighbourCount, roster.GraphSeed);

        ReadOnlySpan<int> neighbours = _graph.NeighboursOf(_me);
        long[] holders = new long[neighbours.Length + 1];
        holders[0] = _me;
        for (int i = 0; i < neighbours.Length; i++)
        {
            holders[i + 1] = neighbours[i];
        }

        _selfSeed = RandomNumberGenerator.GetBytes(32);
        byte[] d = SecAggCrypto.ExportPrivateScalar(_maskingKey);
        ShamirShare[] keyShares = ShamirSecretSharing.SplitBytes(d, roster.Threshold, holders);
        ShamirShare[] seedShares = ShamirSecretSharing.SplitBytes(_selfSeed, roster.Threshold, holders);
        CryptographicOperations.ZeroMemory(d);

        _held[_me] = (keyShares[0].Values, seedShares[0].Values);
        var encrypted = new SecAggEncryptedShare[neighbours.Length];
        for (int i = 0; i < neighbours.Length; i++)
        {
            int v = neighbours[i];
            SecAggParticipant peer = roster.Participants[v - 1];
            byte[] plaintext = EncodeShares(_me, v, keyShares[i + 1].Values, seedShares[i + 1].Values);
            using ECDiffieHellman peerKey = SecAggCrypto.ImportPublicKey(peer.EncryptionPublicKey);
            byte[] key = SecAggCrypto.DeriveKey(_encryptionKey, peerKey, "share", _round, _nonce, _me, v);
            encrypted[i] = new SecAggEncryptedShare
            {
                SenderId = ClientId,
                RecipientId = peer.ClientId,
                Ciphertext = SecAggCrypto.Encrypt(key, plaintext, SecAggCrypto.BuildInfo("share-aad", _round, _nonce, _me, v)),
            };
            CryptographicOperations.ZeroMemory(plaintext);
            CryptographicOperations.ZeroMemory(key);
        }

        Phase = SecAggPhase.MaskedInput;
        return new SecAggShareKeys { Round = _round, Nonce = _nonce, SenderId = ClientId, Shares = encrypted };
    }

    /// <summary>
    /// Step 5: decrypts the shares the neighbours sent, then clips and quantises <paramref name="values"/>
    /// and adds the self mask and the pairwise masks with every neighbour that shared keys.
    /// </summary>
    /// <param name="forwarded">The server's forwarded shares for this client.</param>
    /// <param name="values">The update to aggregate (already clipped/noised by any DP transform), of the roster's vector length.</param>
    /// <exception cref="SecureAggregationException">A share fails authentication, is misaddressed or comes from a non-neighbour.</exception>
    public SecAggMaskedInput MaskInput(SecAggForwardedShares forwarded, ReadOnlySpan<float> values)
    {
        ArgumentNullException.ThrowIfNull(forwarded);
        Require(SecAggPhase.MaskedInput);
        CheckRound(forwarded, SecAggPhase.MaskedInput);
        SecAggRoster roster = _roster!;
        if (!string.Equals(forwarded.RecipientId, ClientId, StringComparison.Ordinal))
        {
            throw Violation(SecAggPhase.MaskedInput, $"Forwarded shares are addressed to '{forwarded.RecipientId}', not '{ClientId}'.");
        }

        if (values.Length != roster.VectorLength)
        {
            throw new ArgumentException($"The update has {values.Length} values but the round aggregates {roster.VectorLength}.", nameof(values));
        }

        var senders = new List<int>();
        foreach (SecAggEncryptedShare share in forwarded.Shares)
        {
            if (!string.Equals(share.RecipientId, ClientId, StringComparison.Ordinal)
                || !_indexOf!.TryGetValue(share.SenderId, out int v)
                || !_graph!.AreNeighbours(_me, v)
                || _held.ContainsKey(v))
            {
                throw Violation(SecAggPhase.MaskedInput, $"A forwarded share from '{share.SenderId}' is not from a neighbour, is misaddressed or repeated.");
            }

            using ECDiffieHellman peerKey = SecAggCrypto.ImportPublicKey(roster.Participants[v - 1].EncryptionPublicKey);
            byte[] key = SecAggCrypto.DeriveKey(_encryptionKey, peerKey, "share", _round, _nonce, v, _me);
            byte[] plaintext;
            try
            {
                plaintext = SecAggCrypto.Decrypt(key, share.Ciphertext, SecAggCrypto.BuildInfo("share-aad", _round, _nonce, v, _me));
            }
            catch (CryptographicException ex)
            {
                throw new SecureAggregationException(SecAggPhase.MaskedInput, SecAggAbortReason.ProtocolViolation, $"The shares from '{share.SenderId}' fail authentication; they were tampered with or encrypted for another round.", ex);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
            }

            _held[v] = DecodeShares(plaintext, v, _me);
            CryptographicOperations.ZeroMemory(plaintext);
            senders.Add(v);
        }

        using System.Diagnostics.Activity? activity = PrivacyTelemetry.ActivitySource.StartActivity("secagg.mask");
        activity?.SetTag("fededge.round", _round);
        uint[] masked = new uint[roster.VectorLength];
        try
        {
            FixedPointQuantizer.Quantize(values, roster.ClipRange, roster.Scale, masked);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"The update cannot be quantised: {ex.Message}", nameof(values), ex);
        }

        var seeds = new List<(byte[] Seed, bool Subtract)>(senders.Count + 1) { (_selfSeed!, false) };
        foreach (int v in senders)
        {
            using ECDiffieHellman peer = SecAggCrypto.ImportPublicKey(roster.Participants[v - 1].MaskingPublicKey);
            seeds.Add((SecAggCrypto.DeriveKey(_maskingKey, peer, "mask", _round, _nonce, _me, v), _me > v));
        }

        MaskExpander.Apply(masked, seeds, _maxDegreeOfParallelism);
        for (int i = 1; i < seeds.Count; i++)
        {
            CryptographicOperations.ZeroMemory(seeds[i].Seed);
        }

        Phase = SecAggPhase.Unmasking;
        return new SecAggMaskedInput { Round = _round, Nonce = _nonce, SenderId = ClientId, MaskedValues = masked };
    }

    /// <summary>Step 7: reveals the self-mask-seed shares of the listed survivors and the masking-key shares of the listed dropped clients.</summary>
    /// <exception cref="SecureAggregationException">The request is contradictory (a client both survived and dropped, this client listed as dropped) or lists too few survivors.</exception>
    public SecAggUnmaskResponse Unmask(SecAggUnmaskRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require(SecAggPhase.Unmasking);
        CheckRound(request, SecAggPhase.Unmasking);
        SecAggRoster roster = _roster!;
        var survivors = new HashSet<string>(request.Survivors, StringComparer.Ordinal);
        var dropped = new HashSet<string>(request.Dropped, StringComparer.Ordinal);
        if (survivors.Count != request.Survivors.Count || dropped.Count != request.Dropped.Count)
        {
            throw Violation(SecAggPhase.Unmasking, "The unmask request lists a client twice.");
        }

        if (survivors.Overlaps(dropped))
        {
            throw Violation(SecAggPhase.Unmasking, "The unmask request lists a client as both survivor and dropped; revealing both its seed and its key would expose its input.");
        }

        if (!survivors.Contains(ClientId))
        {
            throw Violation(SecAggPhase.Unmasking, "The unmask request does not list this client, which sent its masked input, as a survivor.");
        }

        if (survivors.Count < roster.MinimumClients)
        {
            throw new SecureAggregationException(SecAggPhase.Unmasking, SecAggAbortReason.TooFewClients, $"Only {survivors.Count} survivors; revealing shares for fewer than {roster.MinimumClients} would weaken the aggregate's privacy.");
        }

        if (survivors.Concat(dropped).Any(id => !_indexOf!.ContainsKey(id)))
        {
            throw Violation(SecAggPhase.Unmasking, "The unmask request names a client that is not on the roster.");
        }

        var revealed = new List<SecAggRevealedShare>();
        foreach ((int owner, (ulong[] keyShare, ulong[] seedShare)) in _held.OrderBy(kv => kv.Key))
        {
            string ownerId = roster.Participants[owner - 1].ClientId;
            if (survivors.Contains(ownerId))
            {
                revealed.Add(new SecAggRevealedShare { OwnerId = ownerId, Kind = SecAggSecretKind.SelfMaskSeed, X = _me, Values = (ulong[])seedShare.Clone() });
            }
            else if (dropped.Contains(ownerId))
            {
                revealed.Add(new SecAggRevealedShare { OwnerId = ownerId, Kind = SecAggSecretKind.MaskingKey, X = _me, Values = (ulong[])keyShare.Clone() });
            }
        }

        Phase = SecAggPhase.Completed;
        var response = new SecAggUnmaskResponse { Round = _round, Nonce = _nonce, SenderId = ClientId, Shares = revealed };
        Forget();
        return response;
    }

    /// <summary>The coordinator aborted the round: forget every secret.</summary>
    public void OnAbort(SecAggAbort abort)
    {
        ArgumentNullException.ThrowIfNull(abort);
        Phase = SecAggPhase.Aborted;
        Forget();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Forget();
        _encryptionKey.Dispose();
        _maskingKey.Dispose();
    }

    private static byte[] EncodeShares(int owner, int holder, ulong[] keyShare, ulong[] seedShare)
    {
        byte[] buffer = new byte[16 + (8 * (keyShare.Length + seedShare.Length))];
        Span<byte> span = buffer;
        BinaryPrimitives.WriteInt32LittleEndian(span, owner);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], holder);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], keyShare.Length);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], seedShare.Length);
        int offset = 16;
        foreach (ulong v in keyShare.Concat(seedShare))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], v);
            offset += 8;
        }

        return buffer;
    }

    private (ulong[] KeyShare, ulong[] SeedShare) DecodeShares(byte[] plaintext, int owner, int holder)
    {
        int expected = ShamirSecretSharing.ElementCount(32);
        if (plaintext.Length != 16 + (16 * expected)
            || BinaryPrimitives.ReadInt32LittleEndian(plaintext) != owner
            || BinaryPrimitives.ReadInt32LittleEndian(plaintext.AsSpan(4)) != holder
            || BinaryPrimitives.ReadInt32LittleEndian(plaintext.AsSpan(8)) != expected
            || BinaryPrimitives.ReadInt32LittleEndian(plaintext.AsSpan(12)) != expected)
        {
            throw Violation(SecAggPhase.MaskedInput, $"The decrypted shares from client {owner} have the wrong layout or addressing.");
        }

        ulong[] key = new ulong[expected];
        ulong[] seed = new ulong[expected];
        for (int i = 0; i < expected; i++)
        {
            key[i] = BinaryPrimitives.ReadUInt64LittleEndian(plaintext.AsSpan(16 + (8 * i)));
            seed[i] = BinaryPrimitives.ReadUInt64LittleEndian(plaintext.AsSpan(16 + (8 * (expected + i))));
        }

        return (key, seed);
    }

    private void ValidateRoster(SecAggRoster roster)
    {
        IReadOnlyList<SecAggParticipant> participants = roster.Participants;
        int n = participants.Count;
        for (int i = 0; i < n; i++)
        {
            if (participants[i].Index != i + 1)
            {
                throw Violation(SecAggPhase.ShareKeys, $"Roster entry {i} has index {participants[i].Index}; indices must run 1..n in order.");
            }
        }

        if (participants.Select(p => p.ClientId).Distinct(StringComparer.Ordinal).Count() != n)
        {
            throw Violation(SecAggPhase.ShareKeys, "The roster lists a client twice.");
        }

        SecAggParticipant? me = participants.FirstOrDefault(p => string.Equals(p.ClientId, ClientId, StringComparison.Ordinal));
        if (me is null
            || !me.EncryptionPublicKey.AsSpan().SequenceEqual(_encryptionKey.ExportSubjectPublicKeyInfo())
            || !me.MaskingPublicKey.AsSpan().SequenceEqual(_maskingKey.ExportSubjectPublicKeyInfo()))
        {
            throw Violation(SecAggPhase.ShareKeys, "The roster does not carry this client's own public keys.");
        }

        if (roster.Threshold < 2 || roster.MinimumClients < roster.Threshold || n < roster.MinimumClients)
        {
            throw new SecureAggregationException(SecAggPhase.ShareKeys, SecAggAbortReason.TooFewClients, $"The roster has {n} clients, threshold {roster.Threshold} and minimum {roster.MinimumClients}; need 2 ≤ t ≤ minimum ≤ n.");
        }

        int holders = roster.NeighbourCount == 0 ? n : roster.NeighbourCount + 1;
        if (roster.NeighbourCount < 0 || (roster.NeighbourCount & 1) != 0 || roster.NeighbourCount >= n || roster.Threshold > holders)
        {
            throw Violation(SecAggPhase.ShareKeys, $"Neighbour count {roster.NeighbourCount} with threshold {roster.Threshold} is not a valid graph for {n} clients.");
        }

        if (roster.VectorLength < 1 || !(roster.ClipRange > 0) || !float.IsFinite(roster.ClipRange) || !(roster.Scale > 0)
            || n * ((roster.ClipRange * roster.Scale) + 0.5) > int.MaxValue)
        {
            throw Violation(SecAggPhase.ShareKeys, $"Quantisation with clip range {roster.ClipRange} and scale {roster.Scale} would overflow the 32-bit ring for {n} clients.");
        }

        if (roster.GraphSeed.Length != 32)
        {
            throw Violation(SecAggPhase.ShareKeys, "The graph seed must be 32 bytes.");
        }
    }

    private void CheckRound(SecAggMessage message, SecAggPhase phase)
    {
        if (message.Round != _round || !string.Equals(message.Nonce, _nonce, StringComparison.Ordinal))
        {
            throw Violation(phase, $"The message is for round {message.Round} with another nonce; this client is in round {_round}.");
        }
    }

    private void Require(SecAggPhase phase)
    {
        if (Phase != phase)
        {
            throw new InvalidOperationException($"The client is in phase {Phase}; it cannot run {phase} now.");
        }
    }

    private SecureAggregationException Violation(SecAggPhase phase, string detail)
    {
        Phase = SecAggPhase.Aborted;
        Forget();
        return new SecureAggregationException(phase, SecAggAbortReason.ProtocolViolation, detail);
    }

    private void Forget()
    {
        if (_selfSeed is not null)
        {
            CryptographicOperations.ZeroMemory(_selfSeed);
            _selfSeed = null;
        }

        foreach ((ulong[] keyShare, ulong[] seedShare) in _held.Values)
        {
            Array.Clear(keyShare);
            Array.Clear(seedShare);
        }

        _held.Clear();
    }
}
