using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>
/// A streaming strategy's running sum of floats depends on the order it is fed. The plaintext round folds the accepted
/// updates in the order of their senders' ids, so the new global model is the same bits whatever order the updates
/// raced in: here the same updates arrive in ascending, descending and shuffled order (each trainer waits a different
/// time before answering), and every federation must commit the model a sequential fold in id order gives. The
/// coordinator folds them a block of 16K coordinates at a time on the thread pool; 40,000 parameters span three blocks,
/// the last one partial, and the hash must still be that of <see cref="IAggregationRound.Add"/> called on each in turn.
/// </summary>
public sealed class FoldOrderTests
{
    private const int Devices = 24;
    private const int Length = 40_000;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", Length));

    /// <summary>Each device's update: values spread over eight orders of magnitude and a different sample count, so float sums round differently in different orders.</summary>
    private static (string Id, float[] Values, long Samples)[] Updates()
    {
        var random = new Random(20);
        return [.. Enumerable.Range(0, Devices).Select(d =>
        {
            var values = new float[Length];
            for (int i = 0; i < Length; i++)
            {
                values[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-4, 5)));
            }

            return ($"dev-{d:00}", values, (long)random.Next(1, 5000));
        })];
    }

    /// <summary>The hash of FedAvg over the updates folded one by one in the given order.</summary>
    private static string SequentialHash(IEnumerable<(string Id, float[] Values, long Samples)> order)
    {
        var global = new ParameterSet(Layout);
        using IAggregationRound round = AggregationStrategies.FedAvg().BeginRound(global);
        foreach ((string id, float[] values, long samples) in order)
        {
            round.Add(new ModelUpdate { SenderId = id, Round = 1, Nonce = "n", SampleCount = samples, Values = new ParameterSet(Layout, (float[])values.Clone()) });
        }

        return round.Complete().Parameters.ComputeHash();
    }

    [Fact]
    public void SequentialFold_TheseUpdates_DependOnOrder()
    {
        // Guards the test below: with these updates, folding them in another order gives other bits.
        var updates = Updates();

        Assert.NotEqual(SequentialHash(updates), SequentialHash(updates.Reverse()));
    }

    [Theory]
    [InlineData("ascending")]
    [InlineData("descending")]
    [InlineData("shuffled")]
    public async Task RunRoundAsync_UpdatesArrivingInAnyOrder_CommitTheModelOfTheFoldInSenderOrder(string arrival)
    {
        var updates = Updates();
        int[] rank = arrival switch
        {
            "ascending" => [.. Enumerable.Range(0, Devices)],
            "descending" => [.. Enumerable.Range(0, Devices).Reverse()],
            _ => [.. Enumerable.Range(0, Devices).OrderBy(_ => Random.Shared.Next())],
        };

        var network = new InProcessNetwork();
        var options = new CoordinatorOptions
        {
            MaxRounds = 1,
            MinParticipants = Devices,
            WindowSize = Devices,
            WindowDuration = TimeSpan.FromSeconds(30),
            RoundTimeout = TimeSpan.FromSeconds(30),
            ResumeFromCheckpoint = false,
        };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), AggregationStrategies.FedAvg(), new DenyListAdmission());
        await coordinator.StartAsync(new ParameterSet(Layout));
        var workers = new List<Worker>();
        try
        {
            for (int d = 0; d < Devices; d++)
            {
                (string id, float[] values, long samples) = updates[d];
                var trainer = new FixedUpdateTrainer(values, samples, TimeSpan.FromMilliseconds(15 * rank[d]));
                var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = id }), network.CreateWorkerTransport(id), trainer, new InMemoryDataSource(TestData.Constant(2, 1, 0f)));
                workers.Add(worker);
                await worker.StartAsync();
            }

            RoundResult result = await coordinator.RunRoundAsync().AsTask().WaitAsync(Wait);

            Assert.True(result.Completed, result.FailureReason);
            Assert.Equal(Devices, result.Contributors.Count);
            Assert.Equal(SequentialHash(updates.OrderBy(u => u.Id, StringComparer.Ordinal)), result.GlobalHash);
        }
        finally
        {
            foreach (Worker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    /// <summary>Answers every task with the same parameters and sample count after a fixed delay.</summary>
    private sealed class FixedUpdateTrainer(float[] values, long samples, TimeSpan delay) : ITrainer
    {
        public ParameterLayout Layout => FoldOrderTests.Layout;

        public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            await Task.Delay(delay, cancellationToken);
            return new TrainingResult { Parameters = new ParameterSet(Layout, (float[])values.Clone()), SampleCount = samples, Steps = 1, Loss = 0 };
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = data.Count, Scores = new float[data.Count] });
    }
}
