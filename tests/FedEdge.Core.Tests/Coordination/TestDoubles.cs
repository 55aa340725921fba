using FedEdge.Admission;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Coordination;

/// <summary>
/// A tiny real trainer for engine tests: the model is one vector <c>w</c>; each local step moves it a
/// fraction <c>lr</c> toward the mean of the local feature rows, so FedAvg's fixed point is the
/// sample-weighted mean of all rows and every result can be computed by hand. A gate lets a test
/// hold training mid-round.
/// </summary>
internal sealed class MeanTrainer : ITrainer
{
    private readonly SemaphoreSlim? _gate;

    public MeanTrainer(int features, SemaphoreSlim? gate = null)
    {
        Layout = new ParameterLayout(new TensorSpec("w", features));
        _gate = gate;
    }

    public ParameterLayout Layout { get; }

    public int Calls;

    public Exception? ThrowOnTrain { get; set; }

    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        if (_gate is not null)
        {
            await _gate.WaitAsync(cancellationToken);
        }

        if (ThrowOnTrain is not null)
        {
            throw ThrowOnTrain;
        }

        float[] mean = Mean(request.Data);
        ParameterSet p = request.GlobalParameters.Clone();
        int steps = request.HyperParameters.LocalIterations ?? request.HyperParameters.LocalEpochs;
        for (int s = 0; s < steps; s++)
        {
            Span<float> w = p.Values;
            for (int i = 0; i < w.Length; i++)
            {
                w[i] += request.HyperParameters.LearningRate * (mean[i] - w[i]);
            }
        }

        return new TrainingResult { Parameters = p, SampleCount = request.Data.Count, Steps = steps, Loss = Distance(p, mean) };
    }

    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default)
    {
        float[] mean = Mean(data);
        return ValueTask.FromResult(new EvaluationResult { Loss = Distance(parameters, mean), Count = data.Count, Scores = new float[data.Count] });
    }

    public static float[] Mean(Dataset data)
    {
        var mean = new float[data.FeatureCount];
        for (int r = 0; r < data.Count; r++)
        {
            ReadOnlySpan<float> row = data.Row(r);
            for (int i = 0; i < mean.Length; i++)
            {
                mean[i] += row[i] / data.Count;
            }
        }

        return mean;
    }

    private static double Distance(ParameterSet p, float[] target)
    {
        double sum = 0;
        ReadOnlySpan<float> w = p.Values;
        for (int i = 0; i < w.Length; i++)
        {
            sum += (w[i] - target[i]) * (w[i] - target[i]);
        }

        return sum;
    }
}

/// <summary>Admits every device except those named; refused ones get a reason.</summary>
internal sealed class DenyListAdmission(params string[] denied) : IAdmissionPolicy
{
    public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(denied.Contains(request.DeviceId)
            ? AdmissionDecision.Refuse($"device '{request.DeviceId}' has no valid MUD profile")
            : AdmissionDecision.Admit());
}

/// <summary>Plays a device by hand over a real transport, recording what it receives.</summary>
internal sealed class ManualDevice : IWorkerHandler
{
    public System.Collections.Concurrent.ConcurrentQueue<RoundTask> Tasks { get; } = new();

    public System.Collections.Concurrent.ConcurrentQueue<UpdateReceipt> Receipts { get; } = new();

    public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        Tasks.Enqueue(task);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken)
    {
        Receipts.Enqueue(receipt);
        return ValueTask.CompletedTask;
    }

    public async Task<RoundTask> NextTaskAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        RoundTask? task;
        while (!Tasks.TryDequeue(out task))
        {
            await Task.Delay(5, cts.Token);
        }

        return task;
    }

    public async Task<UpdateReceipt> NextReceiptAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        UpdateReceipt? receipt;
        while (!Receipts.TryDequeue(out receipt))
        {
            await Task.Delay(5, cts.Token);
        }

        return receipt;
    }
}

internal static class TestData
{
    /// <summary>A data set of <paramref name="rows"/> (even) rows whose features alternate value ± 0.1, so their mean is exactly <paramref name="value"/>.</summary>
    public static Dataset Constant(int rows, int features, float value)
    {
        var f = new float[rows * features];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < features; i++)
            {
                f[(r * features) + i] = value + ((((r % 2) * 2) - 1) * 0.1f);
            }
        }

        return new Dataset(f, new float[rows], features);
    }
}
