using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Faults;

/// <summary>The coordinator decorator: one generator per (device, direction), plus the broadcast link.</summary>
internal sealed class FaultyCoordinatorTransport(ICoordinatorTransport inner, FaultEngine faults, string? name) : ICoordinatorTransport
{
    private const FaultDirection Send = FaultDirection.CoordinatorSend;

    public TransportStatistics Statistics => inner.Statistics;

    public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

    public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default) =>
        inner.StartAsync(new FaultyHandler(handler, faults, name), cancellationToken);

    public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(Link(name, deviceId), Send, FaultMessageKind.RoundTask, task, t => inner.SendTaskAsync(deviceId, t, cancellationToken), FaultEngine.CorruptWire, null, "send task");

    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(Link(name, deviceId), Send, FaultMessageKind.Receipt, receipt, r => inner.SendReceiptAsync(deviceId, r, cancellationToken), FaultEngine.CorruptWire, null, "send receipt");

    public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(Link(name, FaultInjection.BroadcastLink), Send, FaultMessageKind.GlobalModel, model, m => inner.PublishGlobalModelAsync(m, cancellationToken), FaultEngine.CorruptWire, null, "publish model");

    public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(Link(name, deviceId), Send, FaultMessageKind.Protocol, payload.ToArray(), p => inner.SendProtocolAsync(deviceId, p, cancellationToken), payload.IsEmpty ? null : FaultEngine.CorruptPayload, null, "send protocol");

    public async ValueTask DisposeAsync()
    {
        await faults.DrainAsync().ConfigureAwait(false);
        await inner.DisposeAsync().ConfigureAwait(false);
    }

    private static string Link(string? name, string deviceId) => name is null ? deviceId : name + "/" + deviceId;

    private sealed class FaultyHandler(ICoordinatorHandler handler, FaultEngine faults, string? name) : ICoordinatorHandler
    {
        private const FaultDirection Deliver = FaultDirection.CoordinatorDeliver;

        // The engine behind the faults decides whether signed updates may travel without framing digests.
        public bool VerifiesUpdateSignatures => handler.VerifiesUpdateSignatures;

        // Joins pass through: see FaultInjection's remarks.
        public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken) =>
            handler.OnJoinAsync(request, context, cancellationToken);

        public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken) =>
            faults.ApplyAsync(Link(name, status.DeviceId), Deliver, FaultMessageKind.Status, status, s => handler.OnStatusAsync(s, context, cancellationToken), FaultEngine.CorruptWire, e => handler.OnMalformedAsync("fault:status", e, cancellationToken), "status");

        public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken) =>
            faults.ApplyAsync(Link(name, update.SenderId), Deliver, FaultMessageKind.Update, update, u => handler.OnUpdateAsync(u, context, cancellationToken), FaultEngine.CorruptWire, e => handler.OnMalformedAsync("fault:update", e, cancellationToken), "update");

        public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken) =>
            handler.OnMalformedAsync(source, error, cancellationToken);

        // The payload is copied: a delayed delivery must not read a buffer the transport has reused.
        public ValueTask OnProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, InboundContext context, CancellationToken cancellationToken) =>
            faults.ApplyAsync(Link(name, deviceId), Deliver, FaultMessageKind.Protocol, payload.ToArray(), p => handler.OnProtocolAsync(deviceId, p, context, cancellationToken), payload.IsEmpty ? null : FaultEngine.CorruptPayload, null, "protocol");
    }
}
