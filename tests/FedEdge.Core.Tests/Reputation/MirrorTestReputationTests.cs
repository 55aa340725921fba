using FedEdge.Coordination;
using FedEdge.Reputation;

namespace FedEdge.Core.Tests.Reputation;

/// <summary>
/// The mirror test of <see cref="ReputationPolicies.RobustDistance"/> (<see cref="ReputationOptions.MirrorTest"/>):
/// colluding sign flippers that send nearly the same update are a group the direction test lets off, but each is the
/// exact opposite of the honest devices of its kind, who outnumber it. Figures are those of the demo split's rounds
/// (report.json, `simulate --split-devices 4 --attack signflip --seed 4`): three flipped attack-only devices, close peers
/// of each other, the mirror images of the five honest attack-only devices.
/// </summary>
public sealed class MirrorTestReputationTests
{
    private static readonly ParameterSet Model = new(new ParameterLayout(new TensorSpec("w", 2)), [0f, 0f]);

    /// <summary>One demo round: eight benign devices, <paramref name="honestOfKind"/> honest attack-only devices and three colluders mirroring them; <paramref name="colluderCosine"/> is the colluders' cosine with the aggregate (the honest attack-only devices' is its negative).</summary>
    private static List<AcceptedUpdate> DemoRound(double colluderCosine, int honestOfKind = 5) =>
    [
        .. Enumerable.Range(0, 8).Select(i => Update("benign-" + i, 0.9, closePeers: 3, mirrors: 0)),
        .. Enumerable.Range(0, honestOfKind).Select(i => Update("attack-only-" + i, -colluderCosine, closePeers: honestOfKind - 1, mirrors: 3)),
        .. Enumerable.Range(0, 3).Select(i => Update("colluder-" + i, colluderCosine, closePeers: 2, mirrors: honestOfKind)),
    ];

    [Theory]
    [InlineData(6, 2.0)] // mirrored two to one: penalised with the default MirrorMajority
    [InlineData(5, 1.0)] // mirrored five to three: penalised only when any majority of mirrors counts
    public void Observe_ThreeColludersOutnumberedByTheirMirrors_QuarantinedInRoundThreeWhicheverWayTheAggregateTurns(int honestOfKind, double mirrorMajority)
    {
        // The aggregate's direction swings: in the demo the colluders agreed with it in rounds 1, 4, 5 and 7.
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { MirrorMajority = mirrorMajority });
        double[] colluderCosine = [0.49, -0.79, 0.36];
        for (int round = 1; round <= 3; round++)
        {
            IReadOnlyList<ReputationChange> changes = policy.Observe(Round(round, DemoRound(colluderCosine[round - 1], honestOfKind)));
            Assert.Equal(["colluder-0", "colluder-1", "colluder-2"], Penalised(changes));
            Assert.Contains($"mirror image of {honestOfKind} other updates", changes.First(c => c.DeviceId == "colluder-0").Reason, StringComparison.Ordinal);
        }

