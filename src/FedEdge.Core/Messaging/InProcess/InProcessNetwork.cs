using System.Collections.Concurrent;
using System.Threading.Channels;
using FedEdge.Devices;

namespace FedEdge.Messaging.InProcess;

/// <summary>
/// An in-process "network" for simulation and tests: one coordinator endpoint and any number of
/// worker endpoints exchanging messages through per-receiver queues (ordered delivery per
/// receiver, never re-entrant). Parameters are copied at every hop, so no side shares buffers with
/// another (a coordinator's models are copied by each receiver as it takes the message, which spreads
/// the copies over the receivers' queues), and bytes are counted as a float32 wire encoding would count them.
/// </summary>
/// <remarks>
/// Disposing a worker endpoint behaves like an MQTT last will: the coordinator is told the device
/// went <see cref="DeviceIntent.NotReady"/>. A new endpoint with the same device id replaces the old one.
/// </remarks>
public sealed class InProcessNetwork
{
    private readonly ConcurrentDictionary<string, InProcessWorkerTransport> _workers = new(StringComparer.Ordinal);
    private readonly TimeProvider _timeProvider;
    private InProcessCoordinatorTransport? _coordinator;
    private GlobalModel? _retained;

    /// <summary>Creates a network.</summary>
    public InProcessNetwork(TimeProvider? timeProvider = null)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Creates the coordinator's endpoint (one per network; a new one replaces a disposed one).</summary>
    /// <exception cref="InvalidOperationException">A live coordinator endpoint exists.</exception>
    public ICoordinatorTransport CreateCoordinatorTransport()
    {
        var transport = new InProcessCoordinatorTransport(this);
        InProcessCoordinatorTransport? previous = Interlocked.CompareExchange(ref _coordinator, transport, null);
        if (previous is not null && !previous.IsDisposed)
        {
            throw new InvalidOperationException("This in-process network already has a live coordinator endpoint; dispose it first.");
        }

        if (previous is not null)
        {
            Interlocked.CompareExchange(ref _coordinator, transport, previous);
        }

        return transport;
    }

    /// <summary>Creates the endpoint of device <paramref name="deviceId"/>.</summary>
    public IWorkerTransport CreateWorkerTransport(string deviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        return new InProcessWorkerTransport(this, deviceId);
    }

    internal TimeProvider TimeProvider => _timeProvider;

    internal InProcessCoordinatorTransport? Coordinator
    {
        get
        {
            InProcessCoordinatorTransport? c = Volatile.Read(ref _coordinator);
            return c is { IsDisposed: false, IsStarted: true } ? c : null;
        }
    }

    internal GlobalModel? Retained => Volatile.Read(ref _retained);

    internal void Retain(GlobalModel model) => Volatile.Write(ref _retained, model);

    internal void Register(InProcessWorkerTransport worker) => _workers[worker.DeviceId] = worker;

    internal void Unregister(InProcessWorkerTransport worker)
    {
        _workers.TryRemove(new KeyValuePair<string, InProcessWorkerTransport>(worker.DeviceId, worker));
    }

    internal InProcessWorkerTransport? FindWorker(string deviceId) => _workers.TryGetValue(deviceId, out InProcessWorkerTransport? w) && !w.IsDisposed ? w : null;

    internal IEnumerable<InProcessWorkerTransport> ConnectedWorkers => _workers.Values.Where(w => !w.IsDisposed && w.IsConnected);

    /// <summary>The bytes a float32 encoding of <paramref name="parameters"/> occupies, with a small fixed header.</summary>
    internal static long WireSize(ParameterSet? parameters, int header = 64) => header + (parameters is null ? 0 : 4L * parameters.Length);

    internal static ParameterSet Copy(ParameterSet parameters) => parameters.Clone();
}

/// <summary>A single-reader queue of actions that runs them in order on a background task.</summary>
internal sealed class Inbox : IAsyncDisposable
{
    private readonly Channel<Func<CancellationToken, ValueTask>> _channel = Channel.CreateUnbounded<Func<CancellationToken, ValueTask>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<Exception> _onError;
    private Task? _loop;

