using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Training;

namespace FedEdge.Transport.Tests;

internal static class TestData
{
    /// <summary>Runs the coordinator's rounds to the end (60 s at most, or <paramref name="cancellationToken"/>) and returns them.</summary>
    public static async Task<List<Coordination.RoundResult>> RunAllRoundsAsync(Coordination.Coordinator coordinator, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var results = new List<Coordination.RoundResult>();
        await foreach (Coordination.RoundResult r in coordinator.RunAsync(timeout.Token))
        {
            results.Add(r);
        }

        return results;
    }

    public static ParameterSet RandomSet(int seed, int length, float magnitude = 1f)
    {
        var random = new Random(seed);
        int first = Math.Max(1, length / 3);
        var layout = length > 1
            ? new ParameterLayout(new TensorSpec("fc1.weight", first), new TensorSpec("fc1.bias", length - first))
            : new ParameterLayout(new TensorSpec("w", 1));
        var set = new ParameterSet(layout);
        Span<float> values = set.Values;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1) * magnitude;
        }

        return set;
    }

    public static RoundTask Task(long round, ParameterSet parameters) => new()
    {
        Round = round,
        Nonce = "nonce-" + round,
        GlobalParameters = parameters,
        HyperParameters = new TrainingHyperParameters { LocalEpochs = 2, BatchSize = 16, LearningRate = 0.05f, LocalIterations = 7, Seed = 42, Extra = new Dictionary<string, string> { ["k"] = "v" } },
        Deadline = new DateTimeOffset(2026, 11, 22, 23, 0, 0, TimeSpan.Zero),
        Config = new Dictionary<string, string> { ["mu"] = "0.1" },
    };

    public static ModelUpdate Update(string sender, long round, ParameterSet values, UpdateKind kind = UpdateKind.Parameters) => new()
    {
        SenderId = sender,
        Round = round,
        Nonce = "nonce-" + round,
        SampleCount = 128,
        Kind = kind,
        Values = values,
        Metrics = new Dictionary<string, double> { ["loss"] = 0.25 },
    };

    public static DeviceStatus Status(string device, DeviceIntent intent) => new()
    {
        DeviceId = device,
        Intent = intent,
        Telemetry = new DeviceTelemetry { TemperatureCelsius = 61.5, Throttled = false, FreeMemoryBytes = 1 << 20, SampleCount = 500 },
    };
}
