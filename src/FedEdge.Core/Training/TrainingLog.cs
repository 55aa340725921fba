using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace FedEdge.Training;

/// <summary>Source-generated log messages of the managed trainer (event ids 5400-5419).</summary>
internal static partial class TrainingLog
{
    [LoggerMessage(5400, LogLevel.Information, "Trained {Network}: {Steps} steps on {Samples} rows, loss {Loss}, {Seconds:F3} s")]
    public static partial void Trained(ILogger logger, string network, int steps, long samples, double loss, double seconds);

    [LoggerMessage(5401, LogLevel.Warning, "Training {Network} limited by the governor after {Steps} steps: {Reason}")]
    public static partial void Governed(ILogger logger, string network, int steps, string reason);
}

/// <summary>The managed trainer's instruments on the <c>FedEdge.Core</c> meter.</summary>
internal sealed class TrainingInstruments
{
    public TrainingInstruments(IMeterFactory? meterFactory)
    {
        Meter meter = meterFactory?.Create("FedEdge.Core") ?? new Meter("FedEdge.Core");
        Steps = meter.CreateCounter<long>("fededge.training.steps", "{step}", "Optimiser steps done by the managed trainer.");
        Duration = meter.CreateHistogram<double>("fededge.training.duration", "s", "Wall time of a local training run of the managed trainer.");
    }

    public Counter<long> Steps { get; }

    public Histogram<double> Duration { get; }
}
