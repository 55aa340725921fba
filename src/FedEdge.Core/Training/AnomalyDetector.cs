using System.Text.Json;
using System.Text.Json.Serialization;
using FedEdge.Data;
using FedEdge.Metrics;

namespace FedEdge.Training;

/// <summary>How an anomaly threshold is derived from benign reconstruction errors.</summary>
public enum ThresholdMethod
{
    /// <summary>mean + k · standard deviation (FedIoT / N-BaIoT style); the parameter is k.</summary>
    MeanPlusKStd = 0,

    /// <summary>The q-quantile (linear interpolation); the parameter is q in (0, 1).</summary>
    Quantile = 1,
}

/// <summary>An anomaly threshold on reconstruction error, with the benign statistics it came from; serialisable as JSON.</summary>
public sealed record AnomalyThreshold
{
    /// <summary>The method.</summary>
    public required ThresholdMethod Method { get; init; }

    /// <summary>k for <see cref="ThresholdMethod.MeanPlusKStd"/>, q for <see cref="ThresholdMethod.Quantile"/>.</summary>
    public required double Parameter { get; init; }

    /// <summary>The threshold: errors strictly above it are anomalies.</summary>
    public required double Value { get; init; }

    /// <summary>The mean benign error.</summary>
    public required double Mean { get; init; }

    /// <summary>The (population) standard deviation of the benign errors.</summary>
    public required double StdDev { get; init; }

    /// <summary>The number of benign rows the threshold was fitted on.</summary>
    public required int SampleCount { get; init; }

    /// <summary>Fits a threshold on benign reconstruction errors.</summary>
    /// <exception cref="ArgumentException">No errors, a non-finite error, or an invalid parameter.</exception>
    public static AnomalyThreshold Fit(ReadOnlySpan<float> benignErrors, ThresholdMethod method = ThresholdMethod.MeanPlusKStd, double parameter = 1.0)
    {
        if (benignErrors.IsEmpty)
        {
            throw new ArgumentException("Fit the threshold on at least one benign error.", nameof(benignErrors));
        }

        double sum = 0;
        foreach (float e in benignErrors)
        {
            if (!float.IsFinite(e))
            {
                throw new ArgumentException("A benign reconstruction error is not finite.", nameof(benignErrors));
            }

            sum += e;
        }

        double mean = sum / benignErrors.Length;
        double sq = 0;
        foreach (float e in benignErrors)
        {
            sq += (e - mean) * (e - mean);
        }

        double std = Math.Sqrt(sq / benignErrors.Length);
        double value;
        if (method == ThresholdMethod.MeanPlusKStd)
        {
            if (!double.IsFinite(parameter) || parameter < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(parameter), parameter, "k must be finite and non-negative.");
            }

            value = mean + (parameter * std);
        }
        else if (method == ThresholdMethod.Quantile)
        {
            if (!(parameter > 0 && parameter < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(parameter), parameter, "q must be in (0, 1).");
            }

            float[] sorted = benignErrors.ToArray();
            Array.Sort(sorted);
            double pos = parameter * (sorted.Length - 1);
            int lo = (int)Math.Floor(pos);
            int hi = Math.Min(lo + 1, sorted.Length - 1);
            value = sorted[lo] + ((pos - lo) * (sorted[hi] - sorted[lo]));
        }
        else
        {
            throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown threshold method.");
        }

        return new AnomalyThreshold { Method = method, Parameter = parameter, Value = value, Mean = mean, StdDev = std, SampleCount = benignErrors.Length };
    }

    /// <summary>The threshold as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, AnomalyJsonContext.Default.AnomalyThreshold);

    /// <summary>Reads a threshold written by <see cref="ToJson"/>.</summary>
    /// <exception cref="FormatException">The JSON is malformed or the values are not finite.</exception>
    public static AnomalyThreshold FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        AnomalyThreshold? t;
        try
        {
            t = JsonSerializer.Deserialize(json, AnomalyJsonContext.Default.AnomalyThreshold);
        }
        catch (JsonException ex)
        {
            throw new FormatException("The anomaly threshold JSON is malformed: " + ex.Message, ex);
        }

        if (t is null || !double.IsFinite(t.Value) || !double.IsFinite(t.Mean) || !(t.StdDev >= 0) || t.SampleCount <= 0 || !Enum.IsDefined(t.Method))
        {
            throw new FormatException("The anomaly threshold JSON lacks a finite value, mean, standard deviation or sample count.");
        }

        return t;
    }
}

