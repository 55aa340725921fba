using FedEdge.Data;

namespace FedEdge.Training;

/// <summary>
/// The trainer port: trains a model from the round's global parameters on local data that never
/// leaves the device, and evaluates parameters on local data. Implemented by Core's managed trainer
/// and by FedEdge.Torch.
/// </summary>
public interface ITrainer
{
    /// <summary>The layout of the parameters this trainer's model has; global parameters must match it.</summary>
    ParameterLayout Layout { get; }

    /// <summary>Trains locally and returns the result. Honours cancellation between steps.</summary>
    ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default);

    /// <summary>Scores <paramref name="data"/> with <paramref name="parameters"/>.</summary>
    ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default);
}

/// <summary>Everything one local training run needs.</summary>
public sealed record TrainingRequest
{
    /// <summary>The round's global parameters (not modified by the trainer).</summary>
    public required ParameterSet GlobalParameters { get; init; }

    /// <summary>The round's hyper-parameters.</summary>
    public required TrainingHyperParameters HyperParameters { get; init; }

    /// <summary>The local training data.</summary>
    public required Dataset Data { get; init; }

    /// <summary>An optional governor consulted before and during training (e.g. thermal).</summary>
    public ITrainingGovernor? Governor { get; init; }

    /// <summary>Optional progress reports, one per optimiser step or batch of steps.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>
    /// The federated round this training belongs to (the round task's number), or null outside a federation. A
    /// worker sets it; trainers whose schedule depends on the round (e.g. a pruning schedule that starts once the
    /// model has learned) read it, and every device of a round sees the same number.
    /// </summary>
    public long? Round { get; init; }

    /// <summary>
    /// The round task's configuration entries (<see cref="Messaging.RoundTask.Config"/>), the same for every device of
    /// the round; empty outside a federation. A trainer reads the schedule its coordinator announces from it.
    /// </summary>
    public IReadOnlyDictionary<string, string> Config { get; init; } = new Dictionary<string, string>();
}

/// <summary>A progress report during local training.</summary>
/// <param name="Step">Steps done so far.</param>
/// <param name="PlannedSteps">Steps planned (may shrink when a governor cuts training).</param>
/// <param name="Loss">The loss of the last step.</param>
public readonly record struct TrainingProgress(int Step, int PlannedSteps, double Loss);

/// <summary>The outcome of one local training run.</summary>
public sealed record TrainingResult
{
    /// <summary>The trained parameters.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary>The number of samples trained on (the aggregation weight).</summary>
    public required long SampleCount { get; init; }

    /// <summary>Optimiser steps actually done.</summary>
    public required int Steps { get; init; }

    /// <summary>The mean loss over the last epoch or last steps.</summary>
    public required double Loss { get; init; }

    /// <summary>Wall time of the run.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Peak memory the run used, in bytes, where measurable.</summary>
    public long? PeakMemoryBytes { get; init; }

    /// <summary>True when a governor cut the run short.</summary>
    public bool CutByGovernor { get; init; }

    /// <summary>The governor's reason when it declined or cut the run; null otherwise.</summary>
    public string? GovernorReason { get; init; }

    /// <summary>Further metrics by name.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();
}

/// <summary>The outcome of scoring parameters on a data set.</summary>
public sealed record EvaluationResult
{
    /// <summary>The mean loss.</summary>
    public required double Loss { get; init; }

    /// <summary>The number of rows scored.</summary>
    public required int Count { get; init; }

    /// <summary>The model's score per row (probability of class 1 for classifiers, reconstruction error for autoencoders).</summary>
    public required float[] Scores { get; init; }

    /// <summary>Further metrics by name (accuracy, f1, ...).</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();
}
