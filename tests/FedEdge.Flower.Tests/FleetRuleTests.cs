using System.Security.Cryptography;
using FedEdge.Flower.Fleet;
using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Flower.Tests;

/// <summary>The fake SuperLink's rules, hit directly with the node's Fleet client.</summary>
public sealed class FleetRuleTests
{
    private static FleetClient Client(FakeSuperLink link, NodeIdentity identity, TimeProvider? time = null) =>
        new(GrpcChannel.ForAddress($"http://{link.Address}"), identity, time ?? TimeProvider.System, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10));

    [Fact]
    public async Task Heartbeat_SignedWithAnotherNodesKey_RefusedAsInvalidNodeId()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        await using FleetClient owner = Client(link, NodeIdentity.Generate());
        await owner.RegisterAsync(default);
        ulong node = await owner.ActivateAsync(30, default);
        Assert.True(await owner.HeartbeatAsync(30, default));

        // Another key claims the owner's node id.
        await using FleetClient intruder = Client(link, NodeIdentity.Generate());
        await intruder.RegisterAsync(default);
        await intruder.ActivateAsync(30, default);
        var forged = new HeartbeatIn { Node = new NodeRef { NodeId = node }, HeartbeatInterval = 30 };
        var stub = new Wire.Fleet.FleetClient(GrpcChannel.ForAddress($"http://{link.Address}").Intercept(new NodeAuthInterceptor(intruder.Identity, TimeProvider.System)));
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await stub.SendNodeHeartbeatAsync(forged));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal("Invalid node ID", error.Status.Detail);
    }

    [Theory]
    [InlineData(-10, false)]
    [InlineData(-3, true)]
    [InlineData(200, true)]
    [InlineData(310, false)]
    public async Task Timestamp_OutsideWindow_Refused(int secondsLate, bool accepted)
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(secondsLate));
        await using FleetClient client = Client(link, NodeIdentity.Generate(), clock);
        if (accepted)
        {
            Assert.True(await client.RegisterAsync(default) > 0);
        }
        else
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.RegisterAsync(default));
            Assert.Equal("Invalid timestamp", error.Status.Detail);
        }
    }

    [Fact]
    public async Task Signature_OverAnotherTimestamp_Refused()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        using NodeIdentity identity = NodeIdentity.Generate();
        var headers = new Metadata
        {
            { NodeIdentity.PublicKeyHeader, identity.PublicKeyPem },
            { NodeIdentity.TimestampHeader, NodeIdentity.PythonIsoFormat(DateTimeOffset.UtcNow) },
            { NodeIdentity.SignatureHeader, identity.Sign(NodeIdentity.PythonIsoFormat(DateTimeOffset.UtcNow.AddSeconds(-1))) },
        };
        var stub = new Wire.Fleet.FleetClient(GrpcChannel.ForAddress($"http://{link.Address}"));
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await stub.RegisterNodeAsync(new RegisterNodeIn { PublicKey = Google.Protobuf.ByteString.CopyFrom(identity.PublicKeyPem) }, headers));
        Assert.Equal("Invalid signature", error.Status.Detail);
    }

    [Fact]
    public void Identity_Headers_AreFlowersFormat()
    {
        using NodeIdentity identity = NodeIdentity.Generate();
        string pem = System.Text.Encoding.ASCII.GetString(identity.PublicKeyPem);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----\n", pem, StringComparison.Ordinal);
        Assert.EndsWith("-----END PUBLIC KEY-----\n", pem, StringComparison.Ordinal);
        Assert.Equal("2026-12-03T01:02:03.000004+00:00", NodeIdentity.PythonIsoFormat(new DateTimeOffset(2026, 12, 3, 2, 2, 3, TimeSpan.FromHours(1)).AddTicks(40)));
        string ts = NodeIdentity.PythonIsoFormat(DateTimeOffset.UtcNow);
        using var verifier = ECDsa.Create();
        verifier.ImportFromPem(pem);
        Assert.True(verifier.VerifyData(System.Text.Encoding.ASCII.GetBytes(ts), identity.Sign(ts), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Equal(0x30, identity.Sign(ts)[0]); // a DER SEQUENCE
    }

    [Fact]
    public async Task PushObject_TamperedContent_RefusedBySuperLink()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        await using FleetClient client = Client(link, NodeIdentity.Generate());
        await client.RegisterAsync(default);
        ulong node = await client.ActivateAsync(30, default);
        var array = new FlowerArray("float32", [2], FlowerArray.NumpyStype, Npy.Write([1f, 2f], [2]));
        string sent = link.State.Send(node, "train", new FlowerRecordDict([new("arrays", new FlowerArrayRecord([new("w", array)]))]));
        PulledMessage? pulled = await client.PullAsync(default);
        Assert.NotNull(pulled?.Message);
        Assert.Equal(sent, pulled.Message.Metadata.MessageId);

        Envelope to = pulled.Message.Metadata;
        var reply = new Envelope { RunId = to.RunId, SrcNodeId = node, DstNodeId = to.SrcNodeId, ReplyToMessageId = sent, GroupId = to.GroupId, MessageType = "train", CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0, Ttl = 60 };
        var trained = new FlowerArray("float32", [2], FlowerArray.NumpyStype, Npy.Write([5f, 6f], [2]));
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(new FlowerMessage(reply, new FlowerRecordDict([new("arrays", new FlowerArrayRecord([new("w", trained)])), new("metrics", new FlowerMetricRecord([new("num-examples", FlowerValues.Metric(3L))]))]), null));
        var objects = deflated.Objects.ToDictionary(p => p.Key, p => (byte[])p.Value.Clone());
        objects[deflated.PostOrder[0]][^1] ^= 0x01;
        Envelope head = reply.Clone();
        head.MessageId = deflated.MessageId;

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync(deflated with { Objects = objects }, head, null, 0, default));
        Assert.Contains("re-hash", error.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(link.State.Replies);
    }
}
