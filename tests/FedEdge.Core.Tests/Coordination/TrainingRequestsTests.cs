using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Selection;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>Carried-over training requests survive a restart through the checkpoint.</summary>
public sealed class TrainingRequestsTests
{
    [Fact]
    public async Task Restore_CarriedOverRequest_StandsWhenTheDeviceRejoinsAndKeepsItsPlace()
    {
        var time = new FakeTimeProvider();
        var options = new CoordinatorOptions { MinParticipants = 2, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(10) };
        var registry = new DeviceRegistry();
        using var requests = new TrainingRequests(options, registry, time);
        requests.Restore(null, ["carried"]);

        // Both rejoin; the carried device's request stands from its join, the other one must ask.
        foreach (string id in new[] { "carried", "fresh" })
        {
            registry.Admit(id, time.GetUtcNow());
            requests.OnJoined(id);
        }

        registry.Announce(new DeviceStatus { DeviceId = "fresh", Intent = DeviceIntent.Training }, time.GetUtcNow(), out _);
        requests.Request("fresh", busyInRound: false, participantOfRunningRound: false);
        registry.Announce(new DeviceStatus { DeviceId = "carried", Intent = DeviceIntent.Training }, time.GetUtcNow(), out _);
        Assert.Equal(WindowRequestOutcome.AlreadyPending, requests.Request("carried", busyInRound: false, participantOfRunningRound: false));

        List<DeviceStatus>? window = await requests.CollectAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(window);
        Assert.Equal(["carried", "fresh"], window.Select(d => d.DeviceId));
    }

    [Fact]
    public void OnJoined_DeviceWithoutCarriedRequest_LosesItsPendingRequest()
    {
        var time = new FakeTimeProvider();
        var options = new CoordinatorOptions { MinParticipants = 1, WindowDuration = TimeSpan.FromSeconds(10) };
        var registry = new DeviceRegistry();
        using var requests = new TrainingRequests(options, registry, time);
        registry.Admit("d", time.GetUtcNow());
        registry.Announce(new DeviceStatus { DeviceId = "d", Intent = DeviceIntent.Training }, time.GetUtcNow(), out _);
        Assert.Equal(WindowRequestOutcome.Opened, requests.Request("d", busyInRound: false, participantOfRunningRound: false));

        requests.OnJoined("d");

        Assert.Empty(requests.Export().Window.Pending);
    }
}
