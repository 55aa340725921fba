using FedEdge.Privacy.SecureAggregation;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Privacy.Tests;

public class SecureAggregationTests
{
    private static void AssertSumWithinBound(SecAggSimulation sim, SecAggResult result)
    {
        double[] plain = sim.PlainSum(result.Contributors);
        double maxError = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            // Quantisation bound plus the float32 rounding of the decoded sum.
            double allowed = result.QuantizationErrorBound + (Math.Abs(plain[i]) * 6e-8) + 1e-12;
            double error = Math.Abs(result.Sum[i] - plain[i]);
            maxError = Math.Max(maxError, error);
            Assert.True(error <= allowed, $"coordinate {i}: |{result.Sum[i]} - {plain[i]}| = {error} > {allowed}");
        }

        Assert.True(result.QuantizationErrorBound < 1e-5, $"bound {result.QuantizationErrorBound}");
    }

    [Fact]
    public async Task RunRound_CompleteGraphNoDropouts_SumEqualsPlainSum()
    {
        var sim = new SecAggSimulation { Options = new SecureAggregationOptions { Threshold = 6 }, ClientCount = 10 };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(abort);
        Assert.Equal(10, result!.Contributors.Count);
        Assert.Empty(result.RecoveredDropouts);
        AssertSumWithinBound(sim, result);
    }

    [Theory]
    [InlineData(0, 0.1, 8, 1)]
    [InlineData(0, 0.3, 4, 2)]
    [InlineData(12, 0.1, 4, 3)]
    [InlineData(16, 0.2, 4, 4)]
    [InlineData(16, 0.3, 3, 5)]
    public async Task RunRound_DropoutsAtEveryPhase_SumOfSurvivorsWithinBound(int neighbours, double dropRate, int threshold, int seed)
    {
        // Each phase loses about dropRate of the clients still in the round (seeded, reproducible).
        int dropped = 0;
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = threshold, NeighbourCount = neighbours },
            ClientCount = 30,
            Seed = seed,
            Drops = (phase, id) =>
            {
                bool drop = Uniform((ulong)((seed * 1000) + ((int)phase * 100) + int.Parse(id[^3..], System.Globalization.CultureInfo.InvariantCulture))) < dropRate;
                dropped += drop ? 1 : 0;
                return drop;
            },
        };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.True(abort is null, abort?.Detail);
        Assert.True(dropped >= 4, $"only {dropped} clients dropped");
        Assert.InRange(result!.Contributors.Count, threshold, 29);
        AssertSumWithinBound(sim, result);
    }

    [Fact]
    public async Task RunRound_ClientsDropAfterSharingKeys_MasksRemovedWithReconstructedKeys()
    {
        string[] dropAtMasking = ["device-002", "device-005", "device-011"];
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 4, MinimumClients = 8, NeighbourCount = 6 },
            ClientCount = 16,
            Drops = (phase, id) => phase == SecAggPhase.MaskedInput && dropAtMasking.Contains(id),
        };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(abort);
        Assert.Equal(dropAtMasking, result!.RecoveredDropouts);
        Assert.Equal(13, result.Contributors.Count);
        AssertSumWithinBound(sim, result);
    }

    [Fact]
    public async Task RunRound_TooFewAdvertise_AbortsWithTooFewClients()
    {
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 5, MinimumClients = 8 },
            ClientCount = 10,
            Drops = (phase, id) => phase == SecAggPhase.AdvertiseKeys && string.CompareOrdinal(id, "device-006") <= 0,
        };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(result);
        Assert.Equal(SecAggAbortReason.TooFewClients, abort!.Reason);
        Assert.Equal(SecAggPhase.AdvertiseKeys, abort.Phase);
    }

    [Fact]
    public async Task RunRound_TooFewMaskedInputs_AbortsBeforeUnmasking()
    {
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 5, MinimumClients = 7 },
            ClientCount = 10,
            Drops = (phase, id) => phase == SecAggPhase.MaskedInput && string.CompareOrdinal(id, "device-003") <= 0,
        };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(result);
        Assert.Equal(SecAggAbortReason.TooFewClients, abort!.Reason);
        Assert.Equal(SecAggPhase.MaskedInput, abort.Phase);
    }

    [Fact]
    public async Task RunRound_SurvivorsNeighboursSilentAtUnmasking_AbortsWithInsufficientShares()
    {
        // Neighbourhoods of 3 (k = 2) with t = 3: when one survivor stays silent at unmasking, its own
        // self-mask seed has only 2 of the 3 shares needed, so the server cannot unmask and must abort.
        var sim = new SecAggSimulation
        {
            Options = new SecureAggregationOptions { Threshold = 3, MinimumClients = 3, NeighbourCount = 2 },
            ClientCount = 6,
            Drops = (phase, id) => phase == SecAggPhase.Unmasking && id == "device-004",
        };
        (SecAggResult? result, SecAggAbort? abort) = await sim.RunAsync();
        Assert.Null(result);
        Assert.Equal(SecAggAbortReason.InsufficientShares, abort!.Reason);
        Assert.Equal(SecAggPhase.Unmasking, abort.Phase);
    }

    [Fact]
    public void MaskInput_MaskedVector_LooksUniformAndHidesInput()
    {
        var options = new SecureAggregationOptions { Threshold = 2 };
        var time = new FakeTimeProvider();
        string[] ids = ["a", "b", "c"];
        var server = new SecureAggregationServer(options, 1, "n", 4096, ids, time);
        var clients = ids.Select(id => new SecureAggregationClient(id, 1, "n")).ToArray();
        foreach (var c in clients)
        {
            Assert.True(server.Receive(c.AdvertiseKeys()).Accepted);
        }

        SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
        foreach (var c in clients)
        {
            Assert.True(server.Receive(c.ShareKeys(roster)).Accepted);
        }

        var forwarded = server.CompleteShareKeys().GetValueOrThrow().ToDictionary(f => f.RecipientId);
        float[] zeros = new float[4096];
        SecAggMaskedInput masked = clients[0].MaskInput(forwarded["a"], zeros);

        // An all-zero input quantises to all-zero words; after masking the words must be spread
        // over the ring: roughly half have the top bit set and almost none stay zero.
        int topBit = masked.MaskedValues.Count(v => (v & 0x8000_0000u) != 0);
        int zero = masked.MaskedValues.Count(v => v == 0);
        Assert.InRange(topBit, 2048 - 320, 2048 + 320);
        Assert.True(zero < 3, $"{zero} words stayed zero");
        foreach (var c in clients)
        {
            c.Dispose();
        }
    }

    [Fact]
    public void Unmask_SurvivorAlsoListedAsDropped_RefusesWithProtocolViolation()
    {
        (SecureAggregationClient client, SecAggUnmaskRequest request) = PrepareForUnmask();
        var malicious = request with { Dropped = [request.Survivors[1]] };
        var ex = Assert.Throws<SecureAggregationException>(() => client.Unmask(malicious));
        Assert.Equal(SecAggAbortReason.ProtocolViolation, ex.Reason);
        client.Dispose();
    }

    [Fact]
    public void MaskInput_TamperedCiphertext_RefusesWithProtocolViolation()
    {
        var options = new SecureAggregationOptions { Threshold = 2 };
        string[] ids = ["a", "b", "c"];
        var server = new SecureAggregationServer(options, 1, "n", 8, ids, new FakeTimeProvider());
        var clients = ids.Select(id => new SecureAggregationClient(id, 1, "n")).ToArray();
        foreach (var c in clients)
        {
            server.Receive(c.AdvertiseKeys());
        }

        SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
        foreach (var c in clients)
        {
            server.Receive(c.ShareKeys(roster));
        }

        SecAggForwardedShares forA = server.CompleteShareKeys().GetValueOrThrow().Single(f => f.RecipientId == "a");
        byte[] tampered = (byte[])forA.Shares[0].Ciphertext.Clone();
        tampered[20] ^= 1;
        var bad = forA with { Shares = [forA.Shares[0] with { Ciphertext = tampered }, forA.Shares[1]] };
        var ex = Assert.Throws<SecureAggregationException>(() => clients[0].MaskInput(bad, new float[8]));
        Assert.Equal(SecAggAbortReason.ProtocolViolation, ex.Reason);
        foreach (var c in clients)
        {
            c.Dispose();
        }
    }

    [Fact]
    public void ShareKeys_RosterWithoutOwnKeys_RefusesWithProtocolViolation()
    {
        string[] ids = ["a", "b", "c"];
        var server = new SecureAggregationServer(new SecureAggregationOptions { Threshold = 2 }, 1, "n", 8, ids, new FakeTimeProvider());
        using var a = new SecureAggregationClient("a", 1, "n");
        using var b = new SecureAggregationClient("b", 1, "n");
        using var impostor = new SecureAggregationClient("c", 1, "n");
        using var real = new SecureAggregationClient("c", 1, "n");
        server.Receive(a.AdvertiseKeys());
        server.Receive(b.AdvertiseKeys());
        server.Receive(impostor.AdvertiseKeys());
        real.AdvertiseKeys();
        SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
        var ex = Assert.Throws<SecureAggregationException>(() => real.ShareKeys(roster));
        Assert.Equal(SecAggAbortReason.ProtocolViolation, ex.Reason);
    }

    [Fact]
    public void Receive_AfterDeadline_IsLateAndPhaseReady()
    {
        var time = new FakeTimeProvider();
        var options = new SecureAggregationOptions { Threshold = 2, AdvertiseKeysTimeout = TimeSpan.FromSeconds(10) };
        var server = new SecureAggregationServer(options, 1, "n", 8, ["a", "b", "c"], time);
        using var a = new SecureAggregationClient("a", 1, "n");
        using var b = new SecureAggregationClient("b", 1, "n");
        Assert.True(server.Receive(a.AdvertiseKeys()).Accepted);
        Assert.False(server.IsPhaseReady);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(server.IsPhaseReady);
        Assert.Equal(SecAggReceiveStatus.Late, server.Receive(b.AdvertiseKeys()).Status);
        SecAggPhaseResult<SecAggRoster> closed = server.CompleteAdvertiseKeys();
        Assert.True(closed.IsAborted);
        Assert.Equal(SecAggAbortReason.TooFewClients, closed.Abort!.Reason);
        Assert.Throws<SecureAggregationException>(() => closed.GetValueOrThrow());
    }

    [Fact]
    public async Task WaitForPhaseAsync_AllExpectedArrive_CompletesWithoutDeadline()
    {
        var time = new FakeTimeProvider();
        var server = new SecureAggregationServer(new SecureAggregationOptions { Threshold = 2 }, 1, "n", 8, ["a", "b"], time);
        using var a = new SecureAggregationClient("a", 1, "n");
        using var b = new SecureAggregationClient("b", 1, "n");
        Task wait = server.WaitForPhaseAsync();
        server.Receive(a.AdvertiseKeys());
        Assert.False(wait.IsCompleted);
        server.Receive(b.AdvertiseKeys());
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(server.IsPhaseReady);
    }

    [Fact]
    public void Receive_WrongNonceUnknownSenderDuplicate_AreRefusedWithReasons()
    {
        var server = new SecureAggregationServer(new SecureAggregationOptions { Threshold = 2 }, 1, "n", 8, ["a", "b"], new FakeTimeProvider());
        using var a = new SecureAggregationClient("a", 1, "n");
        using var stranger = new SecureAggregationClient("z", 1, "n");
        using var replay = new SecureAggregationClient("a", 1, "other");
        SecAggAdvertiseKeys keys = a.AdvertiseKeys();
        Assert.True(server.Receive(keys).Accepted);
        Assert.Equal(SecAggReceiveStatus.Duplicate, server.Receive(keys).Status);
        Assert.Equal(SecAggReceiveStatus.UnknownSender, server.Receive(stranger.AdvertiseKeys()).Status);
        Assert.Equal(SecAggReceiveStatus.WrongRound, server.Receive(replay.AdvertiseKeys()).Status);
        Assert.Equal(SecAggReceiveStatus.Invalid, server.Receive(keys with { SenderId = "b", EncryptionPublicKey = [1, 2, 3] }).Status);
        Assert.Equal(SecAggReceiveStatus.WrongPhase, server.Receive(new SecAggMaskedInput { Round = 1, Nonce = "n", SenderId = "a", MaskedValues = new uint[8] }).Status);
    }

    [Fact]
    public void Options_InvalidThresholdOrGraph_Throw()
    {
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { Threshold = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { Threshold = 3, MinimumClients = 2 }.Validate());
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { Threshold = 2, NeighbourCount = 3 }.Validate());
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { Threshold = 6, NeighbourCount = 4 }.Validate());
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { ClipRange = float.NaN }.Validate());
        Assert.Throws<ArgumentException>(() => new SecureAggregationOptions { UnmaskingTimeout = TimeSpan.Zero }.Validate());
    }

    /// <summary>A well-mixed uniform in [0, 1) from a small integer (SplitMix64's finaliser).</summary>
    private static double Uniform(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return (x >> 11) * (1.0 / (1UL << 53));
    }

    private static (SecureAggregationClient Client, SecAggUnmaskRequest Request) PrepareForUnmask()
    {
        string[] ids = ["a", "b", "c"];
        var server = new SecureAggregationServer(new SecureAggregationOptions { Threshold = 2 }, 1, "n", 8, ids, new FakeTimeProvider());
        var clients = ids.Select(id => new SecureAggregationClient(id, 1, "n")).ToArray();
        foreach (var c in clients)
        {
            server.Receive(c.AdvertiseKeys());
        }

        SecAggRoster roster = server.CompleteAdvertiseKeys().GetValueOrThrow();
        foreach (var c in clients)
        {
            server.Receive(c.ShareKeys(roster));
        }

        var forwarded = server.CompleteShareKeys().GetValueOrThrow().ToDictionary(f => f.RecipientId);
        foreach (var c in clients)
        {
            server.Receive(c.MaskInput(forwarded[c.ClientId], new float[8]));
        }

        SecAggUnmaskRequest request = server.CompleteMaskedInput().GetValueOrThrow();
        clients[1].Dispose();
        clients[2].Dispose();
        return (clients[0], request);
    }
}
