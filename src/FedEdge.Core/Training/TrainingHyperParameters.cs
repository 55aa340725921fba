namespace FedEdge.Training;

/// <summary>The hyper-parameters a coordinator sends with a round task for local training.</summary>
public sealed record TrainingHyperParameters
{
    /// <summary>Local passes over the data (FedAvg's E). Ignored when <see cref="LocalIterations"/> is set.</summary>
    public int LocalEpochs { get; init; } = 1;

    /// <summary>Local optimiser steps (HierFAVG's k1, FedSGD's 1); overrides <see cref="LocalEpochs"/> when set.</summary>
    public int? LocalIterations { get; init; }

    /// <summary>Mini-batch size (FedAvg's B).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Micro-batch size for gradient accumulation (MEDNN); null means no micro-batching.</summary>
    public int? MicroBatchSize { get; init; }

    /// <summary>Learning rate.</summary>
    public float LearningRate { get; init; } = 0.01f;

    /// <summary>FedProx proximal term μ; 0 disables it.</summary>
    public float ProximalMu { get; init; }

    /// <summary>A seed for shuffling and dropout, so that a round is reproducible.</summary>
    public int Seed { get; init; }

    /// <summary>Extra strategy-specific settings, carried as text.</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();
}
