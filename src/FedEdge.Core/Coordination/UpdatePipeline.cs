using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Messaging;
using FedEdge.Privacy;
using FedEdge.Rounds;
using FedEdge.Security;
using FedEdge.Training;

namespace FedEdge.Coordination;

/// <summary>
/// The worker side of an update, in one ordered pipeline: the trained parameters become the update the round
/// protocol submits — a delta (trained − global) when a transform or the protocol needs one, the
/// <see cref="IUpdateTransform"/>s in registration order (clipping, noise), then the aggregation weight
/// (<see cref="WorkerOptions.UniformAggregationWeight"/>), then the codec the task announces when the transport encodes
/// (<see cref="IUpdateEncoder"/>), then the signature over what goes on the wire. Masking follows in the round protocol.
/// </summary>
internal sealed class UpdatePipeline(IUpdateTransform[] transforms, IWorkerRoundProtocol protocol, bool uniformWeight, X509Certificate2? signer = null, IUpdateEncoder? encoder = null)
{
    /// <summary>True when the worker submits a delta rather than its parameters for <paramref name="task"/>.</summary>
    public bool SendsDelta(RoundTask task) => transforms.Length > 0 || protocol.SendsDelta || (Encodes && UpdateCodecSpec.SendsDelta(task.UpdateCodec));

    /// <summary>True when updates are encoded (and signed) here rather than by the round protocol.</summary>
    private bool Encodes => encoder is not null && protocol is PlaintextWorkerRound;

    /// <summary>Builds the update, encodes it when the transport encodes, and, when the worker has a certificate, signs it as the last step.</summary>
    public ModelUpdate Build(string deviceId, RoundTask task, TrainingResult result, double seconds)
    {
        ModelUpdate update = BuildUnsigned(deviceId, task, result, seconds);
        if (Encodes)
        {
            update = encoder!.Encode(update, task);
        }

        if (signer is null)
        {
            return update;
        }

        using ECDsa key = signer.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The worker's certificate has no ECDSA private key.");
        return UpdateSigning.Sign(update, key);
    }

    private ModelUpdate BuildUnsigned(string deviceId, RoundTask task, TrainingResult result, double seconds)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [FederationProtocol.LossMetric] = result.Loss,
            ["steps"] = result.Steps,
            ["seconds"] = seconds,
        };
        if (result.PeakMemoryBytes is long peak)
        {
            metrics["peak_memory_bytes"] = peak;
        }

        foreach (KeyValuePair<string, double> pair in result.Metrics)
        {
            metrics.TryAdd(pair.Key, pair.Value);
        }

        var update = new ModelUpdate
        {
            SenderId = deviceId,
            Round = task.Round,
            Nonce = task.Nonce,
            SampleCount = result.SampleCount,
            Kind = UpdateKind.Parameters,
            Values = result.Parameters,
            Metrics = metrics,
        };
        if (!SendsDelta(task))
        {
            return update;
        }

        ParameterSet delta = result.Parameters.Clone();
        TensorPrimitives.Subtract(delta.Values, task.GlobalParameters.Values, delta.Values);

        var context = new UpdateTransformContext { Round = task.Round, SenderId = deviceId, SampleCount = result.SampleCount, Metrics = metrics };
        foreach (IUpdateTransform transform in transforms)
        {
            transform.Apply(delta, context);
        }

        if (!delta.AllFinite())
        {
            throw new InvalidOperationException("The update transforms produced non-finite values.");
        }

        return update with { Kind = UpdateKind.Delta, Values = delta, SampleCount = uniformWeight ? 1 : result.SampleCount };
    }
}
