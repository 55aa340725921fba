using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Torch.Tests;

/// <summary>The TorchSharp trainer consults the governor exactly like the managed trainer (shared <see cref="GovernorSession"/>).</summary>
public sealed class TorchTrainerGovernorTests
{
    private static Dataset SmallData()
    {
        var rows = new float[64 * 10];
        var labels = new float[64];
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = i % 2;
            for (int f = 0; f < 10; f++)
            {
                rows[(i * 10) + f] = labels[i] * 0.5f + (f * 0.01f);
            }
        }

        return new Dataset(rows, labels, 10);
    }

    [Fact]
    public async Task TrainAsync_GovernorDeclines_ReturnsGlobalParametersWithoutTraining()
    {
        ModelBundle model = TorchModels.CreateBundle("colearn", seed: 2);
        using var trainer = (TorchTrainer)model.Trainer;
        TrainingResult result = await trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = model.InitialParameters,
            Data = SmallData(),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 10, BatchSize = 8, LearningRate = 0.01f },
            Governor = new FixedGovernor(GovernorDecision.Decline("too hot")),
        });

        Assert.True(result.CutByGovernor);
        Assert.Equal(0, result.Steps);
        Assert.Equal(0, result.SampleCount);
        Assert.Equal("too hot", result.GovernorReason);
        Assert.Equal(model.InitialParameters.ComputeHash(), result.Parameters.ComputeHash());
    }

    [Fact]
    public async Task TrainAsync_GovernorCapsSteps_TrainsAtMostTheCap()
    {
        ModelBundle model = TorchModels.CreateBundle("colearn", seed: 2);
        using var trainer = (TorchTrainer)model.Trainer;
        TrainingResult result = await trainer.TrainAsync(new TrainingRequest
        {
            GlobalParameters = model.InitialParameters,
            Data = SmallData(),
            HyperParameters = new TrainingHyperParameters { LocalIterations = 10, BatchSize = 8, LearningRate = 0.01f },
            Governor = new FixedGovernor(new GovernorDecision { MaxSteps = 3, Reason = "warm" }),
        });

        Assert.True(result.CutByGovernor);
        Assert.Equal(3, result.Steps);
        Assert.Equal("warm", result.GovernorReason);
    }

    private sealed class FixedGovernor(GovernorDecision before) : ITrainingGovernor
    {
        public ValueTask<GovernorDecision> BeforeTrainingAsync(int plannedSteps, CancellationToken cancellationToken = default) => ValueTask.FromResult(before);

        public ValueTask<GovernorDecision> DuringTrainingAsync(int stepsDone, int plannedSteps, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(GovernorDecision.Proceed);
    }
}
