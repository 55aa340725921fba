using FedEdge.Devices;
using FedEdge.Selection;

namespace FedEdge.Core.Tests.Selection;

public sealed class ClientSelectorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly ClientSelectionContext Round1 = new() { Round = 1 };

    private static DeviceStatus Device(string id, DeviceIntent intent = DeviceIntent.Training, long? samples = null, double? temp = null, bool? throttled = null, int seconds = 0) => new()
    {
        DeviceId = id,
        Intent = intent,
        Telemetry = new DeviceTelemetry { SampleCount = samples, TemperatureCelsius = temp, Throttled = throttled },
        ReceivedAt = T0.AddSeconds(seconds),
    };

    private static string[] Ids(IEnumerable<DeviceStatus> statuses) => statuses.Select(s => s.DeviceId).ToArray();

    [Fact]
    public void All_MixedIntents_KeepsOnlyTrainingDevicesOncePerId()
    {
        DeviceStatus[] candidates =
        [
            Device("c"), Device("a", DeviceIntent.Inference), Device("b", DeviceIntent.NotReady),
            Device("d", DeviceIntent.Training, seconds: 1), Device("d", DeviceIntent.NotReady, seconds: 2),
            Device("e", DeviceIntent.NotReady, seconds: 1), Device("e", DeviceIntent.Training, seconds: 2),
        ];
        Assert.Equal(["c", "e"], Ids(ClientSelectors.All().Select(candidates, Round1)));
    }

    [Theory]
    [InlineData(20, 0.1, 3, 3)]
    [InlineData(20, 0.25, 1, 5)]
    [InlineData(20, 1.0, 1, 20)]
    [InlineData(2, 0.1, 5, 2)]
    public void RandomFraction_SelectsMaxOfCeilFractionAndMinimum(int available, double fraction, int minimum, int expected)
    {
        DeviceStatus[] candidates = Enumerable.Range(0, available).Select(i => Device($"dev-{i:00}")).Append(Device("idle", DeviceIntent.NotReady)).ToArray();
        IReadOnlyList<DeviceStatus> chosen = ClientSelectors.RandomFraction(fraction, minimum, seed: 42).Select(candidates, Round1);
        Assert.Equal(expected, chosen.Count);
        Assert.Equal(expected, chosen.Select(c => c.DeviceId).Distinct().Count());
        Assert.DoesNotContain(chosen, c => c.DeviceId == "idle");
    }

    [Fact]
    public void RandomFraction_SameSeedAndRound_Reproducible_OtherRoundDiffers()
    {
        DeviceStatus[] candidates = Enumerable.Range(0, 40).Select(i => Device($"dev-{i:00}")).ToArray();
        IClientSelector selector = ClientSelectors.RandomFraction(0.2, 1, seed: 7);
        string[] first = Ids(selector.Select(candidates, Round1));
        Assert.Equal(first, Ids(ClientSelectors.RandomFraction(0.2, 1, seed: 7).Select(candidates.Reverse().ToArray(), Round1)));
        string[][] later = Enumerable.Range(2, 5).Select(r => Ids(selector.Select(candidates, new ClientSelectionContext { Round = r }))).ToArray();
        Assert.Contains(later, ids => !ids.SequenceEqual(first));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void RandomFraction_BadFraction_Throws(double fraction)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ClientSelectors.RandomFraction(fraction));
    }

    [Fact]
    public void Scored_PrefersMoreSamplesCoolerUnthrottled_ExcludesHotAndNonTraining()
    {
        DeviceStatus[] candidates =
        [
            Device("small", samples: 50, temp: 45),
            Device("big", samples: 10_000, temp: 45),
            Device("big-warm", samples: 10_000, temp: 70),
            Device("big-throttled", samples: 10_000, temp: 45, throttled: true),
            Device("big-hot", samples: 100_000, temp: 85),
            Device("big-inference", DeviceIntent.Inference, samples: 100_000),
            Device("unknown"),
        ];
        string[] order = Ids(ClientSelectors.Scored(10).Select(candidates, Round1));
        Assert.Equal(["big", "big-warm", "big-throttled", "small", "unknown"], order);
        Assert.Equal(["big", "big-warm"], Ids(ClientSelectors.Scored(2).Select(candidates, Round1)));
        Assert.DoesNotContain("big-throttled", Ids(ClientSelectors.Scored(10, new DeviceScoreOptions { ExcludeThrottled = true }).Select(candidates, Round1)));
    }

    [Fact]
    public void Scored_Ties_BrokenByDeviceId()
    {
        DeviceStatus[] candidates = [Device("b", samples: 5), Device("a", samples: 5), Device("c", samples: 5)];
        Assert.Equal(["a", "b"], Ids(ClientSelectors.Scored(2).Select(candidates, Round1)));
    }

    [Fact]
    public void Scored_InvalidOptions_Throw()
    {
        Assert.Throws<ArgumentException>(() => ClientSelectors.Scored(3, new DeviceScoreOptions { SampleWeight = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClientSelectors.Scored(0));
    }
}
