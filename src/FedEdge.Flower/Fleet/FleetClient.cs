using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace FedEdge.Flower.Fleet;

/// <summary>A message pulled from the SuperLink: inflated and checked, or the problem that made it unusable.</summary>
internal sealed record PulledMessage(Envelope Metadata, FlowerMessage? Message, string? Problem, long WireBytes);

/// <summary>
/// The Fleet API calls a SuperNode makes, over one gRPC channel with node authentication on every call:
/// joining, heartbeats, pulling a message with all its objects, confirming it, pushing a reply with the
/// objects the SuperLink asks for, and leaving.
/// </summary>
internal sealed class FleetClient : IAsyncDisposable
{
    /// <summary>The most objects one message may consist of.</summary>
    private const int MaxObjects = 100_000;

    /// <summary>The most bytes one message's objects may hold together (a device's memory is finite).</summary>
    private const long MaxMessageBytes = 1L << 30;

    private readonly GrpcChannel _channel;
    private readonly Wire.Fleet.FleetClient _stub;
    private readonly TimeProvider _time;
    private readonly TimeSpan _callTimeout;
    private readonly TimeSpan _objectRetryDelay;
    private readonly TimeSpan _objectWait;

    public FleetClient(GrpcChannel channel, NodeIdentity identity, TimeProvider time, TimeSpan callTimeout, TimeSpan objectRetryDelay, TimeSpan objectWait)
    {
        _channel = channel;
        _time = time;
        _callTimeout = callTimeout;
        _objectRetryDelay = objectRetryDelay;
        _objectWait = objectWait;
        _stub = new Wire.Fleet.FleetClient(channel.Intercept(new NodeAuthInterceptor(identity, time)));
        Identity = identity;
    }

    public NodeIdentity Identity { get; }

    /// <summary>The node id once activated, else 0.</summary>
    public ulong NodeId { get; private set; }

    // A gRPC deadline is absolute wall-clock time on the wire, so it comes from the system clock even when the
    // timestamps the node signs come from an injected one.
    private CallOptions Options(CancellationToken ct) => new(deadline: TimeProvider.System.GetUtcNow().UtcDateTime + _callTimeout, cancellationToken: ct);

    public async Task<ulong> RegisterAsync(CancellationToken ct) =>
        (await _stub.RegisterNodeAsync(new RegisterNodeIn { PublicKey = Google.Protobuf.ByteString.CopyFrom(Identity.PublicKeyPem) }, Options(ct)).ConfigureAwait(false)).NodeId;

    public async Task<ulong> ActivateAsync(double heartbeatSeconds, CancellationToken ct)
    {
        ActivateNodeOut res = await _stub.ActivateNodeAsync(new ActivateNodeIn { PublicKey = Google.Protobuf.ByteString.CopyFrom(Identity.PublicKeyPem), HeartbeatInterval = heartbeatSeconds }, Options(ct)).ConfigureAwait(false);
        NodeId = res.NodeId;
        return res.NodeId;
    }

    public async Task<bool> HeartbeatAsync(double heartbeatSeconds, CancellationToken ct) =>
        (await _stub.SendNodeHeartbeatAsync(new HeartbeatIn { Node = Node, HeartbeatInterval = heartbeatSeconds }, Options(ct)).ConfigureAwait(false)).Success;

    public async Task DeactivateAsync(CancellationToken ct) =>
        await _stub.DeactivateNodeAsync(new DeactivateNodeIn { NodeId = NodeId }, Options(ct)).ConfigureAwait(false);

    public async Task UnregisterAsync(CancellationToken ct) =>
        await _stub.UnregisterNodeAsync(new UnregisterNodeIn { NodeId = NodeId }, Options(ct)).ConfigureAwait(false);

    private NodeRef Node => new() { NodeId = NodeId };

