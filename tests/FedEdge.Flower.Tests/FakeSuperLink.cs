using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FedEdge.Flower.Tests;

/// <summary>A reply the fake SuperLink accepted, inflated.</summary>
internal sealed record AcceptedReply(FlowerMessage Message, string InstructionId);

/// <summary>
/// A SuperLink's Fleet API for the tests, in C# (no Python here), on Kestrel at 127.0.0.1 with plain-text HTTP/2,
/// enforcing Flower's rules: the signed timestamp within 5 s early to 305 s late, a DER ECDSA-SHA256 signature by the
/// key bound to the node id in the request, heartbeat intervals of 10-1800 s, objects that re-hash to their ids,
/// replies whose id is their own Message object's and whose TTL does not outlive the instruction, train replies with
/// exactly one ArrayRecord holding the keys sent and a MetricRecord with num-examples. Each object is "not yet
/// available" on its first pull, so the node must retry.
/// </summary>
internal sealed class FakeSuperLink : IAsyncDisposable
{
    public const ulong SuperLinkNodeId = 1;
    private readonly WebApplication _app;

    private FakeSuperLink(WebApplication app, FleetState state)
    {
        _app = app;
        State = state;
    }

    public FleetState State { get; }

    public int Port { get; private set; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Starts on a free 127.0.0.1 port: plain-text HTTP/2 (h2c), or TLS with <paramref name="certificate"/>.</summary>
    public static async Task<FakeSuperLink> StartAsync(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var state = new FleetState();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            if (certificate is not null)
            {
                l.UseHttps(certificate);
            }
        }));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(state);
        WebApplication app = builder.Build();
        app.MapGrpcService<FleetService>();
        await app.StartAsync();
        var link = new FakeSuperLink(app, state);
        link.Port = new Uri(app.Urls.First()).Port;
        return link;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>What the fake SuperLink knows and has seen.</summary>
internal sealed class FleetState
{
    private readonly Lock _gate = new();
    private ulong _nextNode = 1000;

    /// <summary>Added to the real clock when checking timestamps (a positive skew makes the node's timestamps look late).</summary>
    public TimeSpan ClockSkew { get; set; }

