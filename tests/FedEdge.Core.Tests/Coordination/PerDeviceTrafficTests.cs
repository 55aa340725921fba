using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using FsCheck;
using FsCheck.Xunit;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>Per-device traffic in <see cref="TransportStatistics"/>: bounded, adding up, and counted by the in-process transport.</summary>
public sealed class PerDeviceTrafficTests
{
    [Fact]
    public void Table_BeyondItsCap_PoolsFurtherDevicesUnderOther()
    {
        var statistics = new TransportStatistics { MaxTrackedDevices = 2 };
        for (int i = 0; i < 1000; i++)
        {
            statistics.RecordReceived(10, $"forged-{i}");
        }

        statistics.RecordSent(7, "forged-0");
        statistics.RecordSent(5, "forged-999");
        statistics.RecordSent(100, deviceId: null);

        IReadOnlyDictionary<string, DeviceTraffic> rows = statistics.PerDevice;
        Assert.Equal(["(other)", "forged-0", "forged-1"], rows.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new DeviceTraffic(7, 10, 1, 1), rows["forged-0"]);
        Assert.Equal(new DeviceTraffic(5, 998 * 10, 1, 998), rows[TransportStatistics.OtherDevices]);
        Assert.Equal(10_000, statistics.BytesReceived);

        // The broadcast is in the totals and in no row.
        Assert.Equal(112, statistics.BytesSent);
        Assert.Equal(12, rows.Values.Sum(r => r.BytesSent));
    }

    [Property(MaxTest = 50)]
    public bool Rows_AlwaysAddUpToTheTotals(NonEmptyArray<Tuple<byte, PositiveInt, bool>> messages)
    {
        var statistics = new TransportStatistics { MaxTrackedDevices = 3 };
        foreach ((byte device, PositiveInt bytes, bool sent) in messages.Get)
        {
            string id = "d" + (device % 8);
            if (sent)
            {
                statistics.RecordSent(bytes.Get, id);
            }
            else
            {
                statistics.RecordReceived(bytes.Get, id);
            }
        }

        IReadOnlyDictionary<string, DeviceTraffic> rows = statistics.PerDevice;
        return rows.Count <= 4
            && rows.Values.Sum(r => r.BytesSent) == statistics.BytesSent
            && rows.Values.Sum(r => r.BytesReceived) == statistics.BytesReceived
            && rows.Values.Sum(r => r.MessagesSent + r.MessagesReceived) == messages.Get.Length;
    }

    [Fact]
    public async Task InProcess_TwoDevicesOfDifferentSizes_CountedPerDevice()
    {
        var network = new InProcessNetwork();
        await using ICoordinatorTransport coordinator = network.CreateCoordinatorTransport();
        await coordinator.StartAsync(new Silent());
        await using IWorkerTransport small = network.CreateWorkerTransport("small");
        await using IWorkerTransport large = network.CreateWorkerTransport("large");
        await small.ConnectAsync(new Silent());
        await large.ConnectAsync(new Silent());

        await small.SendUpdateAsync(Update("small", 10));
        await large.SendUpdateAsync(Update("large", 10_000));
        await coordinator.SendTaskAsync("small", Task(10));
        await coordinator.SendTaskAsync("large", Task(10_000));
        await coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = "h", Parameters = Values(100) });

        IReadOnlyDictionary<string, DeviceTraffic> rows = coordinator.Statistics.PerDevice;
        Assert.True(rows["large"].BytesReceived - rows["small"].BytesReceived >= 9_990 * sizeof(float), rows["large"].ToString());
        Assert.True(rows["large"].BytesSent - rows["small"].BytesSent >= 9_990 * sizeof(float), rows["large"].ToString());

        // The in-process transport hands every connected device its own copy of the model: each row has it.
        Assert.Equal(2, rows["small"].MessagesSent);
        Assert.Equal(coordinator.Statistics.BytesSent, rows.Values.Sum(r => r.BytesSent));
        Assert.Equal(coordinator.Statistics.BytesReceived, rows.Values.Sum(r => r.BytesReceived));
    }

    private static ParameterSet Values(int length) => new(new ParameterLayout(new TensorSpec("w", length)));

    private static ModelUpdate Update(string sender, int length) =>
        new() { SenderId = sender, Round = 1, Nonce = "n", SampleCount = 1, Values = Values(length) };

    private static RoundTask Task(int length) => new()
    {
        Round = 1,
        Nonce = "n",
        GlobalParameters = Values(length),
        HyperParameters = new TrainingHyperParameters(),
        Deadline = DateTimeOffset.UnixEpoch,
    };

    private sealed class Silent : ICoordinatorHandler, IWorkerHandler
    {
        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new JoinResponse { Accepted = true });

        public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
