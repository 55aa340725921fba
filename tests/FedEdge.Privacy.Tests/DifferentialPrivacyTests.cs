using FedEdge.Privacy.DifferentialPrivacy;
using FsCheck.Xunit;

namespace FedEdge.Privacy.Tests;

public class DifferentialPrivacyTests
{
    // Reference values below are from TensorFlow Privacy's rdp_accountant tests and the
    // compute_dp_sgd_privacy documentation (github.com/tensorflow/privacy).
    [Fact]
    public void SubsampledGaussianRdp_TfPrivacyScalarCase_Matches()
    {
        // compute_rdp(q=0.1, noise_multiplier=2, steps=10, orders=5) = 0.07737
        Assert.Equal(0.07737, 10 * RdpAccountant.SubsampledGaussianRdp(0.1, 2, 5), 5);
    }

    [Fact]
    public void SubsampledGaussianRdp_FullBatch_IsClosedForm()
    {
        // q = 1: the Gaussian mechanism, RDP(α) = α / (2σ²); compute_rdp(1, 10, 1, 20) = 0.1.
        Assert.Equal(0.1, RdpAccountant.SubsampledGaussianRdp(1, 10, 20), 12);
        Assert.Equal(7 / (2 * 1.3 * 1.3), RdpAccountant.SubsampledGaussianRdp(1, 1.3, 7), 12);
        Assert.Equal(0, RdpAccountant.SubsampledGaussianRdp(0, 10, 20));
    }

    [Theory]
    [InlineData(5, 0.00218075)]
    [InlineData(50, 0.023846)]
    [InlineData(100, 167.416307)]
    public void SubsampledGaussianRdp_TfPrivacySequenceCase_Matches(int order, double expected)
    {
        // compute_rdp(q=0.01, noise_multiplier=2.5, steps=50, orders=[..., 5, 50, 100, ...])
        double rdp = 50 * RdpAccountant.SubsampledGaussianRdp(0.01, 2.5, order);
        Assert.True(Math.Abs(rdp - expected) <= Math.Max(1e-5, expected * 1e-6), $"order {order}: {rdp} vs {expected}");
    }

    [Fact]
    public void ToEpsilon_ConstantRdp_MatchesTfPrivacyConversion()
    {
        // get_privacy_spent(orders=range(2, 33), rdp=[1.1]*31, target_delta=1e-5) = 1.32783806176 at order 32.
        int[] orders = Enumerable.Range(2, 31).ToArray();
        (double eps, int order) = RdpAccountant.ToEpsilon(orders, orders.Select(_ => 1.1).ToArray(), 1e-5);
        Assert.Equal(1.32783806176, eps, 9);
        Assert.Equal(32, order);
    }

    [Fact]
    public void RecordSteps_AbadiMnistSetting_MatchesTfPrivacyFigure()
    {
        // compute_dp_sgd_privacy --N=60000 --batch_size=256 --noise_multiplier=1.12 --epochs=60 --delta=1e-5
        // reports (2.92, 1e-5)-DP with the classic conversion; integer orders can only be slightly looser.
        var accountant = new RdpAccountant(1e-5, conversion: RdpConversion.Classic);
        int steps = (int)Math.Ceiling(60 * 60000 / 256.0);
        PrivacySpent spent = accountant.RecordSteps(256 / 60000.0, 1.12, steps);
        Assert.InRange(spent.Epsilon, 2.90, 2.97);
        Assert.Equal(steps, spent.Rounds);

        // The improved conversion is never looser.
        var improved = new RdpAccountant(1e-5);
        Assert.True(improved.RecordSteps(256 / 60000.0, 1.12, steps).Epsilon < spent.Epsilon);
    }

