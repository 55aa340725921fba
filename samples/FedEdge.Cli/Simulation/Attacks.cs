using System.Globalization;
using System.Numerics.Tensors;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>A malicious behaviour for <c>fededge simulate --attack</c>: signflip, scale:K, labelflip or gaussian:SIGMA.</summary>
internal sealed record AttackSpec(string Kind, double Parameter)
{
    public override string ToString() => Kind switch
    {
        "scale" => "scale:" + Parameter.ToString(CultureInfo.InvariantCulture),
        "gaussian" => "gaussian:" + Parameter.ToString(CultureInfo.InvariantCulture),
        _ => Kind,
    };

    /// <summary>Parses an attack, or returns why it cannot (the second item).</summary>
    public static (AttackSpec? Attack, string? Problem) Parse(string text)
    {
        string[] parts = text.Trim().ToLowerInvariant().Split(':', 2);
        double value = 0;
        bool hasValue = parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
        return parts[0] switch
        {
            "signflip" or "labelflip" when parts.Length == 1 => (new AttackSpec(parts[0], 0), null),
            "scale" when hasValue && value != 0 => (new AttackSpec("scale", value), null),
            "gaussian" when hasValue && value > 0 => (new AttackSpec("gaussian", value), null),
            "scale" => (null, $"--attack '{text}': write scale:K with a non-zero factor K, e.g. scale:10."),
            "gaussian" => (null, $"--attack '{text}': write gaussian:SIGMA with a positive standard deviation, e.g. gaussian:1."),
            _ => (null, $"--attack '{text}' is unknown; use signflip, scale:K, labelflip or gaussian:SIGMA."),
        };
    }
}

/// <summary>
/// The sample-side malicious device: wraps an honest trainer and turns its result into an attack. signflip sends
/// global − change, scale:K sends global + K · change, gaussian:σ sends global + N(0, σ²) noise instead of training,
/// labelflip trains on its rows with every label flipped. Core never sees anything but an ordinary update.
/// </summary>
internal sealed class AttackingTrainer(ITrainer honest, AttackSpec attack, int seed) : ITrainer
{
    private readonly Random _random = new(seed);

    public ParameterLayout Layout => honest.Layout;

    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (attack.Kind == "labelflip")
        {
            return await honest.TrainAsync(request with { Data = FlipLabels(request.Data) }, cancellationToken).ConfigureAwait(false);
        }

        TrainingResult result = await honest.TrainAsync(request, cancellationToken).ConfigureAwait(false);
        float[] global = request.GlobalParameters.Values.ToArray();
        float[] values = result.Parameters.Values.ToArray();
        float[] change = new float[values.Length];
        TensorPrimitives.Subtract(values, global, change);
        switch (attack.Kind)
        {
            case "signflip":
                TensorPrimitives.Negate(change, change);
                break;
            case "scale":
                TensorPrimitives.Multiply(change, (float)attack.Parameter, change);
                break;
            case "gaussian":
                for (int i = 0; i < change.Length; i++)
                {
                    change[i] = (float)(attack.Parameter * Gaussian());
                }

                break;
        }

        TensorPrimitives.Add(global, change, values);
        return result with { Parameters = new ParameterSet(result.Parameters.Layout, values) };
    }

    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) => honest.EvaluateAsync(parameters, data, cancellationToken);

    private static Dataset FlipLabels(Dataset data)
    {
        float[] labels = data.Labels.ToArray();
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = labels[i] >= 0.5f ? 0f : 1f;
        }

        return new Dataset(data.Features.ToArray(), labels, data.FeatureCount, data.FeatureNames, data.ClassNames);
    }

    private double Gaussian()
    {
        double u1 = 1.0 - _random.NextDouble();
        double u2 = _random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}

/// <summary><c>--split-devices K [--split iid|dirichlet:ALPHA]</c>: each device file becomes K virtual devices.</summary>
internal static class DeviceSplit
{
    /// <summary>Parses <c>iid</c> or <c>dirichlet:ALPHA</c>; returns the Dirichlet α (null for IID) or a problem.</summary>
    public static (double? Alpha, string? Problem) Parse(string text)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t == "iid")
        {
            return (null, null);
        }

        return t.StartsWith("dirichlet:", StringComparison.Ordinal)
            && double.TryParse(t["dirichlet:".Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out double alpha) && alpha > 0 && double.IsFinite(alpha)
            ? (alpha, null)
            : (null, $"--split '{text}' is unknown; use iid or dirichlet:ALPHA with ALPHA > 0.");
    }

    /// <summary>The virtual device id of part <paramref name="part"/> (from 1) of <paramref name="baseId"/>.</summary>
    public static string Id(string baseId, int part) => baseId + "-" + part.ToString(CultureInfo.InvariantCulture);

    /// <summary>Splits each partition into <paramref name="k"/> parts (IID, or Dirichlet label skew), naming them <c>base-1</c> … <c>base-K</c>.</summary>
    public static List<(DataPartition Partition, string BaseId)> Split(IReadOnlyList<DataPartition> partitions, int k, double? alpha, int seed)
    {
        var result = new List<(DataPartition, string)>();
        foreach (DataPartition p in partitions)
        {
            if (k <= 1)
            {
                result.Add((p, p.ClientId));
                continue;
            }

            IReadOnlyList<DataPartition> parts = alpha is double a
                ? DataSplits.Dirichlet(p.Data, k, a, seed, keepEmpty: true)
                : DataSplits.Iid(p.Data, k, seed);
            for (int i = 0; i < parts.Count; i++)
            {
                result.Add((new DataPartition(Id(p.ClientId, i + 1), parts[i].Data), p.ClientId));
            }
        }

        return result;
    }
}
