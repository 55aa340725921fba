using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Faults;

/// <summary>The worker decorator: one link, a generator for its sends (and join requests) and one for its deliveries (and join responses).</summary>
internal sealed class FaultyWorkerTransport(IWorkerTransport inner, FaultEngine faults, string link) : IWorkerTransport, IUpdateEncoder
{
    /// <summary>The inner transport encodes (and so the worker signs what it sends); an in-process one leaves the update as it is.</summary>
    public ModelUpdate Encode(ModelUpdate update, RoundTask task) => inner is IUpdateEncoder encoder ? encoder.Encode(update, task) : update;

    private const FaultDirection Send = FaultDirection.WorkerSend;

    public TransportStatistics Statistics => inner.Statistics;

    public bool SupportsProtocolMessages => inner.SupportsProtocolMessages;

    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default) =>
        inner.ConnectAsync(new FaultyHandler(handler, faults, link), cancellationToken);

    public async ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        FaultDraw up = faults.Draw(link, Send, FaultMessageKind.Join);
        await HoldOrLoseAsync(up, "request", cancellationToken).ConfigureAwait(false);
        JoinResponse response = await inner.JoinAsync(request, cancellationToken).ConfigureAwait(false);
        if (up.Fault == Fault.Duplicate)
        {
            // The coordinator sees the join twice; the worker keeps the first answer.
            await inner.JoinAsync(request, cancellationToken).ConfigureAwait(false);
        }

        FaultDraw down = faults.Draw(link, FaultDirection.WorkerDeliver, FaultMessageKind.Join);
        await HoldOrLoseAsync(down, "response", cancellationToken).ConfigureAwait(false);
        return response;
    }

    public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(link, Send, FaultMessageKind.Status, status, s => inner.PublishStatusAsync(s, cancellationToken), FaultEngine.CorruptWire, null, "publish status");

    public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(link, Send, FaultMessageKind.Update, update, u => inner.SendUpdateAsync(u, cancellationToken), FaultEngine.CorruptWire, null, "send update");

    public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        faults.ApplyAsync(link, Send, FaultMessageKind.Protocol, payload.ToArray(), p => inner.SendProtocolAsync(p, cancellationToken), payload.IsEmpty ? null : FaultEngine.CorruptPayload, null, "send protocol");

    public async ValueTask DisposeAsync()
    {
        await faults.DrainAsync().ConfigureAwait(false);
        await inner.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Waits out an injected delay of one half of a join, or fails the join when that half was lost.</summary>
    private async ValueTask HoldOrLoseAsync(FaultDraw draw, string half, CancellationToken cancellationToken)
    {
        switch (draw.Fault)
        {
            case Fault.Drop:
            case Fault.Corrupt:
                TimeSpan timeout = faults.Options.JoinLossTimeout;
                await Task.Delay(timeout, faults.Time, cancellationToken).ConfigureAwait(false);
                string what = draw.Fault == Fault.Drop ? "dropped" : "corrupted";
                throw new TimeoutException($"The join {half} on link '{link}' was lost (fault injection: {what}); no answer within {timeout.TotalSeconds:0.###} s.");
            case Fault.Reorder:
                await Task.Delay(faults.Options.MaxDelay, faults.Time, cancellationToken).ConfigureAwait(false);
                return;
            default:
                if (draw.Delayed)
                {
                    await Task.Delay(faults.Options.MaxDelay * draw.DelayFraction, faults.Time, cancellationToken).ConfigureAwait(false);
                }

                return;
        }
    }

    private sealed class FaultyHandler(IWorkerHandler handler, FaultEngine faults, string link) : IWorkerHandler
    {
        private const FaultDirection Deliver = FaultDirection.WorkerDeliver;

        // The engine behind the faults decides whether signed models may travel without framing digests.
        public bool VerifiesModelSignatures => handler.VerifiesModelSignatures;

        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) =>
            faults.ApplyAsync(link, Deliver, FaultMessageKind.RoundTask, task, t => handler.OnTaskAsync(t, cancellationToken), FaultEngine.CorruptWire, Report, "task");

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) =>
            faults.ApplyAsync(link, Deliver, FaultMessageKind.GlobalModel, model, m => handler.OnGlobalModelAsync(m, cancellationToken), FaultEngine.CorruptWire, Report, "global model");

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) =>
            faults.ApplyAsync(link, Deliver, FaultMessageKind.Receipt, receipt, r => handler.OnReceiptAsync(r, cancellationToken), FaultEngine.CorruptWire, Report, "receipt");

        // The payload is copied: a delayed delivery must not read a buffer the transport has reused.
        public ValueTask OnProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
            faults.ApplyAsync(link, Deliver, FaultMessageKind.Protocol, payload.ToArray(), p => handler.OnProtocolAsync(p, cancellationToken), payload.IsEmpty ? null : FaultEngine.CorruptPayload, null, "protocol");

        private ValueTask Report(WireFormatException error)
        {
            Log.Malformed(faults.Logger, "fault injection", error.Message);
            return ValueTask.CompletedTask;
        }
    }
}
