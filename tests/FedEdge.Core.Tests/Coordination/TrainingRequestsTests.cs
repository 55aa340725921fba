using FedEdge.Coordination;
using FedEdge.Devices;
using FedEdge.Selection;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>Carried-over training requests survive a restart through the checkpoint.</summary>
public sealed class TrainingRequestsTests
{
    [Fact]
    public void Restore_CarriedOverRequests_AreKeptForTheNextCheckpointButNeverCountBeforeTheDeviceAsks()
    {
        var time = new FakeTimeProvider();
        var options = new CoordinatorOptions { MinParticipants = 2, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(10) };
        var registry = new DeviceRegistry();
        using var requests = new TrainingRequests(options, registry, time);
        requests.Restore(null, ["a", "b"]);
        foreach (string id in new[] { "a", "b" })
        {
            registry.Admit(id, time.GetUtcNow());
            requests.OnJoined(id);
        }

        // Neither has asked since the restart: the window must not have closed on N with devices that are not training.
        Assert.Empty(requests.Export().Window.Pending);
        Assert.Equal(["a", "b"], requests.Export().CarriedOver.Order());
    }

    [Fact]
    public void OnJoined_DeviceWithAPendingRequest_LosesIt()
    {
        var time = new FakeTimeProvider();
        var options = new CoordinatorOptions { MinParticipants = 1, WindowDuration = TimeSpan.FromSeconds(10) };
        var registry = new DeviceRegistry();
        using var requests = new TrainingRequests(options, registry, time);
        registry.Admit("d", time.GetUtcNow());
        registry.Announce(new DeviceStatus { DeviceId = "d", Intent = DeviceIntent.Training }, time.GetUtcNow(), out _, out _);
        Assert.Equal(WindowRequestOutcome.Opened, requests.Request("d", busyInRound: false, participantOfRunningRound: false));

        requests.OnJoined("d");

        Assert.Empty(requests.Export().Window.Pending);
    }
}
