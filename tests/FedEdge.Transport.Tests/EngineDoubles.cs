using FedEdge.Admission;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Transport.Tests;

/// <summary>Admits every device (the engine tests here are about transports, not admission).</summary>
internal sealed class AdmitAll : IAdmissionPolicy
{
    public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(AdmissionDecision.Admit());
}

/// <summary>A trainer that moves every parameter by <paramref name="step"/> and reports <paramref name="loss"/>: rounds are cheap and their effect is known.</summary>
internal sealed class ShiftTrainer(float step, double loss, ParameterLayout layout) : ITrainer
{
    public ParameterLayout Layout => layout;

    public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ParameterSet next = request.GlobalParameters.Clone();
        foreach (ref float v in next.Values)
        {
            v += step;
        }

        return ValueTask.FromResult(new TrainingResult { Parameters = next, SampleCount = request.Data.Count, Steps = 1, Loss = loss });
    }

    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new EvaluationResult { Loss = 0, Count = 0, Scores = [] });
}