/// <summary>
/// Autoencoder anomaly detection (FedIoT, N-BaIoT): an autoencoder trained on benign rows only; a row whose reconstruction
/// error exceeds a threshold fitted on benign errors is an anomaly (label 1). Works with any <see cref="ITrainer"/> whose
/// evaluation scores are reconstruction errors (the managed and TorchSharp autoencoders).
/// </summary>
public sealed class AnomalyDetector
{
    private readonly ITrainer _trainer;

    /// <summary>Creates a detector from trained parameters and a threshold (e.g. restored from a model's metadata).</summary>
    public AnomalyDetector(ITrainer trainer, ParameterSet parameters, AnomalyThreshold threshold)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(threshold);
        if (trainer.Layout.DescribeMismatch(parameters.Layout) is string why)
        {
            throw new ParameterLayoutMismatchException("The parameters do not fit the autoencoder: " + why);
        }

        _trainer = trainer;
        Parameters = parameters;
        Threshold = threshold;
    }

    /// <summary>The autoencoder's parameters.</summary>
    public ParameterSet Parameters { get; }

    /// <summary>The threshold.</summary>
    public AnomalyThreshold Threshold { get; }

    /// <summary>
    /// Trains the autoencoder on the benign (label 0) rows of <paramref name="train"/> only, then fits the threshold on the
    /// reconstruction errors of the benign rows of <paramref name="thresholdData"/> (a held-out benign set, or the training rows).
    /// </summary>
    /// <exception cref="ArgumentException">A data set has no benign rows.</exception>
    public static async Task<(AnomalyDetector Detector, TrainingResult Training)> TrainAsync(
        ITrainer trainer,
        ParameterSet initialParameters,
        Dataset train,
        Dataset thresholdData,
        TrainingHyperParameters hyperParameters,
        ThresholdMethod method = ThresholdMethod.MeanPlusKStd,
        double parameter = 1.0,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(thresholdData);
        Dataset benign = BenignOnly(train, nameof(train));
        Dataset benignThreshold = BenignOnly(thresholdData, nameof(thresholdData));
        TrainingResult result = await trainer.TrainAsync(
            new TrainingRequest { GlobalParameters = initialParameters, Data = benign, HyperParameters = hyperParameters },
            cancellationToken).ConfigureAwait(false);
        EvaluationResult errors = await trainer.EvaluateAsync(result.Parameters, benignThreshold, cancellationToken).ConfigureAwait(false);
        AnomalyThreshold threshold = AnomalyThreshold.Fit(errors.Scores, method, parameter);
        return (new AnomalyDetector(trainer, result.Parameters, threshold), result);
    }

    /// <summary>The reconstruction error of every row.</summary>
    public async Task<float[]> ScoreAsync(Dataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        EvaluationResult r = await _trainer.EvaluateAsync(Parameters, data, cancellationToken).ConfigureAwait(false);
        return r.Scores;
    }

    /// <summary>True for every row whose error exceeds the threshold.</summary>
    public async Task<bool[]> ClassifyAsync(Dataset data, CancellationToken cancellationToken = default)
    {
        float[] scores = await ScoreAsync(data, cancellationToken).ConfigureAwait(false);
        return scores.Select(s => s > Threshold.Value).ToArray();
    }

    /// <summary>Scores a labelled data set (label 1 = attack) and computes the detection metrics at the threshold.</summary>
    public async Task<ClassificationMetrics> EvaluateAsync(Dataset labelled, CancellationToken cancellationToken = default)
    {
        float[] scores = await ScoreAsync(labelled, cancellationToken).ConfigureAwait(false);

        // Metrics count score ≥ threshold as positive; the detector's rule is error > threshold.
        double cut = Math.BitIncrement(Threshold.Value);
        return ClassificationMetrics.Compute(scores, labelled.Labels, cut);
    }

    private static Dataset BenignOnly(Dataset data, string name)
    {
        IReadOnlyList<int> rows = data.IndicesWithLabel(0);
        if (rows.Count == 0)
        {
            throw new ArgumentException("The data set has no benign (label 0) rows.", name);
        }

        return rows.Count == data.Count ? data : data.Select(rows);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(AnomalyThreshold))]
internal sealed partial class AnomalyJsonContext : JsonSerializerContext
{
}
