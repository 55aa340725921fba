using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Hardware.Tests;

/// <summary>The thermal governor inside Core's managed trainer (CoLearn's 10-50-30-1 network).</summary>
public sealed class ManagedTrainerGovernorTests
{
    private static Dataset Rows(int count)
    {
        float[] features = new float[count * 10];
        float[] labels = new float[count];
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < 10; j++)
            {
                features[(i * 10) + j] = (float)Math.Sin((i * 0.37) + j);
            }

            labels[i] = features[i * 10] > 0 ? 1 : 0;
        }

        return new Dataset(features, labels, 10);
    }

    private static TrainingRequest Request(ITrainingGovernor governor, IProgress<TrainingProgress>? progress = null)
    {
        ManagedTrainer trainer = new(NetworkSpec.CoLearn);
        return new TrainingRequest
        {
            GlobalParameters = NetworkSpec.CoLearn.InitializeParameters(7),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 40, BatchSize = 8, Seed = 3 },
            Data = Rows(64),
            Governor = governor,
            Progress = progress,
        };
    }

    private static readonly ThermalGovernorOptions NoPause = new() { PauseBetweenBatches = TimeSpan.Zero, CheckInterval = TimeSpan.Zero };

    [Fact]
    public async Task TrainAsync_Warm_RunsHalfThePlannedSteps()
    {
        SettableTelemetry telemetry = new() { Temperature = 72 };
        TrainingResult result = await new ManagedTrainer(NetworkSpec.CoLearn).TrainAsync(Request(FedEdgeHardware.CreateThermalGovernor(telemetry, NoPause)));

        Assert.Equal(20, result.Steps);
        Assert.True(result.CutByGovernor);
        Assert.StartsWith("thermal: warm", result.GovernorReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainAsync_Cool_RunsEveryStep()
    {
        SettableTelemetry telemetry = new() { Temperature = 58 };
        TrainingResult result = await new ManagedTrainer(NetworkSpec.CoLearn).TrainAsync(Request(FedEdgeHardware.CreateThermalGovernor(telemetry, NoPause)));

        Assert.Equal(40, result.Steps);
        Assert.False(result.CutByGovernor);
    }

    [Fact]
    public async Task TrainAsync_Hot_DeclinedWithoutTraining()
    {
        SettableTelemetry telemetry = new() { Temperature = 82 };
        TrainingResult result = await new ManagedTrainer(NetworkSpec.CoLearn).TrainAsync(Request(FedEdgeHardware.CreateThermalGovernor(telemetry, NoPause)));

        Assert.Equal(0, result.Steps);
        Assert.Equal(0, result.SampleCount);
        Assert.Contains("too hot", result.GovernorReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainAsync_HeatsUpMidRun_StopsAtTheNextBatch()
    {
        SettableTelemetry telemetry = new() { Temperature = 60 };
        HeatAfter progress = new(telemetry, step: 10, celsius: 86);
        TrainingResult result = await new ManagedTrainer(NetworkSpec.CoLearn).TrainAsync(Request(FedEdgeHardware.CreateThermalGovernor(telemetry, NoPause), progress));

        Assert.InRange(result.Steps, 10, 11);
        Assert.True(result.CutByGovernor);
        Assert.Contains("too hot", result.GovernorReason, StringComparison.Ordinal);
    }

    private sealed class HeatAfter(SettableTelemetry telemetry, int step, double celsius) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Step >= step)
            {
                telemetry.Temperature = celsius;
            }
        }
    }
}
