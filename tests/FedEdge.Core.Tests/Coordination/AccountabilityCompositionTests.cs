using System.Security.Cryptography;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Transparency;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>The coordinator composed through DI as README shows it, with the transparency log and reputation.</summary>
public sealed class AccountabilityCompositionTests : IDisposable
{
    private const int Features = 4;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-accountability-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task AddTransparencyLogAndReputation_OutlierDevice_QuarantinedAndEveryRoundInAVerifiedLog()
    {
        (List<RoundResult> results, IReadOnlyList<RefusedDevice> refused) = await RunWithLiarAsync(o =>
        {
            o.MaxRounds = 5;
            o.WindowDuration = TimeSpan.FromSeconds(10);
        });

        string story = Story(results);
        Assert.True(refused.Count == 1, story);
        RefusedDevice quarantined = refused[0];
        Assert.Equal("liar", quarantined.DeviceId);
        Assert.Contains("quarantined by reputation", Assert.Single(quarantined.Reasons), StringComparison.Ordinal);
        Assert.DoesNotContain(results.SelectMany(r => r.ReputationChanges), c => c.DeviceId != "liar" && c.Score < c.PreviousScore);
        Assert.DoesNotContain("liar", results[^1].Selected);
        Assert.All(results, r => Assert.NotNull(r.LedgerHead));

        LedgerVerification verified = LedgerVerifier.Verify(_dir);
        Assert.True(verified.IsValid, verified.Problem);
        Assert.Equal(results.Count, verified.Heads);
        string[] lines = await File.ReadAllLinesAsync(Path.Combine(_dir, FileTransparencyLog.EntriesFile));
        Assert.Contains(lines, l => l.Contains("\"kind\":\"reputation\"", StringComparison.Ordinal) && l.Contains("\"quarantined\":true", StringComparison.Ordinal));
        Assert.Equal(results.Count, lines.Count(l => l.Contains("\"kind\":\"round\"", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task WindowSizedForTheFleet_AfterAQuarantine_RoundsGoOnWithoutWaitingForTheQuarantinedDevice()
    {
        // N = 5 devices and a T far beyond the test's budget: a window that still waited for the quarantined fifth device
        // would never close in time. It closes once the four devices still eligible have asked.
        (List<RoundResult> results, IReadOnlyList<RefusedDevice> refused) = await RunWithLiarAsync(o =>
        {
            o.MaxRounds = 6;
            o.WindowSize = 5;
            o.WindowDuration = TimeSpan.FromMinutes(30);
        });

        string story = Story(results);
        Assert.True(results.Count == 6, story);
        Assert.True(results.All(r => r.Completed), story);
        Assert.Equal("liar", Assert.Single(refused).DeviceId);
        RoundResult? quarantine = results.FirstOrDefault(r => r.ReputationChanges.Any(c => c.Quarantined));
        Assert.True(quarantine is not null && quarantine.Round < 6, story);
        long quarantinedIn = quarantine.Round;
        Assert.All(results.Where(r => r.Round > quarantinedIn), r => Assert.Equal(["a", "b", "c", "d"], r.Selected.Order(StringComparer.Ordinal)));
    }

    private static string Story(List<RoundResult> results) =>
        string.Join("\n", results.Select(r => $"round {r.Round} completed {r.Completed} {r.FailureReason} refused [{string.Join("; ", r.Refused.Select(x => x.DeviceId + ": " + x.Reason))}] changes [{string.Join("; ", r.ReputationChanges.Select(c => $"{c.DeviceId} {c.Score:0.00} {c.Reason}"))}]"));

    /// <summary>Four honest devices and one that sends a thousand times their values, on a coordinator with the log and reputation.</summary>
    private async Task<(List<RoundResult> Results, IReadOnlyList<RefusedDevice> Refused)> RunWithLiarAsync(Action<CoordinatorOptions> configure)
    {
        var network = new InProcessNetwork();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var services = new ServiceCollection();
        services.AddFedEdgeCoordinator(o =>
            {
                o.MinParticipants = 1;
                o.AcceptFailuresFraction = 0.5;
                o.RoundTimeout = TimeSpan.FromSeconds(30);
                o.HyperParameters = new FedEdge.Training.TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f };
                configure(o);
            })
            .AddTransparencyLog(_dir, key)
            .AddReputation();
        services.AddSingleton(network.CreateCoordinatorTransport());
        services.AddSingleton(AggregationStrategies.Median());
        services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new DenyListAdmission());
        await using ServiceProvider provider = services.BuildServiceProvider();
        Coordinator coordinator = provider.GetRequiredService<Coordinator>();
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", Features))));

        var workers = new List<Worker>();
        foreach ((string id, float value) in new[] { ("a", 1f), ("b", 1.1f), ("c", 0.9f), ("d", 1.05f), ("liar", 1000f) })
        {
            var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), new MeanTrainer(Features), new InMemoryDataSource(TestData.Constant(10, Features, value)));
            workers.Add(worker);
            await worker.StartAsync();
        }

        try
        {
            var results = new List<RoundResult>();
            using var budget = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await foreach (RoundResult r in coordinator.RunAsync().WithCancellation(budget.Token))
            {
                results.Add(r);
            }

            return (results, coordinator.RefusedDevices);
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }
}
