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

    /// <summary>One demo round: eight benign devices, five honest attack-only devices and three colluders mirroring them; <paramref name="colluderCosine"/> is the colluders' cosine with the aggregate (the honest attack-only devices' is its negative).</summary>
    private static List<AcceptedUpdate> DemoRound(double colluderCosine) =>
    [
        .. Enumerable.Range(0, 8).Select(i => Update("benign-" + i, 0.9, closePeers: 3, mirrors: 0)),
        .. Enumerable.Range(0, 5).Select(i => Update("attack-only-" + i, -colluderCosine, closePeers: 4, mirrors: 3)),
        .. Enumerable.Range(0, 3).Select(i => Update("colluder-" + i, colluderCosine, closePeers: 2, mirrors: 5)),
    ];

    [Fact]
    public void Observe_ThreeColludersMirroringFiveHonestDevices_QuarantinedInRoundThreeWhicheverWayTheAggregateTurns()
    {
        // The aggregate's direction swings: in the demo the colluders agreed with it in rounds 1, 4, 5 and 7.
        IReputationPolicy policy = ReputationPolicies.RobustDistance();
        double[] colluderCosine = [0.49, -0.79, 0.36];
        for (int round = 1; round <= 3; round++)
        {
            IReadOnlyList<ReputationChange> changes = policy.Observe(Round(round, DemoRound(colluderCosine[round - 1])));
            Assert.Equal(["colluder-0", "colluder-1", "colluder-2"], changes.Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId).Order(StringComparer.Ordinal));
            Assert.Contains("mirror image of 5 other updates", changes.First(c => c.DeviceId == "colluder-0").Reason, StringComparison.Ordinal);
        }

        Assert.All(Enumerable.Range(0, 3), i => Assert.NotNull(policy.QuarantineOf("colluder-" + i)));
        Assert.All(policy.Scores.Where(p => !p.Key.StartsWith("colluder", StringComparison.Ordinal)), p => Assert.Equal(1.0, p.Value));
    }

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

        Assert.Equal(["flipped-a", "flipped-b"], changes.Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId).Order(StringComparer.Ordinal));
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
        Assert.Equal(["danmini-1", "danmini-3"], old.Observe(Round(1, updates)).Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Observe_MirrorTestOff_ColludersAgreeingWithTheAggregateAreNotPenalised()
    {
        IReputationPolicy policy = ReputationPolicies.RobustDistance(new ReputationOptions { MirrorTest = false });
        IReadOnlyList<ReputationChange> changes = policy.Observe(Round(1, DemoRound(0.49)));

        Assert.DoesNotContain(changes, c => c.Score < c.PreviousScore);
    }

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
