using FedEdge.Messaging;

namespace FedEdge.Coordination;

/// <summary>A global model a worker refused, and why (<see cref="Worker.LastRefusedGlobalModel"/>).</summary>
/// <param name="Model">The model as received (never used for training or inference).</param>
/// <param name="Reason">Why it was refused.</param>
public sealed record RefusedGlobalModel(GlobalModel Model, string Reason);