    public Inbox(Action<Exception> onError)
    {
        _onError = onError;
    }

    public void Start() => _loop ??= Task.Run(RunAsync);

    public bool Post(Func<CancellationToken, ValueTask> action) => _channel.Writer.TryWrite(action);

    private async Task RunAsync()
    {
        try
        {
            await foreach (Func<CancellationToken, ValueTask> action in _channel.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await action(_stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // A handler's failure is reported and must not stop delivery to the others.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _onError(ex);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed: stop delivering.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}

internal sealed class InProcessCoordinatorTransport : ICoordinatorTransport
{
    private readonly InProcessNetwork _network;
    private readonly Inbox _inbox;
    private ICoordinatorHandler? _handler;
    private int _disposed;

    public InProcessCoordinatorTransport(InProcessNetwork network)
    {
        _network = network;
        _inbox = new Inbox(ex =>
        {
            // A handler failed on one message: count it and report it to the handler (which logs it); delivery goes on.
            Statistics.RecordMalformed();
            _handler?.OnMalformedAsync("inproc", ex, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        });
    }

    public TransportStatistics Statistics { get; } = new();

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public bool IsStarted => _handler is not null;

    public ValueTask StartAsync(ICoordinatorHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        _handler = handler;
        _inbox.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask SendTaskAsync(string deviceId, RoundTask task, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        InProcessWorkerTransport? worker = _network.FindWorker(deviceId);
        long bytes = InProcessNetwork.WireSize(task.GlobalParameters, 128);
        Statistics.RecordSent(bytes, deviceId);
        if (worker is not null)
        {
            // The receiver copies, on its own queue: the coordinator never changes a global model it sent (a new round
            // makes a new one), so the copy holds what was sent, and the coordinator's loop over the participants does
            // not copy every model itself.
            worker.Deliver(bytes, (h, ct) => h.OnTaskAsync(task with { GlobalParameters = InProcessNetwork.Copy(task.GlobalParameters) }, ct));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask SendReceiptAsync(string deviceId, UpdateReceipt receipt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        const long bytes = 48;
        Statistics.RecordSent(bytes, deviceId);
        _network.FindWorker(deviceId)?.Deliver(bytes, (h, ct) => h.OnReceiptAsync(receipt, ct));
        return ValueTask.CompletedTask;
    }

    public ValueTask PublishGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        GlobalModel retained = model with { Parameters = InProcessNetwork.Copy(model.Parameters) };
        _network.Retain(retained);
        long bytes = InProcessNetwork.WireSize(model.Parameters, 128);
        foreach (InProcessWorkerTransport worker in _network.ConnectedWorkers)
        {
            Statistics.RecordSent(bytes, worker.DeviceId);
            // Copied by the receiver, from the network's own retained copy, which nobody changes.
            worker.Deliver(bytes, (h, ct) => h.OnGlobalModelAsync(retained with { Parameters = InProcessNetwork.Copy(retained.Parameters) }, ct));
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Queues an inbound message for the handler.</summary>
    /// <inheritdoc />
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public ValueTask SendProtocolAsync(string deviceId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        long bytes = 32 + payload.Length;
        Statistics.RecordSent(bytes, deviceId);
        byte[] copy = payload.ToArray();
        _network.FindWorker(deviceId)?.Deliver(bytes, (h, ct) => h.OnProtocolAsync(copy, ct));
        return ValueTask.CompletedTask;
    }

    internal bool Deliver(string deviceId, long bytes, Func<ICoordinatorHandler, CancellationToken, ValueTask> action)
    {
        if (IsDisposed || _handler is null)
        {
            return false;
        }

        ICoordinatorHandler handler = _handler;
        Statistics.RecordReceived(bytes, deviceId);
        return _inbox.Post(ct => action(handler, ct));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _inbox.DisposeAsync().ConfigureAwait(false);
    }
}

internal sealed class InProcessWorkerTransport : IWorkerTransport
{
    private readonly InProcessNetwork _network;
    private readonly Inbox _inbox;
    private IWorkerHandler? _handler;
    private int _disposed;

    public InProcessWorkerTransport(InProcessNetwork network, string deviceId)
    {
        _network = network;
        DeviceId = deviceId;
        _inbox = new Inbox(ex => Statistics.RecordMalformed());
    }

    public string DeviceId { get; }

    public TransportStatistics Statistics { get; } = new();

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public bool IsConnected => _handler is not null;

    public ValueTask ConnectAsync(IWorkerHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        _handler = handler;
        _inbox.Start();
        _network.Register(this);
        GlobalModel? retained = _network.Retained;
        if (retained is not null)
        {
            GlobalModel copy = retained with { Parameters = InProcessNetwork.Copy(retained.Parameters) };
            Deliver(InProcessNetwork.WireSize(retained.Parameters, 128), (h, ct) => h.OnGlobalModelAsync(copy, ct));
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask<JoinResponse> JoinAsync(JoinRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        InProcessCoordinatorTransport coordinator = _network.Coordinator
            ?? throw new InvalidOperationException("No coordinator is listening on this in-process network.");
        var answer = new TaskCompletionSource<JoinResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        long bytes = 128 + request.CertificateDer.Length;
        Statistics.RecordSent(bytes);
        var context = new InboundContext { WireBytes = bytes };
        bool queued = coordinator.Deliver(DeviceId, bytes, async (h, ct) =>
        {
            try
            {
                answer.TrySetResult(await h.OnJoinAsync(request, context, ct).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                answer.TrySetException(ex);
                throw;
            }
        });
        if (!queued)
        {
            throw new InvalidOperationException("The coordinator stopped before the join request could be delivered.");
        }

        JoinResponse response = await answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        Statistics.RecordReceived(64);
        return response;
    }

    public ValueTask PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(status);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        const long bytes = 96;
        Statistics.RecordSent(bytes);
        DeviceStatus stamped = status with { ReceivedAt = _network.TimeProvider.GetUtcNow() };
        _network.Coordinator?.Deliver(DeviceId, bytes, (h, ct) => h.OnStatusAsync(stamped, new InboundContext { WireBytes = bytes }, ct));
        return ValueTask.CompletedTask;
    }

    public ValueTask SendUpdateAsync(ModelUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        // An update still encoded (built with a decoder) travels as it is: the coordinator decodes it after its checks.
        long bytes = update.IsDecoded ? InProcessNetwork.WireSize(update.Values, 128) : 128 + update.WireLength;
        Statistics.RecordSent(bytes);
        ModelUpdate copy = update.IsDecoded ? update with { Values = InProcessNetwork.Copy(update.Values) } : update;
        _network.Coordinator?.Deliver(DeviceId, bytes, (h, ct) => h.OnUpdateAsync(copy, new InboundContext { WireBytes = bytes }, ct));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public bool SupportsProtocolMessages => true;

    /// <inheritdoc />
    public ValueTask SendProtocolAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        long bytes = 32 + payload.Length;
        Statistics.RecordSent(bytes);
        byte[] copy = payload.ToArray();
        string sender = DeviceId;
        _network.Coordinator?.Deliver(DeviceId, bytes, (h, ct) => h.OnProtocolAsync(sender, copy, new InboundContext { WireBytes = bytes }, ct));
        return ValueTask.CompletedTask;
    }

    internal void Deliver(long bytes, Func<IWorkerHandler, CancellationToken, ValueTask> action)
    {
        if (IsDisposed || _handler is null)
        {
            return;
        }

        IWorkerHandler handler = _handler;
        Statistics.RecordReceived(bytes);
        _inbox.Post(ct => action(handler, ct));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _network.Unregister(this);
        await _inbox.DisposeAsync().ConfigureAwait(false);
        if (_handler is not null)
        {
            // The in-process "last will": the coordinator learns the device is gone.
            var will = new DeviceStatus { DeviceId = DeviceId, Intent = DeviceIntent.NotReady, ReceivedAt = _network.TimeProvider.GetUtcNow() };
            _network.Coordinator?.Deliver(DeviceId, 32, (h, ct) => h.OnStatusAsync(will, new InboundContext { WireBytes = 32 }, ct));
        }
    }
}