    [Fact]
    public void RecordSteps_AbadiMomentsAccountantExample_Matches126()
    {
        // Abadi et al. (CCS 2016, section 3.1): q = 0.01, σ = 4, δ = 1e-5, 10 000 steps gives ε ≈ 1.26
        // with the moments accountant (TF-Privacy's old conversion: 1.2586).
        var accountant = new RdpAccountant(1e-5, conversion: RdpConversion.Classic);
        Assert.InRange(accountant.RecordSteps(0.01, 4, 10_000).Epsilon, 1.255, 1.265);
    }

    [Fact]
    public void IsExhausted_BudgetReached_StopsBeforeExceeding()
    {
        // The coordinator's loop: run a round only while the next one stays within budget.
        var accountant = new RdpAccountant(1e-5, epsilonBudget: 2.0);
        int rounds = 0;
        while (!accountant.Preview(0.1, 1.5, 1).ExceedsBudget)
        {
            Assert.False(accountant.IsExhausted);
            accountant.RecordRound(0.1, 1.5);
            rounds++;
            Assert.True(rounds < 100_000);
        }

        Assert.True(accountant.IsExhausted);
        Assert.True(accountant.Spent.Epsilon <= 2.0, $"spent {accountant.Spent.Epsilon}");
        Assert.False(accountant.Spent.ExceedsBudget);
        Assert.True(rounds > 5, $"{rounds} rounds");
        Assert.True(accountant.RecordRound(0.1, 1.5).ExceedsBudget);
    }

    [Property(MaxTest = 60)]
    public bool RecordRound_MoreRoundsOrLessNoise_NeverLessEpsilon(byte rawQ, byte rawSigma, byte rawRounds)
    {
        double q = 0.001 + (rawQ / 256.0 * 0.5);
        double sigma = 0.6 + (rawSigma / 64.0);
        int rounds = 1 + rawRounds;
        var a = new RdpAccountant(1e-5);
        double first = a.RecordSteps(q, sigma, rounds).Epsilon;
        double second = a.RecordRound(q, sigma).Epsilon;
        double lessNoise = new RdpAccountant(1e-5).RecordSteps(q, sigma * 0.8, rounds).Epsilon;
        return second >= first && lessNoise >= first && first > 0;
    }

    [Fact]
    public void Clip_NormAboveC_ScalesToCKeepingDirection()
    {
        float[] v = [3, 4];
        double norm = L2Clipping.Clip(v, 1);
        Assert.Equal(5, norm, 6);
        Assert.Equal(0.6f, v[0], 5);
        Assert.Equal(0.8f, v[1], 5);
        float[] small = [0.1f, 0.2f];
        L2Clipping.Clip(small, 1);
        Assert.Equal([0.1f, 0.2f], small);
        Assert.Throws<ArgumentException>(() => L2Clipping.Clip(new[] { float.NaN }, 1));
    }

    [Fact]
    public void GaussianNoise_ManySamples_HaveUnitVariance()
    {
        foreach (GaussianNoise noise in new[] { new GaussianNoise(5), new GaussianNoise() })
        {
            const int n = 200_000;
            double sum = 0;
            double sumSq = 0;
            int beyond2 = 0;
            for (int i = 0; i < n; i++)
            {
                double x = noise.NextStandard();
                sum += x;
                sumSq += x * x;
                beyond2 += Math.Abs(x) > 2 ? 1 : 0;
            }

            Assert.InRange(sum / n, -0.015, 0.015);
            Assert.InRange(sumSq / n, 0.98, 1.02);
            Assert.InRange(beyond2 / (double)n, 0.0435, 0.0475); // P(|Z| > 2) = 0.0455
        }
    }

