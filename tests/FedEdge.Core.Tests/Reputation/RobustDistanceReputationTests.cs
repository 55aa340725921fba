using FedEdge.Admission;
using FedEdge.Coordination;
using FedEdge.Reputation;

namespace FedEdge.Core.Tests.Reputation;

public sealed class RobustDistanceReputationTests
{
    private static readonly ParameterSet Model = new(new ParameterLayout(new TensorSpec("w", 2)), [0f, 0f]);

    [Fact]
    public void Observe_ScaledUpdateEveryRound_FarOutlierQuarantinedAfterTwoRoundsWithItsRounds()
    {
        // × 10 the norm of its kind is z 6.4, so each round costs 1.8 times the plain penalty: 1 → 0.64 → 0.28.
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        for (int round = 1; round <= 2; round++)
        {
            Assert.Null(policy.QuarantineOf("attacker"));
            IReadOnlyList<ReputationChange> changes = policy.Observe(Round(round, Honest(8).Append(Update("attacker", 0.1, normRatio: 10, peer: 0.99))));
            Assert.All(changes.Where(c => c.DeviceId != "attacker"), c => Assert.True(c.Score >= c.PreviousScore));
        }

        ReputationStanding standing = Assert.IsType<ReputationStanding>(policy.QuarantineOf("attacker"));
        Assert.Equal([1L, 2L], standing.Rounds);
        Assert.Contains("rounds 1, 2", standing.Describe(), StringComparison.Ordinal);
        Assert.True(policy.WeightOf("attacker") < 0.5);
        Assert.Null(policy.QuarantineOf("honest-0"));
        Assert.Equal(1.0, policy.ScoreOf("honest-0"));
    }

    [Fact]
    public void Observe_SkewedMinorityThatAgreesAmongItself_NeverPenalised()
    {
        // Non-IID: a third of the devices point away from the aggregate, but they agree with each other.
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        for (int round = 1; round <= 10; round++)
        {
            var updates = Honest(10).Concat(Enumerable.Range(0, 5).Select(i => Update("skewed-" + i, 1.7, normRatio: 1, peer: 0.95, closePeers: 4))).ToList();
            IReadOnlyList<ReputationChange> changes = policy.Observe(Round(round, updates));
            Assert.DoesNotContain(changes, c => c.Score < c.PreviousScore);
        }

        Assert.All(policy.Scores.Values, s => Assert.Equal(1.0, s));
    }

