using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Rounds;
using FedEdge.Security;
using FedEdge.Transparency;

namespace FedEdge.Core.Tests.Transparency;

/// <summary>
/// The validator's checks added for issue 15: a plaintext round's folded updates linked to their logged digests and
/// device signatures; a secure-aggregation round's transcript (roster, threshold, the unmasked sum's hash); a stateful
/// strategy's state before and after. Each tampering is refused with its named reason; the honest round is co-signed.
/// </summary>
public sealed class ValidatorChecksTests : IDisposable
{
    private const int Features = 4;
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", Features));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-validator-checks-" + Guid.NewGuid().ToString("N"));
    private readonly ECDsa _logKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _witnessKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _deviceKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _deviceCertificate;
    private int _logs;

    public ValidatorChecksTests()
    {
        var request = new CertificateRequest("CN=device", _deviceKey, HashAlgorithmName.SHA256);
        _deviceCertificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    public void Dispose()
    {
        _deviceCertificate.Dispose();
        _deviceKey.Dispose();
        _witnessKey.Dispose();
        _logKey.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    // ---- plaintext rounds: folded updates linked to device signatures ----

    [Fact]
    public async Task Plaintext_SignedUpdatesMatchingTheirEntries_CoSigned()
    {
        WitnessVerdict verdict = await PlaintextAsync(tamper: null);
        Assert.Null(verdict.Refusal);
        Assert.NotNull(verdict.CoSignature);
    }

    [Theory]
    [InlineData("altered-values", "update-not-logged: the update of a hashes to")]
    [InlineData("more-weight", "update-not-logged: the update of a weighs 20 samples, more than the 10")]
    [InlineData("no-entry", "update-not-logged: the update of a has no update entry")]
    [InlineData("forged-signature", "forged-device-signature: the update entry of a in round 1")]
    [InlineData("unsigned", "unsigned-update: the update entry of a in round 1 carries no device signature")]
    public async Task Plaintext_UpdateNotLinkedToItsSignature_RefusedWithTheReason(string tamper, string reason)
    {
        WitnessVerdict verdict = await PlaintextAsync(tamper);
        Assert.Null(verdict.CoSignature);
        Assert.StartsWith(reason, verdict.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_ReputationLoweredTheFoldedWeight_StillLinkedAndCoSigned()
    {
        // The coordinator may fold an update with fewer samples than the device sent (reputation's punishment).
        WitnessVerdict verdict = await PlaintextAsync("less-weight");
        Assert.Null(verdict.Refusal);
    }

    // ---- secure-aggregation rounds: the transcript ----

    [Fact]
    public async Task SecureAggregation_HonestTranscript_CoSigned()
    {
        WitnessVerdict verdict = await SecureAsync(t => t);
        Assert.Null(verdict.Refusal);
        Assert.NotNull(verdict.CoSignature);
    }

    [Theory]
    [InlineData("sum-sent", "sum-mismatch: the unmasked sum sent hashes to")]
    [InlineData("sum-both", "wrong model hash: recomputing round 1 with fedavg")]
    [InlineData("threshold-low", "threshold-too-low: the transcript's threshold 1 is below the 2")]
    [InlineData("threshold-high", "roster-mismatch: 2 contributors are fewer than the threshold 3")]
    [InlineData("roster-drops-contributor", "roster-mismatch: contributor b is not on the roster")]
    [InlineData("roster-adds-device", "roster-mismatch: roster member z neither contributed nor is refused in the round")]
    [InlineData("contributors-differ", "roster-mismatch: the transcript's contributors are not the round record's participants")]
    [InlineData("no-transcript", "transcript-missing: secure-aggregation round 1 has no transcript entry")]
    [InlineData("no-sum", "transcript-missing: secure-aggregation round 1 came without its unmasked sum")]
    [InlineData("no-evidence", "missing-evidence: completed round 1 came with neither")]
    [InlineData("forged-signature", "forged-device-signature: the update entry of a in round 1")]
    public async Task SecureAggregation_TamperedTranscript_RefusedWithTheReason(string tamper, string reason)
    {
        WitnessVerdict verdict = await SecureAsync(t => t with { Tamper = tamper });
        Assert.Null(verdict.CoSignature);
        Assert.StartsWith(reason, verdict.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecureAggregation_ValidatorRequiresAHigherThreshold_Refused()
    {
        WitnessVerdict verdict = await SecureAsync(t => t, new TreeHeadValidatorOptions { MinimumThreshold = 3 });
        Assert.StartsWith("threshold-too-low: the transcript's threshold 2 is below the 3", verdict.Refusal, StringComparison.Ordinal);
    }

    // ---- stateful strategies ----

    [Theory]
    [InlineData("fedadam")]
    [InlineData("fedyogi")]
    [InlineData("fedavgm")]
    public async Task Stateful_HonestRounds_CoSignedWithTheStateSent(string name)
    {
        (FileTransparencyLog log, TreeHeadValidator validator) = Open();
        using (validator)
        {
            IAggregationStrategy coordinator = AggregationStrategies.Create(name);
            ParameterSet global = new(Layout);
            for (int round = 1; round <= 3; round++)
            {
                (CoSignRequest request, ParameterSet next) = await StatefulRoundAsync(log, coordinator, global, round, validator.LastSignedSize, tamper: null);
                WitnessVerdict verdict = await validator.CoSignAsync(request);
                Assert.Null(verdict.Refusal);
                global = next;
            }
        }
    }

    [Theory]
    [InlineData("wrong-model", "wrong model hash: recomputing round 2 with fedadam")]
    [InlineData("wrong-state-sent", "state-mismatch: the strategy state sent hashes to")]
    [InlineData("no-state-sent", "state-mismatch: round 2 of fedadam came without the strategy state")]
    [InlineData("wrong-state-after", "state-mismatch: recomputing round 2 leaves the strategy state at")]
    [InlineData("no-state-hashes", "state-mismatch: fedadam keeps server-optimiser state, but the round record names no state hashes")]
    public async Task Stateful_Tampered_RefusedWithTheReason(string tamper, string reason)
    {
        (FileTransparencyLog log, TreeHeadValidator validator) = Open();
        using (validator)
        {
            IAggregationStrategy coordinator = AggregationStrategies.Create("fedadam");
            (CoSignRequest first, ParameterSet global) = await StatefulRoundAsync(log, coordinator, new ParameterSet(Layout), 1, 0, tamper: null);
            Assert.Null((await validator.CoSignAsync(first)).Refusal);
            (CoSignRequest second, _) = await StatefulRoundAsync(log, coordinator, global, 2, validator.LastSignedSize, tamper);
            WitnessVerdict verdict = await validator.CoSignAsync(second);
            Assert.Null(verdict.CoSignature);
            Assert.StartsWith(reason, verdict.Refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void StrategyStateHash_ChangesWithAnyValue()
    {
        var a = new StrategyState { Strategy = "fedadam", Arrays = new Dictionary<string, float[]> { ["m"] = [1f, 2f], ["v"] = [3f, 4f] }, Scalars = new Dictionary<string, double> { ["step"] = 1 } };
        string hash = StrategyStateHash.Compute(a);
        Assert.Equal(hash, StrategyStateHash.Compute(a with { Arrays = new Dictionary<string, float[]> { ["v"] = [3f, 4f], ["m"] = [1f, 2f] } }));
        Assert.NotEqual(hash, StrategyStateHash.Compute(a with { Arrays = new Dictionary<string, float[]> { ["m"] = [1f, 2.0001f], ["v"] = [3f, 4f] } }));
        Assert.NotEqual(hash, StrategyStateHash.Compute(a with { Scalars = new Dictionary<string, double> { ["step"] = 2 } }));
        Assert.NotEqual(hash, StrategyStateHash.Compute(a with { Strategy = "fedyogi" }));
    }

    // ---- the round record names the robust rule's mixing ----

    [Theory]
    [InlineData(PreAggregation.NearestNeighbourMixing, null)]
    [InlineData(PreAggregation.None, "mixing-mismatch: the round record says median ran with mixing nnm, this validator recomputes it with mixing none")]
    public async Task Mixing_RecordedOnTheRoundRecord_ValidatorWithAnotherMixingRefusesWithTheReason(PreAggregation validatorMixing, string? refusal)
    {
        var coordinatorOptions = new AggregationOptions { ByzantineCount = 1, PreAggregation = PreAggregation.NearestNeighbourMixing };
        IAggregationStrategy median = AggregationStrategies.Create("median", coordinatorOptions);
        ModelUpdate[] updates = [Update("a", 1f, 10), Update("b", 2f, 10), Update("c", 9f, 10)];
        ParameterSet next;
        using (IAggregationRound round = median.BeginRound(new ParameterSet(Layout)))
        {
            foreach (ModelUpdate u in updates)
            {
                round.Add(u);
            }

            next = round.Complete().Parameters;
        }

        int n = Interlocked.Increment(ref _logs);
        var log = new FileTransparencyLog(Path.Combine(_dir, "log" + n), _logKey);
        var entries = new List<LedgerEntry>(updates.Select(u => UpdateEntry(u, signed: true, forged: false)))
        {
            new() { Kind = LedgerEntryKind.Round, Round = 1, Strategy = "median", Mixing = "nnm", Participants = ["a", "b", "c"], Completed = true, ModelHash = next.ComputeHash() },
        };
        await log.AppendAsync(entries);
        using var validator = new TreeHeadValidator("v", _witnessKey, _logKey.ExportSubjectPublicKeyInfoPem(), Path.Combine(_dir, "state" + n), name => AggregationStrategies.Create(name, new AggregationOptions { ByzantineCount = 1, PreAggregation = validatorMixing }), new TreeHeadValidatorOptions());
        WitnessVerdict verdict = await validator.CoSignAsync(Request(log, 0, 1) with { PreviousGlobal = new ParameterSet(Layout), Updates = updates });
        if (refusal is null)
        {
            Assert.Null(verdict.Refusal);
            Assert.NotNull(verdict.CoSignature);
        }
        else
        {
            Assert.Null(verdict.CoSignature);
            Assert.StartsWith(refusal, verdict.Refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Mixing_RoundTripsThroughTheLeafBytes_AndIsLeftOutWhenNull()
    {
        var record = new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 3, Strategy = "krum", Mixing = "nnm", ModelHash = "ab" };
        Assert.Equal("nnm", LedgerEntry.Parse(record.ToJson(7, DateTimeOffset.UnixEpoch)).Entry.Mixing);
        string plain = System.Text.Encoding.UTF8.GetString((record with { Strategy = "fedavg", Mixing = null }).ToJson(7, DateTimeOffset.UnixEpoch));
        Assert.DoesNotContain("mixing", plain, StringComparison.Ordinal);
    }

    // ---- helpers ----

    private (FileTransparencyLog Log, TreeHeadValidator Validator) Open(TreeHeadValidatorOptions? options = null)
    {
        int n = Interlocked.Increment(ref _logs);
        var log = new FileTransparencyLog(Path.Combine(_dir, "log" + n), _logKey);
        var validator = new TreeHeadValidator("v", _witnessKey, _logKey.ExportSubjectPublicKeyInfoPem(), Path.Combine(_dir, "state" + n), name => AggregationStrategies.Create(name), options ?? new TreeHeadValidatorOptions());
        return (log, validator);
    }

    private async Task<WitnessVerdict> PlaintextAsync(string? tamper)
    {
        (FileTransparencyLog log, TreeHeadValidator validator) = Open(new TreeHeadValidatorOptions { RequireDeviceSignatures = tamper == "unsigned" });
        using (validator)
        {
            ModelUpdate a = Update("a", 1f, 10);
            ModelUpdate b = Update("b", 3f, 10);
            var entries = new List<LedgerEntry>();
            if (tamper != "no-entry")
            {
                entries.Add(UpdateEntry(a, signed: tamper != "unsigned", forged: tamper == "forged-signature"));
            }

            entries.Add(UpdateEntry(b, signed: tamper != "unsigned", forged: false));
            ModelUpdate foldedA = tamper switch
            {
                "altered-values" => a with { Values = new ParameterSet(Layout, [1f, 1f, 1f, 1.5f]) },
                "more-weight" => a with { SampleCount = 20 },
                "less-weight" => a with { SampleCount = 5 },
                _ => a,
            };
            ModelUpdate[] folded = [foldedA, b];
            IAggregationStrategy fedavg = AggregationStrategies.Create("fedavg");
            using IAggregationRound round = fedavg.BeginRound(new ParameterSet(Layout));
            foreach (ModelUpdate u in folded)
            {
                round.Add(u);
            }

            entries.Add(new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 1, Strategy = "fedavg", Participants = ["a", "b"], Completed = true, ModelHash = round.Complete().Parameters.ComputeHash() });
            await log.AppendAsync(entries);
            return await validator.CoSignAsync(Request(log, 0, 1) with { PreviousGlobal = new ParameterSet(Layout), Updates = folded });
        }
    }

    private sealed record SecureCase(string? Tamper = null);

    private async Task<WitnessVerdict> SecureAsync(Func<SecureCase, SecureCase> configure, TreeHeadValidatorOptions? options = null)
    {
        string? tamper = configure(new SecureCase()).Tamper;
        (FileTransparencyLog log, TreeHeadValidator validator) = Open(options);
        using (validator)
        {
            // Devices a and b each sent 10 samples whose change is +1 everywhere; c was on the roster and dropped.
            float[] sum = [20f, 20f, 20f, 20f, 20f, 5f];
            float[] claimed = tamper == "sum-both" ? [40f, 40f, 40f, 40f, 20f, 5f] : sum;
            float[] sent = tamper is "sum-sent" or "sum-both" ? [40f, 40f, 40f, 40f, 20f, 5f] : sum;
            string honestModel = new ParameterSet(Layout, [1f, 1f, 1f, 1f]).ComputeHash();
            var entries = new List<LedgerEntry>
            {
                SecureUpdateEntry("a", forged: tamper == "forged-signature"),
                SecureUpdateEntry("b", forged: false),
                new() { Kind = LedgerEntryKind.Refusal, Round = 1, DeviceId = "c", Reason = "sent no masked input in time for secure aggregation" },
            };
            if (tamper is not ("no-transcript" or "no-evidence"))
            {
                entries.Add(new LedgerEntry
                {
                    Kind = LedgerEntryKind.Transcript,
                    Round = 1,
                    Roster = tamper switch
                    {
                        "roster-drops-contributor" => ["a", "c"],
                        "roster-adds-device" => ["a", "b", "c", "z"],
                        _ => ["a", "b", "c"],
                    },
                    Threshold = tamper switch { "threshold-low" => 1, "threshold-high" => 3, _ => 2 },
                    Participants = tamper == "contributors-differ" ? ["a", "c"] : ["a", "b"],
                    Dropouts = [],
                    SumHash = SecureAggregationTranscript.SumHash(claimed),
                });
            }

            entries.Add(new LedgerEntry { Kind = LedgerEntryKind.Round, Round = 1, Strategy = "fedavg", Participants = ["a", "b"], Completed = true, ModelHash = honestModel });
            await log.AppendAsync(entries);
            return await validator.CoSignAsync(Request(log, 0, 1) with
            {
                PreviousGlobal = new ParameterSet(Layout),
                SecureSum = tamper is "no-sum" or "no-evidence" ? ReadOnlyMemory<float>.Empty : sent,
            });
        }
    }

    /// <summary>One round of a stateful strategy on the coordinator's side: its entries appended with the state's hashes, and the request a witness gets.</summary>
    private async Task<(CoSignRequest Request, ParameterSet Next)> StatefulRoundAsync(FileTransparencyLog log, IAggregationStrategy strategy, ParameterSet global, int round, long from, string? tamper)
    {
        StrategyState before = strategy.ExportState()!;
        ModelUpdate[] updates = [Update("a", 0.5f * round, 10, round), Update("b", -0.25f * round, 30, round)];
        ParameterSet next;
        using (IAggregationRound r = strategy.BeginRound(global))
        {
            foreach (ModelUpdate u in updates)
            {
                r.Add(u);
            }

            next = r.Complete().Parameters;
        }

        StrategyState after = strategy.ExportState()!;
        StrategyState afterClaimed = tamper == "wrong-state-after" ? after with { Scalars = new Dictionary<string, double> { ["step"] = 99 } } : after;
        var entries = new List<LedgerEntry>(updates.Select(u => UpdateEntry(u, signed: true, forged: false)))
        {
            new()
            {
                Kind = LedgerEntryKind.Round,
                Round = round,
                Strategy = strategy.Name,
                Participants = ["a", "b"],
                Completed = true,
                ModelHash = tamper == "wrong-model" ? new ParameterSet(Layout, [7f, 7f, 7f, 7f]).ComputeHash() : next.ComputeHash(),
                StateBefore = tamper == "no-state-hashes" ? null : StrategyStateHash.Compute(before),
                StateAfter = tamper == "no-state-hashes" ? null : StrategyStateHash.Compute(afterClaimed),
            },
        };
        await log.AppendAsync(entries);
        StrategyState? sent = tamper switch
        {
            "no-state-sent" => null,
            "wrong-state-sent" => before with { Arrays = before.Arrays.ToDictionary(a => a.Key, a => a.Value.Select(x => x + 0.001f).ToArray()) },
            _ => before,
        };
        if (tamper == "wrong-state-sent" && before.Arrays.Count == 0)
        {
            sent = before with { Scalars = new Dictionary<string, double> { ["step"] = 42 } };
        }

        return (Request(log, from, round) with { PreviousGlobal = global, Updates = updates, PreviousStrategyState = sent }, next);
    }

    private static ModelUpdate Update(string sender, float value, long samples, long round = 1) => new()
    {
        SenderId = sender,
        Round = round,
        Nonce = "n" + round,
        SampleCount = samples,
        Kind = UpdateKind.Delta,
        Values = new ParameterSet(Layout, [value, value, value, value]),
    };

    private LedgerEntry UpdateEntry(ModelUpdate update, bool signed, bool forged)
    {
        byte[] digest = UpdateSigning.Digest(update);
        byte[] signature = signed ? _deviceKey.SignHash(digest, DSASignatureFormat.IeeeP1363FixedFieldConcatenation) : [];
        if (forged)
        {
            signature[5] ^= 0x40;
        }

        return new LedgerEntry
        {
            Kind = LedgerEntryKind.Update,
            Round = update.Round,
            DeviceId = update.SenderId,
            Digest = Convert.ToHexStringLower(digest),
            Signature = signature,
            Certificate = signed ? _deviceCertificate.RawData : ReadOnlyMemory<byte>.Empty,
            SampleCount = update.SampleCount,
            Outcome = "accepted",
        };
    }

    private LedgerEntry SecureUpdateEntry(string device, bool forged)
    {
        // In a secure round the device signs the digest of its (unseen) update; the log holds the digest and signature.
        byte[] digest = SHA256.HashData(MemoryMarshal.AsBytes<char>(device.AsSpan()));
        byte[] signature = _deviceKey.SignHash(digest, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        if (forged)
        {
            signature[3] ^= 0x01;
        }

        return new LedgerEntry
        {
            Kind = LedgerEntryKind.Update,
            Round = 1,
            DeviceId = device,
            Digest = Convert.ToHexStringLower(digest),
            Signature = signature,
            Certificate = _deviceCertificate.RawData,
            Outcome = "accepted (only the sum is known)",
        };
    }

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
}
