using System.Security.Cryptography;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Core.Tests.Coordination;
using FedEdge.Messaging.InProcess;
using FedEdge.Transparency;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Transparency;

/// <summary>The committee of 4 (f = 1) co-signing each round's head, composed through DI as README shows it.</summary>
public sealed class CommitteeTests : IDisposable
{
    private const int Features = 4;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-committee-" + Guid.NewGuid().ToString("N"));
    private readonly ECDsa _logKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly List<ECDsa> _keys = [];
    private readonly List<TreeHeadValidator> _validators = [];

    public void Dispose()
    {
        foreach (TreeHeadValidator v in _validators)
        {
            v.Dispose();
        }

        foreach (ECDsa k in _keys)
        {
            k.Dispose();
        }

        _logKey.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Committee_AllHonest_EveryRoundCoSignedByAllAndLogVerifiesWithQuorum()
    {
        // A grace as long as the timeout: the coordinator waits for all four honest answers, not only the quorum.
        (List<RoundResult> results, Coordinator coordinator) = await RunAsync(m => m, configure: o => o.QuorumGrace = o.Timeout);
        Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
        Assert.All(results, r => Assert.Equal(4, r.Committee!.CoSignatures.Count));
        Assert.Equal(3, coordinator.CompletedRounds);
        LedgerVerification verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.True(verified.IsValid, verified.Problem);
        Assert.Equal(12, verified.CoSignaturesChecked);
    }

    [Fact]
    public async Task Committee_OneValidatorDown_FederationKeepsGoingWithThreeCoSignatures()
    {
        (List<RoundResult> results, Coordinator coordinator) = await RunAsync(m => m.Select((x, i) => i == 3 ? x with { Witness = new DownWitness(x.Witness.Id) } : x).ToList());
        Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
        Assert.All(results, r => Assert.Equal(3, r.Committee!.CoSignatures.Count));
        Assert.All(results, r => Assert.Contains("down", Assert.Single(r.Committee!.Witnesses, w => !w.Signed).Problem, StringComparison.Ordinal));
        Assert.Equal(3, coordinator.CompletedRounds);
        Assert.True(LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() }).IsValid);
    }

    [Fact]
    public async Task Committee_OneValidatorHangs_EveryRoundPublishedAtTheQuorumAndTheHungOneCancelled()
    {
        // A timeout of 10 minutes per head: three rounds waiting for it would far exceed RunAsync's 2-minute cap.
        var hung = new List<HangingWitness>();
        (List<RoundResult> results, Coordinator coordinator) = await RunAsync(
            m => m.Select((x, i) => i == 2 ? x with { Witness = Track(hung, new HangingWitness(x.Witness.Id)) } : x).ToList(),
            configure: o => o.Timeout = TimeSpan.FromMinutes(10));
        Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
        Assert.All(results, r => Assert.Equal(3, r.Committee!.CoSignatures.Count));
        Assert.All(results, r => Assert.Equal("not needed: the quorum was reached before it answered", Assert.Single(r.Committee!.Witnesses, w => !w.Signed).Problem));
        Assert.Equal(3, coordinator.CompletedRounds);
        HangingWitness witness = Assert.Single(hung);
        Assert.Equal(3, witness.Asked);
        Assert.Equal(3, witness.Cancelled);
        Assert.True(LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() }).IsValid);
    }

    [Fact]
    public async Task Committee_HungWitness_CancelledAfterTheGraceNeverAfterTheTimeout()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var members = new List<CommitteeMember>();
        for (int i = 0; i < 3; i++)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            _keys.Add(key);
            var validator = new TreeHeadValidator("v" + i, key, _logKey.ExportSubjectPublicKeyInfoPem(), Path.Combine(_dir, "v" + i), name => AggregationStrategies.Create(name));
            _validators.Add(validator);
            members.Add(new CommitteeMember(validator, key.ExportSubjectPublicKeyInfoPem()));
        }

        using var hungKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var hung = new HangingWitness("v3");
        members.Add(new CommitteeMember(hung, hungKey.ExportSubjectPublicKeyInfoPem()));
        var options = new CommitteeOptions { Timeout = TimeSpan.FromSeconds(10), QuorumGrace = TimeSpan.FromSeconds(1) };
        var committee = new TreeHeadCommittee(members, options, time);
        var log = new FileTransparencyLog(Log, _logKey, time);
        await log.AppendAsync([new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 1, Completed = false, Reason = "no quorum of devices" }]);

        ValueTask<CommitteeResult> asking = committee.CoSignAsync(log, log.Head!, previousSize: 0, round: 1, previousGlobal: null, updates: null);
        Task<CommitteeResult> pending = asking.AsTask();

        // Fake time moves only here, one grace at a time, and never reaches the 10 s timeout.
        TimeSpan advanced = TimeSpan.Zero;
        while (!pending.IsCompleted && advanced + options.QuorumGrace < options.Timeout)
        {
            await Task.WhenAny(pending, Task.Delay(TimeSpan.FromMilliseconds(200)));
            if (!pending.IsCompleted)
            {
                time.Advance(options.QuorumGrace);
                advanced += options.QuorumGrace;
            }
        }

        CommitteeResult result = await pending.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(advanced < options.Timeout);
        Assert.True(result.HasQuorum, result.Describe());
        Assert.Equal(["v0", "v1", "v2"], result.CoSignatures.Select(c => c.Witness));
        Assert.Equal("not needed: the quorum was reached before it answered", Assert.Single(result.Witnesses, w => !w.Signed).Problem);
        Assert.Equal(1, hung.Cancelled);
    }

    [Fact]
    public async Task Committee_OneValidatorLying_ItsSignatureIsDiscardedAndTheQuorumHolds()
    {
        (List<RoundResult> results, _) = await RunAsync(m => m.Select((x, i) => i == 1 ? x with { Witness = new LyingWitness(x.Witness) } : x).ToList());
        Assert.All(results, r => Assert.True(r.Completed, r.FailureReason));
        Assert.All(results, r => Assert.Equal("its co-signature does not verify with its configured key", Assert.Single(r.Committee!.Witnesses, w => !w.Signed && w.Witness == "v1").Problem));
        Assert.True(LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() }).IsValid);
    }

    [Fact]
    public async Task Committee_TwoValidatorsDown_RoundFailsCleanlyAndTheModelIsNotPublished()
    {
        (List<RoundResult> results, Coordinator coordinator) = await RunAsync(
            m => m.Select((x, i) => i >= 2 ? x with { Witness = new DownWitness(x.Witness.Id) } : x).ToList(), maxRounds: 1);
        RoundResult round = Assert.Single(results);
        Assert.False(round.Completed);
        Assert.StartsWith("committee quorum not reached: 2 valid co-signatures of the 3 needed", round.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, coordinator.CompletedRounds);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0f, v));

        // The failed head is followed by its withdrawal, so the log verifies with the committee.
        string[] entries = await File.ReadAllLinesAsync(Path.Combine(Log, FileTransparencyLog.EntriesFile));
        LedgerEntry withdrawal = LedgerEntry.Parse(System.Text.Encoding.UTF8.GetBytes(entries[^1])).Entry;
        Assert.Equal(LedgerEntryKind.Withdrawal, withdrawal.Kind);
        Assert.Equal(round.Round, withdrawal.Round);
        Assert.StartsWith("committee quorum not reached", withdrawal.Reason, StringComparison.Ordinal);
        LedgerVerification verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.True(verified.IsValid, verified.Problem);
        Assert.True(LedgerVerifier.Verify(Log).IsValid);

        // Without its withdrawal (both the entry and its head cut off), the failed head has no quorum again.
        string heads = Path.Combine(Log, FileTransparencyLog.HeadsFile);
        await File.WriteAllLinesAsync(Path.Combine(Log, FileTransparencyLog.EntriesFile), entries[..^1]);
        await File.WriteAllLinesAsync(heads, (await File.ReadAllLinesAsync(heads))[..^1]);
        verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.Equal(LedgerFailure.NoQuorum, verified.Failure);
        Assert.Equal(1, verified.BadHead);
    }

    [Fact]
    public async Task Committee_TwoValidatorsDownForOneRound_FederationContinuesAndTheWholeLogVerifies()
    {
        (List<RoundResult> results, Coordinator coordinator) = await RunAsync(
            m => m.Select((x, i) => i >= 2 ? x with { Witness = new DownOnceWitness(x.Witness) } : x).ToList());
        Assert.False(results[0].Completed);
        Assert.StartsWith("committee quorum not reached", results[0].FailureReason, StringComparison.Ordinal);
        Assert.Equal(3, results.Count(r => r.Completed));
        Assert.Equal(3, coordinator.CompletedRounds);

        // The validators that were down catch up from where they stand: the later heads carry all four co-signatures.
        Assert.All(results.Skip(1), r => Assert.Equal(4, r.Committee!.CoSignatures.Count));
        LedgerVerification verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.True(verified.IsValid, verified.Problem);

        // A tampered copy still fails: the co-signatures of the first head after the withdrawal removed.
        string path = Path.Combine(Log, FileTransparencyLog.CoSignaturesFile);
        List<string> lines = [.. await File.ReadAllLinesAsync(path)];
        SignedTreeHead[] heads = [.. (await File.ReadAllLinesAsync(Path.Combine(Log, FileTransparencyLog.HeadsFile))).Select(SignedTreeHead.Parse)];
        string third = "\"size\":" + heads[2].Size.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",";
        Assert.Equal(1, lines.RemoveAll(l => l.Contains(third, StringComparison.Ordinal)));
        await File.WriteAllLinesAsync(path, lines);
        verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.Equal(LedgerFailure.NoQuorum, verified.Failure);
        Assert.Equal(3, verified.BadHead);
    }

    [Fact]
    public async Task Verify_ForgedCoSignature_NamesTheHead()
    {
        await RunAsync(m => m);
        string path = Path.Combine(Log, FileTransparencyLog.CoSignaturesFile);
        string[] lines = await File.ReadAllLinesAsync(path);
        // Replace every co-signature of the second head with one by a key outside the committee: none verifies.
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        SignedTreeHead second = SignedTreeHead.Parse((await File.ReadAllLinesAsync(Path.Combine(Log, FileTransparencyLog.HeadsFile)))[1]);
        var forged = Enumerable.Range(0, 4).Select(i => CoSignature.Sign("v" + i, second, forger)).ToList();
        lines[1] = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["size"] = second.Size,
            ["root"] = Convert.ToHexStringLower(second.RootHash.Span),
            ["cosignatures"] = forged.Select(c => new Dictionary<string, string> { ["witness"] = c.Witness, ["signature"] = Convert.ToBase64String(c.Signature.Span) }).ToList(),
        });
        await File.WriteAllLinesAsync(path, lines);

        LedgerVerification verified = LedgerVerifier.Verify(Log, new LedgerVerifyOptions { Committee = CommitteeKeys() });
        Assert.Equal(LedgerFailure.NoQuorum, verified.Failure);
        Assert.Equal(2, verified.BadHead);
        Assert.Contains("v0's co-signature does not verify (forged)", verified.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validator_InconsistentHead_Refused()
    {
        await RunAsync(m => m, maxRounds: 1);
        TreeHeadValidator validator = _validators[0];
        long signed = validator.LastSignedSize;

        // Another log under the same key, with other entries: its head does not extend the co-signed one.
        string other = Path.Combine(_dir, "other");
        var log = new FileTransparencyLog(other, _logKey);
        await log.AppendAsync([.. Enumerable.Range(0, (int)signed + 2).Select(i => new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 1, Completed = false, Reason = "other " + i })]);
        WitnessVerdict verdict = await validator.CoSignAsync(Request(log, signed, round: 1));
        Assert.Null(verdict.CoSignature);
        Assert.StartsWith("inconsistent head", verdict.Refusal, StringComparison.Ordinal);
        Assert.Equal(signed, validator.LastSignedSize);
    }

    [Fact]
    public async Task Validator_WrongModelHash_Refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var validator = new TreeHeadValidator("v", key, _logKey.ExportSubjectPublicKeyInfoPem(), Path.Combine(_dir, "state"), name => AggregationStrategies.Create(name));
        var layout = new ParameterLayout(new TensorSpec("w", Features));
        var global = new ParameterSet(layout);
        ModelUpdate[] updates = [Update("a", layout, 1f), Update("b", layout, 3f)];
        var log = new FileTransparencyLog(Path.Combine(_dir, "log"), _logKey);
        ParameterSet honest = new(layout, [2f, 2f, 2f, 2f]);
        await log.AppendAsync([.. updates.Select(u => Logged(u)), new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 1, Strategy = "fedavg", Participants = ["a", "b"], Completed = true, ModelHash = new ParameterSet(layout, [9f, 9f, 9f, 9f]).ComputeHash() }]);

        WitnessVerdict lie = await validator.CoSignAsync(Request(log, 0, round: 1) with { PreviousGlobal = global, Updates = updates });
        Assert.Null(lie.CoSignature);
        Assert.StartsWith("wrong model hash: recomputing round 1 with fedavg gives " + honest.ComputeHash(), lie.Refusal, StringComparison.Ordinal);

        await log.AppendAsync([.. updates.Select(u => Logged(u with { Round = 2 })), new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 2, Strategy = "fedavg", Participants = ["a", "b"], Completed = true, ModelHash = honest.ComputeHash() }]);
        WitnessVerdict truth = await validator.CoSignAsync(Request(log, 0, round: 2) with { PreviousGlobal = global, Updates = [.. updates.Select(u => u with { Round = 2 })] });
        Assert.NotNull(truth.CoSignature);
        Assert.True(truth.CoSignature.Verify(log.Head!, key));
    }

    private static LedgerEntry Logged(ModelUpdate u) => new()
    {
        Kind = LedgerEntryKind.Update,
        Round = u.Round,
        DeviceId = u.SenderId,
        Digest = Convert.ToHexStringLower(FedEdge.Security.UpdateSigning.Digest(u)),
        SampleCount = u.SampleCount,
        Outcome = "accepted",
    };

    private static ModelUpdate Update(string sender, ParameterLayout layout, float value) => new()
    {
        SenderId = sender,
        Round = 1,
        Nonce = "n",
        SampleCount = 10,
        Values = new ParameterSet(layout, [value, value, value, value]),
    };

    private static CoSignRequest Request(FileTransparencyLog log, long from, long round)
    {
        SignedTreeHead head = log.Head!;
        return new CoSignRequest
        {
            Round = round,
            Head = head,
            PreviousSize = from,
            ConsistencyProof = log.ConsistencyProof(from, head.Size),
            Entries = log.ReadEntries(from, head.Size),
            InclusionProofs = [.. Enumerable.Range((int)from, (int)(head.Size - from)).Select(i => log.InclusionProof(i, head.Size))],
        };
    }

    private string Log => Path.Combine(_dir, "ledger");

    private Dictionary<string, string> CommitteeKeys() => _keys.Select((k, i) => ("v" + i, k.ExportSubjectPublicKeyInfoPem())).ToDictionary(p => p.Item1, p => p.Item2);

    private static T Track<T>(List<T> list, T item)
    {
        list.Add(item);
        return item;
    }

    private async Task<(List<RoundResult> Results, Coordinator Coordinator)> RunAsync(Func<List<CommitteeMember>, List<CommitteeMember>> faults, int maxRounds = 3, Action<CommitteeOptions>? configure = null)
    {
        var members = new List<CommitteeMember>();
        for (int i = 0; i < 4; i++)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            _keys.Add(key);
            var validator = new TreeHeadValidator("v" + i, key, _logKey.ExportSubjectPublicKeyInfoPem(), Path.Combine(_dir, "v" + i), name => AggregationStrategies.Create(name));
            _validators.Add(validator);
            members.Add(new CommitteeMember(validator, key.ExportSubjectPublicKeyInfoPem()));
        }

        var network = new InProcessNetwork();
        var services = new ServiceCollection();
        services.AddFedEdgeCoordinator(o =>
            {
                o.MaxRounds = maxRounds;
                o.MinParticipants = 3;
                o.RoundTimeout = TimeSpan.FromSeconds(30);
                o.WindowDuration = TimeSpan.FromSeconds(10);
                o.HyperParameters = new FedEdge.Training.TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f };
            })
            .AddTransparencyLog(Log, _logKey)
            .AddCommittee(faults(members), o =>
            {
                o.Timeout = TimeSpan.FromSeconds(20);
                configure?.Invoke(o);
            });
        services.AddSingleton(network.CreateCoordinatorTransport());
        services.AddSingleton(AggregationStrategies.FedAvg());
        services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new DenyListAdmission());
        ServiceProvider provider = services.BuildServiceProvider();
        Coordinator coordinator = provider.GetRequiredService<Coordinator>();
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))));
        var workers = new List<Worker>();
        foreach ((string id, float value) in new[] { ("a", 1f), ("b", 1.5f), ("c", 0.5f) })
        {
            var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), new MeanTrainer(Features), new InMemoryDataSource(TestData.Constant(10, Features, value)));
            workers.Add(worker);
            await worker.StartAsync();
        }

        var results = new List<RoundResult>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            if (maxRounds == 1)
            {
                // One round, completed or not (a failed round does not count towards MaxRounds).
                results.Add(await coordinator.RunRoundAsync(timeout.Token));
            }
            else
            {
                await foreach (RoundResult r in coordinator.RunAsync().WithCancellation(timeout.Token))
                {
                    results.Add(r);
                }
            }
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }

            await provider.DisposeAsync();
        }

        return (results, coordinator);
    }

    /// <summary>A validator that is down: every request fails as an unreachable host would.</summary>
    private sealed class DownWitness(string id) : ITreeHeadWitness
    {
        public string Id => id;

        public ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default) =>
            throw new IOException($"validator {id} is unreachable");
    }

    /// <summary>A validator that is down for its first request, then back (its state kept).</summary>
    private sealed class DownOnceWitness(ITreeHeadWitness honest) : ITreeHeadWitness
    {
        private int _calls;

        public string Id => honest.Id;

        public ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _calls) == 1
                ? throw new IOException($"validator {Id} is unreachable")
                : honest.CoSignAsync(request, cancellationToken);
    }

    /// <summary>A validator that hangs: it never answers, until the coordinator cancels the request.</summary>
    private sealed class HangingWitness(string id) : ITreeHeadWitness
    {
        private int _asked;
        private int _cancelled;

        public string Id => id;

        public int Asked => Volatile.Read(ref _asked);

        public int Cancelled => Volatile.Read(ref _cancelled);

        public async ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _asked);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
                throw;
            }

            throw new InvalidOperationException("unreachable: the delay is infinite");
        }
    }

    /// <summary>A validator that lies: it answers every request with a co-signature by a key that is not its configured one.</summary>
    private sealed class LyingWitness(ITreeHeadWitness honest) : ITreeHeadWitness
    {
        private readonly ECDsa _other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public string Id => honest.Id;

        public ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(WitnessVerdict.Signed(CoSignature.Sign(Id, request.Head, _other)));
    }
}
