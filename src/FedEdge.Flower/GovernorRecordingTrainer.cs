using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Flower;

/// <summary>What the governor did in the last local training run (the worker's update does not carry it).</summary>
internal sealed class GovernorLog
{
    private TrainingResult? _last;

    public TrainingResult? Last => Volatile.Read(ref _last);

    public void Record(TrainingResult result) => Volatile.Write(ref _last, result);
}

/// <summary>Passes training through to the real trainer and records whether the governor cut it short.</summary>
internal sealed class GovernorRecordingTrainer(ITrainer inner, GovernorLog log) : ITrainer
{
    public ParameterLayout Layout => inner.Layout;

    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        TrainingResult result = await inner.TrainAsync(request, cancellationToken).ConfigureAwait(false);
        log.Record(result);
        return result;
    }

    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
        inner.EvaluateAsync(parameters, data, cancellationToken);
}
