using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Privacy.Tests;

public class PortsAndRegistrationTests
{
    [Fact]
    public async Task RunAsync_ThroughCorePorts_WithDropout_ReturnsSumOfSurvivors()
    {
        var time = new FakeTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSecureAggregation(o => { o.Threshold = 3; o.MinimumClients = 4; });
        services.AddSecureAggregation(); // idempotent
        using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Single(services, d => d.ServiceType == typeof(ISecureAggregationCoordinator));
        ISecureAggregationCoordinator coordinator = provider.GetRequiredService<ISecureAggregationCoordinator>();
        ISecureAggregationWorker worker = provider.GetRequiredService<ISecureAggregationWorker>();

        string[] ids = ["w1", "w2", "w3", "w4", "w5", "w6"];
        var updates = ids.ToDictionary(id => id, id => Enumerable.Range(0, 64).Select(i => (float)(((i * 7) + id[1]) % 13) / 20f).ToArray());
        ISecureAggregationServerRound round = coordinator.BeginRound(9, "nonce-9", 64, ids);
        var workers = ids.ToDictionary(id => id, id => worker.BeginRound(id, 9, "nonce-9"));

        // An in-process "transport": every message goes through the codec; w4 vanishes after sharing keys.
        int maskedReplies = 0;
        SecAggSendAsync send = (id, message, _) =>
        {
            SecAggMessage delivered = SecAggWireCodec.Decode(SecAggWireCodec.Encode(message));
            if (id == "w4" && delivered is SecAggForwardedShares or SecAggUnmaskRequest)
            {
                return ValueTask.CompletedTask;
            }

            SecAggMessage? reply = workers[id].Respond(delivered, updates[id]);
            if (reply is not null)
            {
                SecAggReceiveResult received = round.Receive(SecAggWireCodec.Decode(SecAggWireCodec.Encode(reply)));
                Assert.True(received.Accepted, $"{received.Status} {received.Reason}");
                if (reply is SecAggMaskedInput)
                {
                    Interlocked.Increment(ref maskedReplies);
                }
            }

            return ValueTask.CompletedTask;
        };

        foreach (string id in ids)
        {
            Assert.True(round.Receive(workers[id].AdvertiseKeys()).Accepted);
        }

        Task<SecureSum> run = round.RunAsync(send);
        bool advanced = false;
        while (!run.IsCompleted)
        {
            // Once the five live workers have sent their masked input, only w4 is outstanding:
            // let the masked-input deadline pass so the round goes on without it.
            if (!advanced && round.Phase == SecAggPhase.MaskedInput && Volatile.Read(ref maskedReplies) == 5)
            {
                time.Advance(TimeSpan.FromMinutes(3));
                advanced = true;
            }

            await Task.Delay(1);
        }

        SecureSum sum = await run;
        Assert.True(sum.Succeeded, sum.Abort?.Detail);
        Assert.Equal(["w4"], sum.RecoveredDropouts);
        Assert.Equal(5, sum.Contributors.Count);
        for (int i = 0; i < 64; i++)
        {
            double plain = sum.Contributors.Sum(id => (double)updates[id][i]);
            Assert.True(Math.Abs(sum.Sum![i] - plain) <= sum.ErrorBound + 1e-6);
        }

        foreach (ISecureAggregationClientRound w in workers.Values)
        {
            w.Dispose();
        }
    }

    [Fact]
    public async Task RunAsync_TooFewClients_ReturnsAbortAndTellsClients()
    {
        var time = new FakeTimeProvider();
        var coordinator = new ServiceCollection().AddSingleton<TimeProvider>(time).AddSecureAggregation(o => o.Threshold = 3).BuildServiceProvider().GetRequiredService<ISecureAggregationCoordinator>();
        ISecureAggregationServerRound round = coordinator.BeginRound(1, "n", 8, ["a", "b", "c"]);
        using var a = new SecureAggregationClient("a", 1, "n");
        round.Receive(a.AdvertiseKeys());
        var told = new List<(string, SecAggMessage)>();
        Task<SecureSum> run = round.RunAsync((id, m, _) => { told.Add((id, m)); return ValueTask.CompletedTask; });
        time.Advance(TimeSpan.FromMinutes(1));
        SecureSum sum = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(sum.Succeeded);
        Assert.Equal(SecAggAbortReason.TooFewClients, sum.Abort!.Reason);
        Assert.Equal(3, told.Count);
        Assert.All(told, t => Assert.IsType<SecAggAbort>(t.Item2));
    }

    [Fact]
    public void AddSecureAggregation_InvalidOptions_FailValidation()
    {
        using ServiceProvider provider = new ServiceCollection().AddSecureAggregation(o => o.Threshold = 1).BuildServiceProvider();
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<SecureAggregationOptions>>().Value);
    }

    [Fact]
    public void AddDifferentialPrivacy_WorkerAndCoordinator_RegisterPorts()
    {
        using ServiceProvider worker = new ServiceCollection().AddDifferentialPrivacyWorker(o => { o.Placement = NoisePlacement.Distributed; o.NoiseMultiplier = 1; o.ExpectedClientsPerRound = 4; }).BuildServiceProvider();
        IUpdateTransform transform = Assert.Single(worker.GetServices<IUpdateTransform>());
        Assert.Equal(0.5, Assert.IsType<DpUpdateTransform>(transform).NoiseStdDev, 12);

        using ServiceProvider coordinator = new ServiceCollection()
            .AddDifferentialPrivacyCoordinator(o => { o.TargetEpsilon = 3; o.NoiseMultiplier = 1.1; })
            .AddDifferentialPrivacyCoordinator()
            .BuildServiceProvider();
        Assert.Single(coordinator.GetServices<IAggregateTransform>());
        Assert.Equal(0, Assert.IsType<DpUpdateTransform>(Assert.Single(coordinator.GetServices<IUpdateTransform>())).NoiseStdDev);
        IPrivacyAccountant accountant = coordinator.GetRequiredService<IPrivacyAccountant>();
        Assert.Equal(3, accountant.Spent.EpsilonBudget);

        using ServiceProvider invalid = new ServiceCollection().AddDifferentialPrivacyWorker(o => o.ClipNorm = -1).BuildServiceProvider();
        Assert.Throws<OptionsValidationException>(() => invalid.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value);
    }
}
