using System.Threading.Channels;
using FedEdge.Devices;
using FedEdge.Messaging;

namespace FedEdge.Testing;

/// <summary>A coordinator handler that admits every device and records what the transport delivers, in order.</summary>
internal sealed class CoordinatorRecorder : ICoordinatorHandler
{
    private readonly Channel<(object Item, InboundContext Context)> _events = Channel.CreateUnbounded<(object, InboundContext)>();

    public ValueTask<JoinResponse> OnJoinAsync(JoinRequest request, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((request, context));
        return ValueTask.FromResult(new JoinResponse { Accepted = true });
    }

    public ValueTask OnStatusAsync(DeviceStatus status, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((status, context));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnUpdateAsync(ModelUpdate update, InboundContext context, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((update, context));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnMalformedAsync(string source, Exception error, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite((new Malformed(source, error), default));
        return ValueTask.CompletedTask;
    }

    /// <summary>The next delivered <typeparamref name="T"/> that matches; others are skipped.</summary>
    public async Task<(T Item, InboundContext Context)> NextAsync<T>(string check, string what, TimeSpan timeout, Func<T, bool>? filter, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                (object item, InboundContext context) = await _events.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
                if (item is T typed && (filter is null || filter(typed)))
                {
                    return (typed, context);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ConformanceException(check, $"the coordinator was not handed {what} within {timeout.TotalSeconds:0.#} s.");
        }
    }
}

/// <summary>A report of bytes the coordinator transport could not decode.</summary>
internal sealed record Malformed(string Source, Exception Error);

/// <summary>A worker handler that records what the transport delivers, in order.</summary>
internal sealed class WorkerRecorder : IWorkerHandler
{
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();

    public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(task);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(model);
        return ValueTask.CompletedTask;
    }

    public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(receipt);
        return ValueTask.CompletedTask;
    }

    /// <summary>The next delivered <typeparamref name="T"/> that matches; others are skipped.</summary>
    public async Task<T> NextAsync<T>(string check, string what, TimeSpan timeout, Func<T, bool>? filter, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                object item = await _events.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
                if (item is T typed && (filter is null || filter(typed)))
                {
                    return typed;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ConformanceException(check, $"the worker was not handed {what} within {timeout.TotalSeconds:0.#} s.");
        }
    }
}
