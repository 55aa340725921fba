using FedEdge.Privacy.SecureAggregation;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Privacy.Tests;

/// <summary>
/// Runs one secure-aggregation round in-process: every message goes through the wire codec (as it
/// would over a transport), clients drop at chosen phases, and deadlines pass on a fake clock.
/// </summary>
internal sealed class SecAggSimulation
{
    public required SecureAggregationOptions Options { get; init; }

    public int ClientCount { get; init; } = 10;

    public int VectorLength { get; init; } = 257;

    /// <summary>Decides whether a client stays silent from a phase on.</summary>
    public Func<SecAggPhase, string, bool> Drops { get; init; } = (_, _) => false;

    /// <summary>Produces each client's update; default uniform in [−1.2, 1.2] (so some values are clipped).</summary>
    public Func<string, Random, float[]>? Inputs { get; init; }

    public int Seed { get; init; } = 1;

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero));

    public long WireBytesFromClients { get; private set; }

    public Dictionary<string, float[]> ClientInputs { get; } = new(StringComparer.Ordinal);

    public async Task<(SecAggResult? Result, SecAggAbort? Abort)> RunAsync()
    {
        var random = new Random(Seed);
        string[] ids = Enumerable.Range(0, ClientCount).Select(i => $"device-{i:D3}").ToArray();
        foreach (string id in ids)
        {
            ClientInputs[id] = Inputs?.Invoke(id, random) ?? Enumerable.Range(0, VectorLength).Select(_ => (float)((random.NextDouble() * 2.4) - 1.2)).ToArray();
        }

        var server = new SecureAggregationServer(Options, 7, "nonce-7", VectorLength, ids, Time) { FixedGraphSeed = System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(Seed)) };
        var clients = ids.ToDictionary(id => id, id => new SecureAggregationClient(id, 7, "nonce-7", maxDegreeOfParallelism: 2), StringComparer.Ordinal);
        var alive = new HashSet<string>(ids, StringComparer.Ordinal);
        try
        {
            // Phase 1.
            Step(SecAggPhase.AdvertiseKeys, alive, id => server.Receive(RoundTrip(clients[id].AdvertiseKeys())));
            await WaitAsync(server, Options.AdvertiseKeysTimeout);
            SecAggPhaseResult<SecAggRoster> roster = server.CompleteAdvertiseKeys();
            if (roster.IsAborted)
            {
                return (null, Broadcast(roster.Abort!));
            }

            SecAggRoster rosterMessage = RoundTrip(roster.Value!);

            // Phase 2.
            Step(SecAggPhase.ShareKeys, alive, id => server.Receive(RoundTrip(clients[id].ShareKeys(rosterMessage))));
            await WaitAsync(server, Options.ShareKeysTimeout);
            SecAggPhaseResult<IReadOnlyList<SecAggForwardedShares>> forwarded = server.CompleteShareKeys();
            if (forwarded.IsAborted)
            {
                return (null, Broadcast(forwarded.Abort!));
            }

            var inbox = forwarded.Value!.ToDictionary(f => f.RecipientId, f => RoundTrip(f), StringComparer.Ordinal);

            // Phase 3.
            Step(SecAggPhase.MaskedInput, alive, id => server.Receive(RoundTrip(clients[id].MaskInput(inbox[id], ClientInputs[id]))));
            await WaitAsync(server, Options.MaskedInputTimeout);
            SecAggPhaseResult<SecAggUnmaskRequest> request = server.CompleteMaskedInput();
            if (request.IsAborted)
            {
                return (null, Broadcast(request.Abort!));
            }

            SecAggUnmaskRequest requestMessage = RoundTrip(request.Value!);

            // Phase 4: only survivors are asked.
            alive.IntersectWith(requestMessage.Survivors);
            Step(SecAggPhase.Unmasking, alive, id => server.Receive(RoundTrip(clients[id].Unmask(requestMessage))));
            await WaitAsync(server, Options.UnmaskingTimeout);
            SecAggPhaseResult<SecAggResult> result = server.CompleteUnmasking();
            return result.IsAborted ? (null, Broadcast(result.Abort!)) : (result.Value, null);
        }
        finally
        {
            foreach (SecureAggregationClient client in clients.Values)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>The plain sum of the clipped inputs of <paramref name="contributors"/>, in double.</summary>
    public double[] PlainSum(IEnumerable<string> contributors)
    {
        double[] sum = new double[VectorLength];
        foreach (string id in contributors)
        {
            float[] x = ClientInputs[id];
            for (int i = 0; i < VectorLength; i++)
            {
                sum[i] += Math.Clamp(x[i], -Options.ClipRange, Options.ClipRange);
            }
        }

        return sum;
    }

    private static SecAggAbort Broadcast(SecAggAbort abort)
    {
        // The abort goes to every client as a message too; it must survive the codec.
        var decoded = (SecAggAbort)SecAggWireCodec.Decode(SecAggWireCodec.Encode(abort));
        Assert.Equal(abort, decoded);
        return decoded;
    }

    private void Step(SecAggPhase phase, HashSet<string> alive, Func<string, SecAggReceiveResult> send)
    {
        foreach (string id in alive.Order(StringComparer.Ordinal).ToArray())
        {
            if (Drops(phase, id))
            {
                alive.Remove(id);
                continue;
            }

            SecAggReceiveResult result = send(id);
            Assert.True(result.Accepted, $"{id} in {phase}: {result.Status} {result.Reason}");
        }
    }

    private T RoundTrip<T>(T message)
        where T : SecAggMessage
    {
        byte[] bytes = SecAggWireCodec.Encode(message);
        if (message is SecAggAdvertiseKeys or SecAggShareKeys or SecAggMaskedInput or SecAggUnmaskResponse)
        {
            WireBytesFromClients += bytes.Length;
        }

        return (T)SecAggWireCodec.Decode(bytes);
    }

    private async Task WaitAsync(SecureAggregationServer server, TimeSpan timeout)
    {
        Task wait = server.WaitForPhaseAsync();
        if (!server.IsPhaseReady)
        {
            Assert.False(wait.IsCompleted);
            Time.Advance(timeout + TimeSpan.FromSeconds(1));
        }

        await wait.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(server.IsPhaseReady);
    }
}
