using System.Collections.Concurrent;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Wire.Proto;

namespace FedEdge.Transport.Wire;

/// <summary>
/// Round tasks by reference to the published global model. A round starts from the global model the coordinator has
/// just published to every device (retained on MQTT, queued in every gRPC inbox), so sending the same parameters again
/// inside each device's task moves the model twice per round. A device that announced <see cref="Capability"/> when it
/// joined instead gets a task that names the model's hash; it takes the parameters from the model it received, after
/// checking their hash. The reference travels on the device's own inbox (which only the coordinator may write), so it
/// binds the task to exactly those parameters even when the model topic itself can be written by others.
/// </summary>
internal static class ModelReference
{
    /// <summary>The join capability a worker transport announces when it resolves task references.</summary>
    public const string Capability = "fededge.task-model-ref";

    /// <summary>The join request with <see cref="Capability"/> added.</summary>
    public static JoinRequest Announce(JoinRequest request) =>
        request with { Capabilities = new Dictionary<string, string>(request.Capabilities, StringComparer.Ordinal) { [Capability] = "1" } };

    /// <summary>The join request without <see cref="Capability"/> (a transport concern the coordinator's handler does not see).</summary>
    public static JoinRequest Strip(JoinRequest request) =>
        request.Capabilities.ContainsKey(Capability)
            ? request with { Capabilities = request.Capabilities.Where(p => p.Key != Capability).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) }
            : request;

    /// <summary>True when the join request announces <see cref="Capability"/>.</summary>
    public static bool IsAnnounced(JoinRequest request) =>
        request.Capabilities.TryGetValue(Capability, out string? value) && value == "1";
}

/// <summary>An outbound round task sent as a reference: the task's fields, with <see cref="ModelHash"/> in place of its parameters.</summary>
internal sealed record RoundTaskReference(RoundTask Task, string ModelHash);

/// <summary>An inbound round task that names the global model it starts from instead of carrying its parameters.</summary>
internal sealed class ReferencedRoundTask
{
    private readonly RoundTaskMessage _proto;

    internal ReferencedRoundTask(RoundTaskMessage proto)
    {
        _proto = proto;
    }

    /// <summary>The round the task is for.</summary>
    public long Round => _proto.Round;

    /// <summary>The <see cref="ParameterSet.ComputeHash"/> of the global parameters the task starts from.</summary>
    public string ModelHash => _proto.GlobalModelHash;

    /// <summary>The complete task, starting from <paramref name="parameters"/> (which the caller has checked against <see cref="ModelHash"/>).</summary>
    public RoundTask Resolve(ParameterSet parameters) => WireSerializer.TaskFromProto(_proto, parameters);
}

/// <summary>
/// Coordinator side: which devices take task references, and the hash of the model published last. Thread-safe.
/// References are used only with a lossless model codec (a lossy one changes the parameters, so their hash would not
/// match on the device).
/// </summary>
internal sealed class ModelReferenceSender(IParameterCodec modelCodec)
{
    private readonly ConcurrentDictionary<string, byte> _devices = new(StringComparer.Ordinal);
    private volatile string? _published;

    /// <summary>Records whether <paramref name="deviceId"/>'s (latest) join announced the capability.</summary>
    /// <returns>The request without the capability, for the coordinator's handler.</returns>
    public JoinRequest OnJoin(string deviceId, JoinRequest request)
    {
        if (ModelReference.IsAnnounced(request))
        {
            _devices[deviceId] = 0;
        }
        else
        {
            _devices.TryRemove(deviceId, out _);
        }

        return ModelReference.Strip(request);
    }

    /// <summary>Records the model every device has been sent (call once its publication completed).</summary>
    public void OnPublished(GlobalModel model)
    {
        _published = modelCodec.Kind == ParameterCodecKind.Float32 ? model.Hash : null;
    }

    /// <summary>Forgets the published model (a publication failed half-way).</summary>
    public void Forget() => _published = null;

    /// <summary>The published model's hash when <paramref name="deviceId"/> takes references; null otherwise.</summary>
    public string? PublishedHashFor(string deviceId) => _devices.ContainsKey(deviceId) ? _published : null;
}

/// <summary>
/// Worker side: the latest global model received, by the hash of its parameters (computed here, never taken from the
/// message), to resolve <see cref="ReferencedRoundTask"/>s. Thread-safe; holds one model.
/// </summary>
internal sealed class PublishedModelCache
{
    private readonly Lock _gate = new();
    private ParameterSet? _parameters;
    private string? _hash;

    /// <summary>Keeps <paramref name="model"/>'s parameters as the latest.</summary>
    public void Remember(GlobalModel model)
    {
        lock (_gate)
        {
            _parameters = model.Parameters;
            _hash = null;
        }
    }

    /// <summary>Resolves <paramref name="reference"/> when the latest model's parameters have its hash; the task gets its own copy.</summary>
    public bool TryResolve(ReferencedRoundTask reference, out RoundTask? task)
    {
        ParameterSet? parameters;
        lock (_gate)
        {
            parameters = _parameters;
            if (parameters is not null)
            {
                _hash ??= parameters.ComputeHash();
            }

            if (parameters is null || !string.Equals(_hash, reference.ModelHash, StringComparison.Ordinal))
            {
                task = null;
                return false;
            }
        }

        task = reference.Resolve(parameters.Clone());
        return true;
    }
}
