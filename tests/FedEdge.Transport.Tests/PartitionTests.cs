using System.Collections.Concurrent;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using FedEdge.Transport.Faults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// A worker cut off for longer than the heartbeat timeout is marked lost, the federation carries on without it,
/// and it rejoins by itself once the link heals. Real time with fast liveness settings and bounded polling.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class PartitionTests
{
    private const int DeviceLostEventId = 5031;
    private const int DeviceReturnedEventId = 5032;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Resend = TimeSpan.FromMilliseconds(100);
    private static readonly string[] Devices = ["p-1", "p-2", "p-3"];
    private const string Partitioned = "p-3";

    [Fact]
    public async Task Worker_PartitionedLongerThanHeartbeatTimeout_IsLostThenRejoinsByItself()
    {
        var layout = new ParameterLayout(new TensorSpec("w", 8, 8), new TensorSpec("b", 8));
        var network = new InProcessNetwork();
        var coordinatorLog = new RecordingLogger<Coordinator>();
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions
            {
                Federation = "partition",
                MaxRounds = 1000,
                MinParticipants = 2,
                WindowSize = 3,
                WindowDuration = TimeSpan.FromSeconds(1),
                RoundTimeout = TimeSpan.FromSeconds(10),
                HeartbeatInterval = Heartbeat,
                MissedHeartbeats = 5,
                ResendDelay = Resend,
                MaxResendDelay = TimeSpan.FromMilliseconds(500),
                Seed = 1,
            }),
            network.CreateCoordinatorTransport(),
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            logger: coordinatorLog);
        Assert.False(await coordinator.StartAsync(new ParameterSet(layout)));

        var faults = new FaultOptions { DropRate = 0, Seed = 7 };
        var data = new Dataset(new float[20], new float[10], 2);
        var workers = new List<Worker>();
        try
        {
            foreach (string device in Devices)
            {
                IWorkerTransport transport = network.CreateWorkerTransport(device);
                if (device == Partitioned)
                {
                    transport = transport.WithFaults(faults, link: device);
                }

                var options = new WorkerOptions { DeviceId = device, HeartbeatInterval = Heartbeat, ResendDelay = Resend, MaxResendDelay = TimeSpan.FromMilliseconds(500) };
                var worker = new Worker(Options.Create(options), transport, new ShiftTrainer(0.125f, 0.5, layout), new InMemoryDataSource(data));
                workers.Add(worker);
                await worker.StartAsync();
            }

            // Healthy: a round aggregates all three.
            RoundResult healthy = await RunRoundsUntilAsync(coordinator, r => r.Completed && r.Contributors.Count == 3, "a round with all three devices");
            Assert.Equal(Devices, healthy.Contributors.Order(StringComparer.Ordinal));

            // Partition: everything to and from p-3 is dropped, for longer than 5 missed heartbeats.
            // (On a loaded machine a healthy device may also miss 500 ms and be marked lost and back, and a message
            // p-3 sent just before the cut may still be in the coordinator's queue; the checks below tolerate both.)
            int lostBefore = coordinatorLog.Count(DeviceLostEventId, Partitioned);
            faults.DropRate = 1.0;
            await PollAsync(() => coordinatorLog.Count(DeviceLostEventId, Partitioned) > lostBefore, "the coordinator to mark p-3 lost");

            var cut = new List<RoundResult>();
            RoundResult without = await RunRoundsUntilAsync(coordinator, r => r.Completed && !r.Selected.Contains(Partitioned), "a round completing without p-3", cut);
            Assert.Equal(["p-1", "p-2"], without.Contributors.Order(StringComparer.Ordinal));
            Assert.All(cut, r => Assert.DoesNotContain(Partitioned, r.Contributors));

            // Still cut off, p-3 ends up lost (again, if a message queued before the cut briefly brought it back).
            await PollAsync(() => coordinatorLog.Last(Partitioned, DeviceLostEventId, DeviceReturnedEventId) == DeviceLostEventId, "p-3 to stay lost while cut off");
            int returnedWhileCut = coordinatorLog.Count(DeviceReturnedEventId, Partitioned);

            // Heal: p-3 is heard again and contributes to a later round without any help from the test.
            faults.DropRate = 0;
            RoundResult rejoined = await RunRoundsUntilAsync(coordinator, r => r.Completed && r.Contributors.Contains(Partitioned), "a round with p-3 among the contributors");
            Assert.True(rejoined.Round > without.Round);
            Assert.True(coordinatorLog.Count(DeviceReturnedEventId, Partitioned) > returnedWhileCut, "the coordinator never logged p-3's return\n" + coordinatorLog.Dump());
            Assert.True(faults.Counters.Dropped > 0);
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task<RoundResult> RunRoundsUntilAsync(Coordinator coordinator, Func<RoundResult, bool> done, string what, List<RoundResult>? results = null)
    {
        using var cts = new CancellationTokenSource(Deadline);
        var seen = new List<string>();
        while (true)
        {
            Assert.False(cts.IsCancellationRequested, $"timed out waiting for {what}; rounds: {string.Join("; ", seen)}");
            RoundResult result;
            try
            {
                result = await coordinator.RunRoundAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                Assert.Fail($"timed out waiting for {what}; rounds: {string.Join("; ", seen)}");
                throw;
            }

            results?.Add(result);
            seen.Add($"{result.Round}: completed={result.Completed} contributors=[{string.Join(",", result.Contributors)}] {result.FailureReason}");
            if (done(result))
            {
                return result;
            }
        }
    }

    private static async Task PollAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Deadline);
        while (!condition())
        {
            Assert.False(cts.IsCancellationRequested, "timed out waiting for " + what);
            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>Keeps the event id and device id of every log entry.</summary>
    private sealed class RecordingLogger<T> : ILogger<T>
    {
        private readonly ConcurrentQueue<(int EventId, string? DeviceId, string Message)> _entries = new();

        public int Last(string deviceId, params int[] eventIds) =>
            _entries.LastOrDefault(e => e.DeviceId == deviceId && eventIds.Contains(e.EventId)).EventId;

        public string Dump() => string.Join("\n", _entries.Select(e => $"{e.EventId} {e.Message}"));

        public int Count(int eventId, string deviceId) => _entries.Count(e => e.EventId == eventId && e.DeviceId == deviceId);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string? device = null;
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                device = pairs.FirstOrDefault(p => p.Key == "DeviceId").Value as string;
            }

            _entries.Enqueue((eventId.Id, device, formatter(state, exception)));
        }
    }
}
