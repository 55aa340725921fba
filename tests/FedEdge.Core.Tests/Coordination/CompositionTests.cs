using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Rounds;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>Compositions that cannot work are refused when the coordinator starts; rounds that cannot meet a strategy's bound fail cleanly.</summary>
public sealed class CompositionTests
{
    private const int Features = 3;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ParameterSet Zero() => new(new ParameterLayout(new TensorSpec("w", Features)));

    [Theory]
    [InlineData("median")]
    [InlineData("trimmedmean")]
    [InlineData("krum")]
    [InlineData("bulyan")]
    public async Task StartAsync_SumOnlyProtocolWithStrategyNeedingEachUpdate_RefusedWithReason(string strategy)
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions()),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.Create(strategy, new AggregationOptions { ByzantineCount = 0 }),
            new DenyListAdmission(),
            roundProtocol: new SumOnlyProtocol());
        CoordinatorConfigurationException error = await Assert.ThrowsAsync<CoordinatorConfigurationException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains(strategy, error.Message, StringComparison.Ordinal);
        Assert.Contains("sum", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_KrumWhoseBoundCannotHoldForMaxParticipants_RefusedWithReason()
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { MaxParticipants = 4 }),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.Krum(1),
            new DenyListAdmission());
        CoordinatorConfigurationException error = await Assert.ThrowsAsync<CoordinatorConfigurationException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains("n > 2f + 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxParticipants = 4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_AccountantWithoutNoiseMultiplier_RefusedWithReason()
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions()),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.FedAvg(),
            new DenyListAdmission(),
            accountant: new CountingAccountant());
        CoordinatorConfigurationException error = await Assert.ThrowsAsync<CoordinatorConfigurationException>(() => coordinator.StartAsync(Zero()).AsTask());
        Assert.Contains("DpNoiseMultiplier", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_KrumWithTooFewSelectedDevices_RoundFailsWithTheBoundAndTheFederationGoesOn()
    {
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions
        {
            MaxRounds = 2,
            MinParticipants = 1,
            WindowDuration = TimeSpan.FromMilliseconds(200),
            RoundTimeout = TimeSpan.FromSeconds(20),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f },
        };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.Krum(1), new DenyListAdmission());
        await coordinator.StartAsync(Zero());
        var trainer = new MeanTrainer(Features);
        await using var a = new Worker(Options.Create(new WorkerOptions { DeviceId = "a" }), network.CreateWorkerTransport("a"), trainer, new InMemoryDataSource(TestData.Constant(5, Features, 1f)));
        await using var b = new Worker(Options.Create(new WorkerOptions { DeviceId = "b" }), network.CreateWorkerTransport("b"), trainer, new InMemoryDataSource(TestData.Constant(5, Features, 2f)));
        await Task.WhenAll(a.StartAsync().AsTask(), b.StartAsync().AsTask());

        RoundResult result = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);

        Assert.False(result.Completed);
        Assert.Contains("n > 2f + 2", result.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, coordinator.CompletedRounds);
        Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public async Task AddFedEdgeCoordinator_PortsRegisteredInDi_ReachTheEngine()
    {
        var network = new InProcessNetwork();
        var protocol = new SumOnlyProtocol();
        var services = new ServiceCollection();
        services.AddFedEdgeCoordinator(o => o.MaxRounds = 1);
        services.AddSingleton(network.CreateCoordinatorTransport());
        services.AddSingleton(AggregationStrategies.FedAvg());
        services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new DenyListAdmission());
        services.AddSingleton<IRoundProtocol>(protocol);
        await using ServiceProvider provider = services.BuildServiceProvider();
        Coordinator coordinator = provider.GetRequiredService<Coordinator>();
        Assert.Same(protocol, coordinator.RoundProtocol);
    }

    [Fact]
    public async Task OnStatusAsync_HostileReason_IsCutAndKeptOnOneLine()
    {
        var network = new InProcessNetwork();
        await using var coordinator = new Coordinator(Options.Create(new CoordinatorOptions()), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
        await coordinator.StartAsync(Zero());
        await using IWorkerTransport transport = network.CreateWorkerTransport("d");
        await transport.ConnectAsync(new ManualDevice());
        Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = "d" })).Accepted);
        string hostile = "overheated\nflush ruleset\n" + new string('x', 100_000);
        await transport.PublishStatusAsync(new DeviceStatus { DeviceId = "d", Intent = DeviceIntent.NotReady, Reason = hostile });

        await CoordinatorTests.WaitUntil(() => coordinator.Devices.Single().Reason is not null);
        string reason = coordinator.Devices.Single().Reason!;
        Assert.True(reason.Length <= 257, $"reason kept at {reason.Length} characters");
        Assert.DoesNotContain('\n', reason);
        Assert.StartsWith("overheated flush ruleset", reason, StringComparison.Ordinal);
    }

    /// <summary>A round protocol that, like secure aggregation, reveals only the sum.</summary>
    private sealed class SumOnlyProtocol : IRoundProtocol
    {
        public string Name => "sum-only";

        public bool RevealsIndividualUpdates => false;

        public bool RequiresProtocolChannel => false;

        public IRoundSession Begin(RoundSessionContext context) => RoundProtocols.Plaintext().Begin(context);
    }

    private sealed class CountingAccountant : FedEdge.Privacy.IPrivacyAccountant
    {
        public FedEdge.Privacy.PrivacySpent Spent { get; private set; } = new(0, 1e-5, 0, null, null);

        public bool IsExhausted => false;

        public FedEdge.Privacy.PrivacySpent RecordRound(double samplingRate, double noiseMultiplier) => Spent = Spent with { Rounds = Spent.Rounds + 1 };

        public FedEdge.Privacy.PrivacySpent Preview(double samplingRate, double noiseMultiplier, int additionalRounds) => Spent;
    }
}