    [Fact]
    public void Observe_LoneDeviceFarFromTheAggregate_Penalised()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, Honest(8).Append(Update("flipper", 1.9, normRatio: 1, peer: 0.1))));
        ReputationChange change = Assert.Single(changes);
        Assert.Equal("flipper", change.DeviceId);
        Assert.Equal(0.6, change.Score, 6); // z 36 in direction: the penalty's cap, twice the plain 0.2
        Assert.Contains("cosine distance 1.9", change.Reason, StringComparison.Ordinal);
        Assert.Contains("penalty ×2 for how far out it is", change.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3.6, 2.0, 0.2 * 3.6 / 3.5)] // just past the threshold: about the plain penalty
    [InlineData(5.25, 2.0, 0.3)] // 1.5 times the threshold's z: 1.5 times the penalty
    [InlineData(14, 2.0, 0.4)] // far out: capped at twice the penalty
    [InlineData(14, 1.0, 0.2)] // scaling off: the plain penalty however far
    public void Observe_NormOutlier_PenaltyGrowsWithItsZUpToMaxOutlierSeverity(double z, double maxSeverity, double expectedPenalty)
    {
        // Honest(8) and the outlier: the median log norm is ln 1.08 and the spread is the floor (0.35).
        double normRatio = Math.Exp(Math.Log(1.08) + (z * RobustDistanceReputation.MinLogNormScale));
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { MaxOutlierSeverity = maxSeverity });

        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, Honest(8).Append(Update("device", 0.1, normRatio, peer: 0.99))));

        ReputationChange change = Assert.Single(changes, c => c.Score < c.PreviousScore);
        Assert.Equal("device", change.DeviceId);
        Assert.Equal(expectedPenalty, change.PreviousScore - change.Score, 6);
    }

    [Fact]
    public void Options_MaxOutlierSeverityBelowOne_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReputationPolicies.RobustDistance(new ReputationOptions { MaxOutlierSeverity = 0.5 }));

    [Fact]
    public void Observe_RefusalByFewDevices_FullPenalty_ButRoundWideRefusals_OnlyLiveness()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        policy.Observe(Round(1, Honest(8), refused: ["bad"]));
        Assert.Equal(0.8, policy.ScoreOf("bad"), 6);

        policy.Observe(Round(2, Honest(4), refused: ["honest-4", "honest-5", "honest-6", "honest-7"]));
        Assert.Equal(0.95, policy.ScoreOf("honest-4"), 6);
    }

    [Fact]
    public async Task Admission_QuarantinedDevice_RefusedWithScoreAndRounds_OthersAskTheInnerPolicy()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { RefusalPenalty = 0.6 });
        policy.Observe(Round(1, Honest(8), refused: ["bad"]));
        var admission = new ReputationAdmission(new AdmitAll(), policy);

        AdmissionDecision refused = await admission.EvaluateAsync(new AdmissionRequest { DeviceId = "bad" });
        Assert.False(refused.Admitted);
        Assert.Contains("score 0.40 is below 0.50 after penalties in rounds 1", Assert.Single(refused.Reasons), StringComparison.Ordinal);
        Assert.True((await admission.EvaluateAsync(new AdmissionRequest { DeviceId = "honest-0" })).Admitted);
    }

    [Fact]
    public void RobustZ_ZeroSpread_UsesTheFloor()
    {
        double[] z = RobustDistanceReputation.RobustZ([0.1, 0.1, 0.1, 0.6], minScale: 0.05);
        Assert.Equal(10, z[3], 6);
        Assert.Equal(0, z[0], 6);
    }

    [Fact]
    public void Observe_SignFlipperThatPartlyAgreesWithOthers_QuarantinedInRoundThree()
    {
        // Sign flipping an attack-only device's change points it the way the informative devices push (closest peer at
        // cosine 0.6, above the lonely threshold), but against the aggregate and without a group of like updates.
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        for (int round = 1; round <= 3; round++)
        {
            policy.Observe(Round(round, Honest(10, closePeers: 9).Append(Update("flipper", 1.6, normRatio: 0.5, peer: 0.6, closePeers: 0))));
        }

        ReputationStanding standing = Assert.IsType<ReputationStanding>(policy.QuarantineOf("flipper"));
        Assert.Equal([1L, 2L, 3L], standing.Rounds);
        Assert.All(Enumerable.Range(0, 10), i => Assert.Equal(1.0, policy.ScoreOf("honest-" + i)));
    }

    [Fact]
    public void Observe_OpposingPairOfColluders_PenalisedWhileAnOpposingGroupOfThreeIsLetOff()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        List<AcceptedUpdate> updates =
        [
            .. Honest(10, closePeers: 9),
            Update("colluder-0", 1.5, normRatio: 1, peer: 0.99, closePeers: 1),
            Update("colluder-1", 1.5, normRatio: 1, peer: 0.99, closePeers: 1),
            .. Enumerable.Range(0, 3).Select(i => Update("group-" + i, 1.5, normRatio: 1, peer: 0.99, closePeers: 2)),
        ];

        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, updates));

        Assert.Equal(["colluder-0", "colluder-1"], changes.Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId).Order(StringComparer.Ordinal));
        Assert.Contains("opposes the round's robust aggregate: cosine -0.5", changes[0].Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1.25, 0)] // cosine -0.25: mild disagreement, as honest devices show when the aggregate swings the other way
    [InlineData(1.6, null)] // the group size is unknown: no direction judgement
    public void Observe_MildOrUnmeasuredOpposition_NotPenalised(double distance, int? closePeers)
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, Honest(10, closePeers: 9).Append(Update("device", distance, normRatio: 1, peer: 0.7, closePeers: closePeers))));

        Assert.DoesNotContain(changes, c => c.Score < c.PreviousScore);
    }

    [Fact]
    public void Options_ThresholdAboveInitialScore_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReputationPolicies.RobustDistance(new ReputationOptions { QuarantineBelow = 2 }));

    private static IEnumerable<AcceptedUpdate> Honest(int count, int? closePeers = null) =>
        Enumerable.Range(0, count).Select(i => Update("honest-" + i, 0.1 + (0.01 * i), normRatio: 1 + (0.02 * i), peer: 0.95, closePeers: closePeers));

    private static AcceptedUpdate Update(string device, double distance, double normRatio, double peer, int? closePeers = null) =>
        new(device, "00", 10) { CosineDistance = distance, NormRatio = normRatio, PeerSimilarity = peer, ClosePeers = closePeers };

    private static RoundResult Round(long round, IEnumerable<AcceptedUpdate> updates, IReadOnlyList<string>? refused = null)
    {
        List<AcceptedUpdate> list = [.. updates];
        List<string> refusedDevices = [.. refused ?? []];
        return new RoundResult
        {
            Round = round,
            Completed = true,
            Selected = [.. list.Select(u => u.DeviceId), .. refusedDevices],
            Contributors = [.. list.Select(u => u.DeviceId)],
            Updates = list,
            Refused = [.. refusedDevices.Select(d => new RefusedUpdate(d, round, "update out of bounds"))],
            GlobalParameters = Model,
            GlobalHash = Model.ComputeHash(),
        };
    }

    private sealed class AdmitAll : IAdmissionPolicy
    {
        public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) => ValueTask.FromResult(AdmissionDecision.Admit());
    }
}