        Assert.All(Enumerable.Range(0, 3), i => Assert.NotNull(policy.QuarantineOf("colluder-" + i)));
        Assert.All(policy.Scores.Where(p => !p.Key.StartsWith("colluder", StringComparison.Ordinal)), p => Assert.Equal(1.0, p.Value));
    }

    [Fact]
    public void Observe_ThreeColludersMirroredByFive_CaughtWhenTheFederationAssumesThree_AKindOtherwise()
    {
        // Seed 4 of the demo: three colluders mirrored by the five honest devices of their file. With f = 3 (from the
        // options, or the round's strategy) a group of three may be all colluders and any majority of mirrors counts.
        Assert.Equal(
            ["colluder-0", "colluder-1", "colluder-2"],
            Penalised(ReputationPolicies.RobustDistance(new ReputationOptions { ByzantineCount = 3 }).Observe(Round(1, DemoRound(0.49)))));
        Assert.Equal(3, ReputationPolicies.RobustDistance().Observe(Round(1, DemoRound(0.49)) with { ByzantineCount = 3 }).Count(c => c.Score < c.PreviousScore));

        // Without an f, a group of three (more than OpposingGroup) is a kind unless six or more mirror it; nothing else
        // flags these colluders when they agree with the aggregate (their norm is that of their kind).
        Assert.DoesNotContain(ReputationPolicies.RobustDistance().Observe(Round(1, DemoRound(0.49))), c => c.Score < c.PreviousScore);
        Assert.DoesNotContain(ReputationPolicies.RobustDistance(new ReputationOptions { ByzantineCount = 2 }).Observe(Round(1, DemoRound(0.49))), c => c.Score < c.PreviousScore);
    }

    [Fact]
    public void Observe_HonestKindsMirroringEachOtherNearTheOptimum_NotPenalised_UnlessAnyMajorityOfMirrorsCounts()
    {
        // Trimmed mean, scale:10, seed 42, rounds 9-12 (the attackers quarantined since round 2): the benign devices
        // (groups of four and five at cosine ≥ 0.9) and the attack-only devices have become exact mirror images, six
        // against four or five. With MirrorMajority 1 the smaller side lost score round after round and was quarantined.
        List<AcceptedUpdate> updates =
        [
            .. Enumerable.Range(0, 6).Select(i => Update("attack-only-" + i, 0.2, closePeers: 5, mirrors: 4)),
            .. Enumerable.Range(0, 4).Select(i => Update("benign-" + i, -0.2, closePeers: 3, mirrors: 6)),
            Update("ecobee-4", -0.2, closePeers: 4, mirrors: 6),
        ];

        // The federation assumes three colluders: groups of four and five are kinds.
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { ByzantineCount = 3 });
        for (int round = 1; round <= 4; round++)
        {
            Assert.DoesNotContain(policy.Observe(Round(round, updates)), c => c.Score < c.PreviousScore);
        }

        IReputationPolicy anyMajority = ReputationPolicies.RobustDistance(new ReputationOptions { ByzantineCount = 3, MirrorMajority = 1 });
        for (int round = 1; round <= 3; round++)
        {
            anyMajority.Observe(Round(round, updates));
        }

        Assert.All(Enumerable.Range(0, 4), i => Assert.NotNull(anyMajority.QuarantineOf("benign-" + i)));
    }

    [Theory]
    [InlineData(0.25, false)] // the default: a round whose changes are a tenth of the peak is settled
    [InlineData(0.0, true)] // settling off: the mirror test judges every round
    public void Observe_SettledRound_MirrorAndDirectionTestsSkipped_AndJudgedAgainOnceTheChangesGrow(double settledBelow, bool penalisedWhenSmall)
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { SettledBelow = settledBelow, ByzantineCount = 3 });
        int PenalisedIn(long round, double norm) =>
            policy.Observe(Round(round, [.. DemoRound(-0.79).Select(u => u with { DeltaNorm = norm })])).Count(c => c.Score < c.PreviousScore);

        Assert.Equal(3, PenalisedIn(1, 2.0)); // the colluders, as in the demo's first rounds (also sets the peak)
        Assert.Equal(penalisedWhenSmall ? 3 : 0, PenalisedIn(2, 0.2)); // near the optimum: a tenth of the peak
        Assert.Equal(3, PenalisedIn(3, 0.8)); // pushed away again: 0.4 of the peak
    }

    [Fact]
    public void Options_SettledBelowOutOfRange_Refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReputationPolicies.RobustDistance(new ReputationOptions { SettledBelow = -0.1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReputationPolicies.RobustDistance(new ReputationOptions { SettledBelow = 1.5 }));
    }

    [Fact]
    public void Options_MirrorMajorityBelowOne_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReputationPolicies.RobustDistance(new ReputationOptions { MirrorMajority = 0.9 }));

    [Fact]
    public void Observe_HonestGroupThatOpposesTheAggregateAndOutnumbersItsMirrors_LetOff()
    {
        // The five honest attack-only devices oppose the aggregate (cosine -0.71) as a group larger than their mirrors.
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, DemoRound(0.71)));

        Assert.DoesNotContain(changes, c => c.DeviceId.StartsWith("attack-only", StringComparison.Ordinal) && c.Score < c.PreviousScore);
        Assert.DoesNotContain(changes, c => c.DeviceId.StartsWith("benign", StringComparison.Ordinal) && c.Score < c.PreviousScore);
    }

    [Fact]
    public void Observe_MirrorGroupsOfEqualSize_LeftToTheDirectionTest()
    {
        // Two honest devices of one file and two flipped ones of the same file mirror each other two against two: the
        // mirror test cannot tell them apart; the pair that opposes the aggregate loses score (the direction test).
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        List<AcceptedUpdate> updates =
        [
            .. Enumerable.Range(0, 10).Select(i => Update("other-" + i, 0.8, closePeers: 9, mirrors: 0)),
            Update("honest-a", 0.9, closePeers: 1, mirrors: 2),
            Update("honest-b", 0.9, closePeers: 1, mirrors: 2),
            Update("flipped-a", -0.9, closePeers: 1, mirrors: 2),
            Update("flipped-b", -0.9, closePeers: 1, mirrors: 2),
        ];

        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, updates));

        Assert.Equal(["flipped-a", "flipped-b"], Penalised(changes));
        Assert.All(changes.Where(c => c.Score < c.PreviousScore), c => Assert.Contains("opposes the round's robust aggregate", c.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public void Observe_HonestPairOpposingAnAggregateGoneAstrayWithNoMirrors_NotPenalised_UnlessTheMirrorTestIsOff()
    {
        // Plain median, signflip, seed 42: once the flipped Danmini-2 and -4 are quarantined, the honest Danmini-1 and -3
        // oppose a median that follows the attack-only majority (cosine -0.5 to -0.63) and mirror nobody.
        List<AcceptedUpdate> updates =
        [
            .. Enumerable.Range(0, 7).Select(i => Update("attack-only-" + i, 0.85, closePeers: 6, mirrors: 0)),
            .. Enumerable.Range(0, 4).Select(i => Update("ecobee-" + i, -0.25, closePeers: 3, mirrors: 0)),
            Update("danmini-1", -0.63, closePeers: 1, mirrors: 0),
            Update("danmini-3", -0.53, closePeers: 1, mirrors: 0),
        ];

        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        Assert.DoesNotContain(policy.Observe(Round(1, updates)), c => c.Score < c.PreviousScore);

        IReputationPolicy old = ReputationPolicies.RobustDistance(new ReputationOptions { MirrorTest = false });
        Assert.Equal(["danmini-1", "danmini-3"], Penalised(old.Observe(Round(1, updates))));
    }

    [Fact]
    public void Observe_MirrorTestOff_ColludersAgreeingWithTheAggregateAreNotPenalised()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { MirrorTest = false });
        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, DemoRound(0.49)));

        Assert.DoesNotContain(changes, c => c.Score < c.PreviousScore);
    }

    /// <summary>The devices <paramref name="changes"/> lowered, in ordinal order.</summary>
    private static IEnumerable<string> Penalised(IEnumerable<ReputationChange> changes) =>
        changes.Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId).Order(StringComparer.Ordinal);

    private static AcceptedUpdate Update(string device, double cosine, int closePeers, int mirrors) =>
        new(device, "00", 10) { CosineDistance = 1 - cosine, NormRatio = 1, PeerSimilarity = 0.99, ClosePeers = closePeers, MirrorPeers = mirrors };

    private static RoundResult Round(long round, List<AcceptedUpdate> updates) => new()
    {
        Round = round,
        Completed = true,
        Selected = [.. updates.Select(u => u.DeviceId)],
        Contributors = [.. updates.Select(u => u.DeviceId)],
        Updates = updates,
        GlobalParameters = Model,
        GlobalHash = Model.ComputeHash(),
    };
}