    [Fact]
    public void DpUpdateTransform_Local_ClipsAndAddsNoiseOfZC()
    {
        var options = new DifferentialPrivacyOptions { NoiseMultiplier = 0.5, ClipNorm = 2, Placement = NoisePlacement.Local };
        var transform = new DpUpdateTransform(options, new GaussianNoise(3));
        var layout = new ParameterLayout(new TensorSpec("w", 50_000));
        var update = new ParameterSet(layout);
        update.Values.Fill(1f); // norm sqrt(50000) ≫ 2
        var context = new UpdateTransformContext { Round = 1, SenderId = "d" };
        transform.Apply(update, context);
        Assert.Equal(0, context.Metrics["dp.unclipped"]);
        Assert.Equal(Math.Sqrt(50_000), context.Metrics["dp.l2_norm"], 3);
        double clippedValue = 2 / Math.Sqrt(50_000);
        double var = 0;
        foreach (float v in update.Values)
        {
            var += (v - clippedValue) * (v - clippedValue);
        }

        Assert.InRange(Math.Sqrt(var / 50_000), 0.99, 1.01); // z·C = 1
    }

    [Fact]
    public void DpUpdateTransform_Distributed_SplitsNoiseAcrossClients()
    {
        var options = new DifferentialPrivacyOptions { NoiseMultiplier = 1, ClipNorm = 1, Placement = NoisePlacement.Distributed, ExpectedClientsPerRound = 25 };
        Assert.Equal(0.2, new DpUpdateTransform(options).NoiseStdDev, 12);
        Assert.Equal(0, new DpUpdateTransform(new DifferentialPrivacyOptions { Placement = NoisePlacement.Central }).NoiseStdDev);
    }

    [Fact]
    public void GaussianAggregateNoise_Mean_AddsZCOverN()
    {
        var hook = new GaussianAggregateNoise(1.0, 3.0, new GaussianNoise(11));
        var aggregate = new ParameterSet(new ParameterLayout(new TensorSpec("w", 40_000)));
        var context = new AggregateTransformContext { Round = 2, ContributorCount = 6, IsMean = true };
        hook.Apply(aggregate, context);
        Assert.Equal(0.5, context.Metrics["dp.noise_stddev"], 12);
        Assert.InRange(aggregate.L2Norm() / Math.Sqrt(40_000), 0.49, 0.51);
        Assert.Throws<ArgumentException>(() => hook.Apply(aggregate, new AggregateTransformContext { Round = 2, ContributorCount = 0 }));
    }

    [Fact]
    public void AdaptiveClipNorm_ManyRounds_ConvergesToTargetQuantile()
    {
        // Update norms are log-normal with median 0.3; the norm should settle near the median.
        var random = new Random(17);
        var clip = new AdaptiveClipNorm(initialClipNorm: 5, targetQuantile: 0.5, learningRate: 0.2, countNoiseStdDev: 100 / 20.0, noise: new GaussianNoise(4));
        double last = 0;
        for (int round = 0; round < 300; round++)
        {
            int below = 0;
            for (int i = 0; i < 100; i++)
            {
                double z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                double norm = 0.3 * Math.Exp(0.5 * z);
                below += norm <= clip.Current ? 1 : 0;
            }

            last = clip.Update(below, 100);
        }

        Assert.InRange(last, 0.3 * 0.85, 0.3 * 1.15);
    }

    [Fact]
    public void AdaptiveClipNorm_UpdateNoiseMultiplier_FollowsAndrewEtAl()
    {
        // z = 1, σ_b = 5: z_Δ = (1 − 1/100)^(−1/2).
        Assert.Equal(1 / Math.Sqrt(0.99), AdaptiveClipNorm.UpdateNoiseMultiplier(1, 5), 12);
        Assert.Throws<ArgumentException>(() => AdaptiveClipNorm.UpdateNoiseMultiplier(1, 0.4));
    }

    [Fact]
    public void Options_Invalid_Throw()
    {
        Assert.Throws<ArgumentException>(() => new DifferentialPrivacyOptions { ClipNorm = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new DifferentialPrivacyOptions { SamplingRate = 1.5 }.Validate());
        Assert.Throws<ArgumentException>(() => new DifferentialPrivacyOptions { TargetEpsilon = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => new DpUpdateTransform(new DifferentialPrivacyOptions { NoiseMultiplier = double.NaN }));
    }
}