    /// <summary>Pulls at most one message; pulls every object of its tree (waiting while one is not yet available), checks and inflates it, then confirms receipt.</summary>
    public async Task<PulledMessage?> PullAsync(CancellationToken ct)
    {
        PullMessagesOut res = await _stub.PullMessagesAsync(new PullMessagesIn { Node = Node }, Options(ct)).ConfigureAwait(false);
        if (res.MessagesList.Count == 0)
        {
            return null;
        }

        if (res.MessageObjectTrees.Count != res.MessagesList.Count)
        {
            throw new FlowerProtocolException($"PullMessages returned {res.MessagesList.Count} messages but {res.MessageObjectTrees.Count} object trees.");
        }

        WireMessage head = res.MessagesList[0];
        IdTree tree = res.MessageObjectTrees[0];
        ulong runId = head.Metadata?.RunId ?? 0;
        if (!string.Equals(head.Metadata?.MessageId, tree.ObjectId, StringComparison.Ordinal))
        {
            throw new FlowerProtocolException("The pulled message's id is not the root of its object tree.");
        }

        var objects = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        long bytes = res.CalculateSize();
        IReadOnlyList<string> ids = ObjectTreeReader.PostOrderIds(tree);
        if (ids.Count > MaxObjects)
        {
            throw new FlowerProtocolException($"The message's object tree names {ids.Count} objects; at most {MaxObjects} are accepted.");
        }

        foreach (string id in ids)
        {
            byte[] content = await PullObjectAsync(runId, id, ct).ConfigureAwait(false);
            objects[id] = content;
            bytes += content.Length;
            if (bytes > MaxMessageBytes)
            {
                throw new FlowerProtocolException($"The message's objects exceed {MaxMessageBytes / (1024 * 1024)} MiB.");
            }
        }

        FlowerMessage? message = null;
        string? problem = null;
        try
        {
            message = ObjectTreeReader.Inflate(tree, objects);
        }
        catch (FlowerProtocolException ex)
        {
            problem = ex.Message;
        }

        await _stub.ConfirmMessageReceivedAsync(new ConfirmReceivedIn { Node = Node, RunId = runId, MessageObjectId = tree.ObjectId }, Options(ct)).ConfigureAwait(false);
        return new PulledMessage(message?.Metadata ?? head.Metadata!, message, problem, bytes);
    }

    private async Task<byte[]> PullObjectAsync(ulong runId, string id, CancellationToken ct)
    {
        long started = _time.GetTimestamp();
        while (true)
        {
            PullObjectOut res = await _stub.PullObjectAsync(new PullObjectIn { Node = Node, RunId = runId, ObjectId = id }, Options(ct)).ConfigureAwait(false);
            if (!res.ObjectFound)
            {
                throw new FlowerProtocolException($"The SuperLink does not know object {id[..12]}… of the message it sent.");
            }

            if (res.ObjectAvailable)
            {
                return res.ObjectContent.ToByteArray();
            }

            if (_time.GetElapsedTime(started) > _objectWait)
            {
                throw new TimeoutException($"Object {id[..12]}… was still not available after {_objectWait.TotalSeconds:0} s.");
            }

            await Task.Delay(_objectRetryDelay, _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Pushes a reply: the message with its object tree, then each object the SuperLink asks for. Returns the bytes sent.</summary>
    /// <remarks>
    /// The pushed message carries its metadata (with <c>message_id</c> = the Message object's id) and, as Flower's
    /// SuperNode sends it, an empty content record for a content reply or the error itself for an error reply: the
    /// SuperLink requires exactly one of the two to be set.
    /// </remarks>
    public async Task<long> PushAsync(DeflatedMessage reply, Envelope metadata, FlowerError? error, double runtimeSeconds, CancellationToken ct)
    {
        var request = new PushMessagesIn { Node = Node };
        request.MessagesList.Add(error is null ? new WireMessage { Metadata = metadata, Content = new RecordDictBody() } : new WireMessage { Metadata = metadata, Error = error });
        request.MessageObjectTrees.Add(reply.Tree);
        request.ClientappRuntimeList.Add(runtimeSeconds);
        PushMessagesOut res = await _stub.PushMessagesAsync(request, Options(ct)).ConfigureAwait(false);
        long bytes = request.CalculateSize();
        foreach (string id in res.ObjectsToPush.Distinct(StringComparer.Ordinal))
        {
            if (!reply.Objects.TryGetValue(id, out byte[]? content))
            {
                throw new FlowerProtocolException($"The SuperLink asked for object {id} which is not part of the reply.");
            }

            PushObjectOut stored = await _stub.PushObjectAsync(
                new PushObjectIn { Node = Node, RunId = metadata.RunId, ObjectId = id, ObjectContent = Google.Protobuf.ByteString.CopyFrom(content) },
                Options(ct)).ConfigureAwait(false);
            if (!stored.Stored)
            {
                throw new FlowerProtocolException($"The SuperLink did not store object {id[..12]}… of the reply.");
            }

            bytes += content.Length;
        }

        return bytes;
    }

    public ValueTask DisposeAsync()
    {
        _channel.Dispose();
        return ValueTask.CompletedTask;
    }
}