    public ConcurrentDictionary<string, ulong> NodesByKey { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<ulong, string> Active { get; } = new();

    public ConcurrentQueue<string> Events { get; } = new();

    public ConcurrentDictionary<string, byte[]?> Store { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, int> PullCount { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<(ulong Node, WireMessage Head, IdTree Tree)> Outbox { get; } = new();

    public ConcurrentDictionary<string, (FlowerMessage Instruction, IReadOnlyList<string> Keys)> Delivered { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, (WireMessage Head, IdTree Tree)> PendingReplies { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<AcceptedReply> Replies { get; } = new();

    public ConcurrentQueue<string> Refusals { get; } = new();

    public int Heartbeats;

    public ulong NewNodeId()
    {
        lock (_gate)
        {
            return ++_nextNode;
        }
    }

    /// <summary>Queues an instruction for <paramref name="node"/>; <paramref name="tamper"/> flips a byte of its first ArrayChunk in the store.</summary>
    public string Send(ulong node, string type, FlowerRecordDict content, double ttl = 600, bool tamper = false)
    {
        var metadata = new Envelope
        {
            RunId = 7,
            SrcNodeId = FakeSuperLink.SuperLinkNodeId,
            DstNodeId = node,
            GroupId = "1",
            Ttl = ttl,
            MessageType = type,
            CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
        };
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(new FlowerMessage(metadata, content, null));
        foreach ((string id, byte[] bytes) in deflated.Objects)
        {
            Store[id] = (byte[])bytes.Clone();
        }

        if (tamper)
        {
            string chunk = deflated.PostOrder.First(id => ObjectCodec.Parse(deflated.Objects[id]).ClassName == ObjectCodec.ArrayChunk);
            Store[chunk]![^1] ^= 0xff;
        }

        Envelope head = metadata.Clone();
        head.MessageId = deflated.MessageId;
        var keys = content.Items.Select(i => i.Value).OfType<FlowerArrayRecord>().SelectMany(r => r.Items.Select(a => a.Key)).ToList();
        Delivered[deflated.MessageId] = (new FlowerMessage(head, content, null), keys);
        Outbox.Enqueue((node, new WireMessage { Metadata = head }, deflated.Tree));
        return deflated.MessageId;
    }

    public void Refuse(string reason)
    {
        Refusals.Enqueue(reason);
        Events.Enqueue("refused: " + reason);
    }
}

/// <summary>The Fleet service with Flower's checks.</summary>
internal sealed class FleetService(FleetState state) : Wire.Fleet.FleetBase
{
    private const double EarlySeconds = 5;
    private const double LateSeconds = 305;

    /// <summary>Node authentication as the SuperLink's interceptor does it; returns the caller's public key PEM.</summary>
    private string Authenticate(ServerCallContext context, ulong? claimedNode)
    {
        byte[]? key = context.RequestHeaders.GetValueBytes("flwr-public-key-bin");
        string? timestamp = context.RequestHeaders.GetValue("flwr-timestamp");
        byte[]? signature = context.RequestHeaders.GetValueBytes("flwr-signature-bin");
        if (key is null || timestamp is null || signature is null)
        {
            throw Fail(StatusCode.Unauthenticated, "Missing authentication metadata");
        }

        string pem = Encoding.ASCII.GetString(key);
        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw Fail(StatusCode.Unauthenticated, "The provided public key is not valid");
        }

        if (!ecdsa.VerifyData(Encoding.ASCII.GetBytes(timestamp), signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
        {
            throw Fail(StatusCode.Unauthenticated, "Invalid signature");
        }

        if (!DateTimeOffset.TryParseExact(timestamp, "yyyy-MM-dd'T'HH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTimeOffset at) || !timestamp.EndsWith("+00:00", StringComparison.Ordinal))
        {
            throw Fail(StatusCode.Unauthenticated, $"Invalid timestamp format '{timestamp}'");
        }

        double late = (DateTimeOffset.UtcNow + state.ClockSkew - at).TotalSeconds;
        if (!(late > -EarlySeconds && late < LateSeconds))
        {
            throw Fail(StatusCode.Unauthenticated, "Invalid timestamp");
        }

        if (claimedNode is ulong node && (!state.NodesByKey.TryGetValue(pem, out ulong bound) || bound != node))
        {
            throw Fail(StatusCode.Unauthenticated, "Invalid node ID");
        }

        return pem;
    }

    private RpcException Fail(StatusCode code, string detail)
    {
        state.Refuse(detail);
        return new RpcException(new Status(code, detail));
    }

    public override Task<RegisterNodeOut> RegisterNode(RegisterNodeIn request, ServerCallContext context)
    {
        string pem = Authenticate(context, null);
        if (request.PublicKey.ToStringUtf8() != pem)
        {
            throw Fail(StatusCode.FailedPrecondition, "The registered key differs from the signing key");
        }

        ulong node = state.NewNodeId();
        if (!state.NodesByKey.TryAdd(pem, node))
        {
            throw Fail(StatusCode.FailedPrecondition, "Public key already in use");
        }

        state.Events.Enqueue($"register {node}");
        return Task.FromResult(new RegisterNodeOut { NodeId = node });
    }

    public override Task<ActivateNodeOut> ActivateNode(ActivateNodeIn request, ServerCallContext context)
    {
        string pem = Authenticate(context, null);
        if (!state.NodesByKey.TryGetValue(request.PublicKey.ToStringUtf8(), out ulong node) || request.PublicKey.ToStringUtf8() != pem)
        {
            throw Fail(StatusCode.FailedPrecondition, "No SuperNode found with the given public key.");
        }

        CheckInterval(request.HeartbeatInterval);
        state.Active[node] = pem;
        state.Events.Enqueue($"activate {node}");
        return Task.FromResult(new ActivateNodeOut { NodeId = node });
    }

    private void CheckInterval(double seconds)
    {
        if (seconds is < 10 or > 1800)
        {
            throw Fail(StatusCode.InvalidArgument, $"Heartbeat interval {seconds} outside 10-1800 s");
        }
    }

    public override Task<HeartbeatOut> SendNodeHeartbeat(HeartbeatIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        CheckInterval(request.HeartbeatInterval);
        Interlocked.Increment(ref state.Heartbeats);
        return Task.FromResult(new HeartbeatOut { Success = state.Active.ContainsKey(request.Node.NodeId) });
    }

    public override Task<DeactivateNodeOut> DeactivateNode(DeactivateNodeIn request, ServerCallContext context)
    {
        Authenticate(context, request.NodeId);
        state.Active.TryRemove(request.NodeId, out _);
        state.Events.Enqueue($"deactivate {request.NodeId}");
        return Task.FromResult(new DeactivateNodeOut());
    }

    public override Task<UnregisterNodeOut> UnregisterNode(UnregisterNodeIn request, ServerCallContext context)
    {
        string pem = Authenticate(context, request.NodeId);
        state.NodesByKey.TryRemove(pem, out _);
        state.Events.Enqueue($"unregister {request.NodeId}");
        return Task.FromResult(new UnregisterNodeOut());
    }

    public override Task<PullMessagesOut> PullMessages(PullMessagesIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        var response = new PullMessagesOut();
        if (state.Outbox.TryPeek(out var next) && next.Node == request.Node.NodeId && state.Outbox.TryDequeue(out next))
        {
            response.MessagesList.Add(next.Head);
            response.MessageObjectTrees.Add(next.Tree);
        }

        return Task.FromResult(response);
    }

    public override Task<PullObjectOut> PullObject(PullObjectIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        if (!state.Store.TryGetValue(request.ObjectId, out byte[]? content) || content is null)
        {
            return Task.FromResult(new PullObjectOut { ObjectFound = content is null && state.Store.ContainsKey(request.ObjectId) });
        }

        // Not yet available on the first request: the node has to retry.
        bool available = state.PullCount.AddOrUpdate(request.ObjectId, 1, (_, n) => n + 1) > 1;
        return Task.FromResult(new PullObjectOut { ObjectFound = true, ObjectAvailable = available, ObjectContent = available ? ByteString.CopyFrom(content) : ByteString.Empty });
    }

    public override Task<ConfirmReceivedOut> ConfirmMessageReceived(ConfirmReceivedIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        state.Events.Enqueue($"confirm {request.MessageObjectId[..8]}");
        return Task.FromResult(new ConfirmReceivedOut());
    }

    public override Task<PushMessagesOut> PushMessages(PushMessagesIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        if (request.MessagesList.Count != 1 || request.MessageObjectTrees.Count != 1)
        {
            throw Fail(StatusCode.InvalidArgument, "One message with one object tree per push");
        }

        WireMessage head = request.MessagesList[0];
        IdTree tree = request.MessageObjectTrees[0];
        Envelope meta = head.Metadata;
        if ((head.Content is null) == (head.Error is null) || head.Content?.Items.Count > 0)
        {
            throw Fail(StatusCode.InvalidArgument, "Either message content (empty, the objects carry it) or error must be set, not both");
        }

        if (meta.CreatedAt < 1740700800.0 || meta.MessageType.Length == 0 || meta.SrcNodeId == 0 || meta.DstNodeId == 0)
        {
            throw Fail(StatusCode.InvalidArgument, "The reply's metadata is incomplete");
        }

        if (meta.MessageId != tree.ObjectId)
        {
            throw Fail(StatusCode.InvalidArgument, "The reply's message_id is not the id of its Message object");
        }

        if (!state.Delivered.TryGetValue(meta.ReplyToMessageId, out var instruction))
        {
            throw Fail(StatusCode.InvalidArgument, "The reply answers no delivered message");
        }

        Envelope to = instruction.Instruction.Metadata;
        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        if (meta.SrcNodeId != request.Node.NodeId || meta.DstNodeId != to.SrcNodeId || meta.RunId != to.RunId || meta.GroupId != to.GroupId || meta.MessageType != to.MessageType)
        {
            throw Fail(StatusCode.InvalidArgument, "The reply's routing does not mirror the instruction");
        }

        if (meta.CreatedAt + meta.Ttl > to.CreatedAt + to.Ttl + 0.1 || meta.Ttl <= 0 || meta.CreatedAt > now + 5)
        {
            throw Fail(StatusCode.InvalidArgument, "The reply's TTL outlives the instruction");
        }

        var response = new PushMessagesOut { Reconnect = new ReconnectHint { Reconnect = 5 } };
        foreach (string id in ObjectTreeReader.PostOrderIds(tree))
        {
            if (state.Store.TryAdd(id, null) || state.Store[id] is null)
            {
                response.ObjectsToPush.Add(id);
            }
        }

        state.PendingReplies[tree.ObjectId] = (head, tree);
        response.Results[tree.ObjectId] = 0;
        TryComplete(tree.ObjectId);
        return Task.FromResult(response);
    }

    public override Task<PushObjectOut> PushObject(PushObjectIn request, ServerCallContext context)
    {
        Authenticate(context, request.Node.NodeId);
        if (!state.Store.TryGetValue(request.ObjectId, out byte[]? existing))
        {
            return Task.FromResult(new PushObjectOut { Stored = false });
        }

        byte[] content = request.ObjectContent.ToByteArray();
        if (ObjectCodec.Id(content) != request.ObjectId)
        {
            throw Fail(StatusCode.InvalidArgument, $"Object {request.ObjectId[..8]} does not re-hash to its id");
        }

        state.Store[request.ObjectId] = existing ?? content;
        foreach (string reply in state.PendingReplies.Keys)
        {
            TryComplete(reply);
        }

        return Task.FromResult(new PushObjectOut { Stored = true });
    }

    /// <summary>Once every object of a reply is in, inflates it (re-hashing each) and checks what FedAvg needs.</summary>
    private void TryComplete(string replyId)
    {
        if (!state.PendingReplies.TryGetValue(replyId, out var pending))
        {
            return;
        }

        var objects = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string id in ObjectTreeReader.PostOrderIds(pending.Tree))
        {
            if (!state.Store.TryGetValue(id, out byte[]? bytes) || bytes is null)
            {
                return;
            }

            objects[id] = bytes;
        }

        if (!state.PendingReplies.TryRemove(replyId, out _))
        {
            return;
        }

        FlowerMessage reply;
        try
        {
            reply = ObjectTreeReader.Inflate(pending.Tree, objects);
        }
        catch (FlowerProtocolException ex)
        {
            state.Refuse("reply refused: " + ex.Message);
            return;
        }

        var instruction = state.Delivered[pending.Head.Metadata.ReplyToMessageId];
        if (reply.Content is { } content && reply.Metadata.MessageType == "train")
        {
            FlowerArrayRecord[] arrays = content.Items.Select(i => i.Value).OfType<FlowerArrayRecord>().ToArray();
            FlowerMetricRecord[] metrics = content.Items.Select(i => i.Value).OfType<FlowerMetricRecord>().ToArray();
            if (arrays.Length != 1 || metrics.Length != 1)
            {
                state.Refuse("Expected exactly one ArrayRecord and one MetricRecord in replies");
                return;
            }

            if (!arrays[0].Items.Select(a => a.Key).SequenceEqual(instruction.Keys))
            {
                state.Refuse("The reply's ArrayRecord keys differ from those sent");
                return;
            }

            if (metrics[0].Number("num-examples") is not double n || n <= 0)
            {
                state.Refuse("The reply's MetricRecord lacks num-examples");
                return;
            }
        }

        state.Replies.Enqueue(new AcceptedReply(reply, pending.Head.Metadata.ReplyToMessageId));
        state.Events.Enqueue($"reply {reply.Metadata.MessageType}{(reply.Error is null ? string.Empty : " error")}");
    }
}
