using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Flower.Objects;
using FedEdge.Testing;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FedEdge.Flower.Tests;

/// <summary>A governor that caps every run at a number of steps (as a hot device's thermal governor does).</summary>
internal sealed class StepCapGovernor(int maxSteps) : ITrainingGovernor
{
    public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new GovernorDecision { MaxSteps = maxSteps, Reason = $"SoC hot, {maxSteps} steps allowed" });

    public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new GovernorDecision { MaxSteps = maxSteps, Reason = $"SoC hot, {maxSteps} steps allowed" });
}

/// <summary>A governor that declines every round.</summary>
internal sealed class DecliningGovernor : ITrainingGovernor
{
    public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(GovernorDecision.Decline("SoC at 86 °C"));

    public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(GovernorDecision.Decline("SoC at 86 °C"));
}

/// <summary>Fixed readings, as a device's telemetry source reports them.</summary>
internal sealed class FixedTelemetry : ITelemetrySource
{
    public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new DeviceTelemetry { TemperatureCelsius = 71.5, Throttled = false });
}

/// <summary>The node composed through DI exactly as docs/flower.md shows, with the device's governor and telemetry.</summary>
public sealed class FlowerNodeCompositionTests
{
    private static Dataset LocalData()
    {
        string file = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "samples", "data"), "*.csv.gz").Order(StringComparer.Ordinal).First();
        Dataset data = NbaiotReader.ReadFile(file).Data;
        return MinMaxNormalizer.Fit(data, clip: true).Transform(data);
    }

    private static IHost Compose(FakeSuperLink link, ITrainingGovernor governor)
    {
        ModelBundle bundle = ModelCatalog.Create("mlp", 42, new ManagedTrainerOptions());
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddFlowerNode(o =>
        {
            o.SuperLink = new Uri($"http://{link.Address}");
            o.Insecure = true;
            o.PollInterval = TimeSpan.FromMilliseconds(100);
        });
        builder.Services.AddFedEdgeWorker(o =>
        {
            o.DeviceId = "pi-7";
            o.Telemetry = new FixedTelemetry();
        });
        builder.Services.AddSingleton(bundle.Trainer);
        builder.Services.AddSingleton<ILocalDataSource>(new InMemoryDataSource(LocalData()));
        builder.Services.AddSingleton(governor);
        return builder.Build();
    }

    private static async Task<AcceptedReply> ReplyTo(FakeSuperLink link, string instruction)
    {
        for (int i = 0; i < 600; i++)
        {
            if (link.State.Replies.FirstOrDefault(r => r.InstructionId == instruction) is { } reply)
            {
                return reply;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("no reply; events: " + string.Join(", ", link.State.Events));
    }

    private static FlowerRecordDict Train() => new(
    [
        new("arrays", ParameterMapping.FromParameterSet(ModelCatalog.Create("mlp", 1, new ManagedTrainerOptions()).InitialParameters)),
        new("config", new FlowerConfigRecord([new("local-steps", FlowerValues.Config(20L))])),
    ]);

    [Fact]
    public async Task Governor_ShortensTraining_ReplySaysSoWithTelemetry()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        using IHost host = Compose(link, new StepCapGovernor(3));
        await host.StartAsync();
        Worker worker = host.Services.GetRequiredService<Worker>();
        await worker.StartAsync();
        Assert.Equal(WorkerState.ReadyForLearning, worker.State);
        ulong node = host.Services.GetRequiredService<FlowerNodeStatus>().NodeId;

        AcceptedReply reply = await ReplyTo(link, link.State.Send(node, "train", Train()));

        Assert.Null(reply.Message.Error);
        var device = (FlowerConfigRecord)reply.Message.Content!.Items.Single(i => i.Key == "fededge").Value;
        var values = device.Items.ToDictionary(i => i.Key, i => i.Value);
        Assert.StartsWith("shortened: SoC hot", values["governor"].String, StringComparison.Ordinal);
        Assert.Equal(3, values["steps"].Sint64);
        Assert.Equal(71.5, values["temperature-c"].Double);
        Assert.Single(reply.Message.Content.Items, i => i.Value is FlowerArrayRecord);
        Assert.Single(reply.Message.Content.Items, i => i.Value is FlowerMetricRecord);
        Assert.Equal(1, worker.LastRound);
        await host.StopAsync();
    }

    [Fact]
    public async Task Governor_Declines_ErrorReplySaysWhyAndWorkerStaysReady()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        IHost host = Compose(link, new DecliningGovernor());
        await host.StartAsync();
        Worker worker = host.Services.GetRequiredService<Worker>();
        await worker.StartAsync();
        ulong node = host.Services.GetRequiredService<FlowerNodeStatus>().NodeId;

        AcceptedReply reply = await ReplyTo(link, link.State.Send(node, "train", Train()));

        Assert.NotNull(reply.Message.Error);
        Assert.Contains("declined by the governor: SoC at 86 °C", reply.Message.Error.Reason, StringComparison.Ordinal);
        Assert.Null(reply.Message.Content);
        Assert.Equal(WorkerState.ReadyForLearning, worker.State);
        Assert.Empty(link.State.Refusals);

        // Leaving: disposing the host disposes the worker and its transport, which deactivates and unregisters.
        await host.StopAsync();
        await ((IAsyncDisposable)host).DisposeAsync();
        Assert.Contains($"deactivate {node}", link.State.Events);
        Assert.Contains($"unregister {node}", link.State.Events);
    }

    [Fact]
    public async Task Train_ArraysNotMatchingTheModel_RefusedWithErrorReply()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        using IHost host = Compose(link, new StepCapGovernor(100));
        await host.StartAsync();
        Worker worker = host.Services.GetRequiredService<Worker>();
        await worker.StartAsync();
        ulong node = host.Services.GetRequiredService<FlowerNodeStatus>().NodeId;
        var wrong = new FlowerArray("int64", [2], FlowerArray.NumpyStype, Npy.Write([1f, 2f], [2]));

        AcceptedReply reply = await ReplyTo(link, link.State.Send(node, "train", new FlowerRecordDict([new("arrays", new FlowerArrayRecord([new("w", wrong)]))])));

        Assert.NotNull(reply.Message.Error);
        Assert.Contains("refused by the FedEdge node", reply.Message.Error.Reason, StringComparison.Ordinal);
        await host.StopAsync();
    }
}
