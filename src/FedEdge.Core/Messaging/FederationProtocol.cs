namespace FedEdge.Messaging;

/// <summary>Constants both engines agree on, in one place (neither engine defines them for the other).</summary>
public static class FederationProtocol
{
    /// <summary>The global-model metadata key that carries the coordinator's session id; a worker that sees it change joins again (the coordinator restarted).</summary>
    public const string SessionMetadataKey = "fededge.session";

    /// <summary>The global-model metadata key that carries the federation's name.</summary>
    public const string FederationMetadataKey = "fededge.federation";

    /// <summary>The update metric that carries the device's training loss.</summary>
    public const string LossMetric = "loss";
}
