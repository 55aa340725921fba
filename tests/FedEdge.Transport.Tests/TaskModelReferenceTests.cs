using Xunit.Abstractions;
using FedEdge.Messaging;
using FedEdge.Transport.Codecs;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using FedEdge.Transport.Wire;

namespace FedEdge.Transport.Tests;

/// <summary>
/// A round task that starts from the model the coordinator already published travels as a reference to that model's
/// hash; the worker transport fills in the parameters from the model it received, after hashing them itself.
/// </summary>
public sealed class TaskModelReferenceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Federation = "fedref";
    private const int Params = 20_000;
    private readonly RecordingCoordinator _mqttHandler = new();
    private readonly List<IAsyncDisposable> _owned = [];
    private MqttCoordinatorTransport _mqtt = null!;

    public async Task InitializeAsync()
    {
        var broker = new EmbeddedMqttBrokerOptions { Port = 0 };
        foreach (string id in new[] { "ref-a", "ref-b", "ref-c" })
        {
            broker.DevicePasswords[id] = "pw-" + id;
        }

        _mqtt = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, ChunkSize = 16 * 1024 }, new TestOutputLoggerFactory(output), brokerHost: new EmbeddedMqttBrokerHost(broker));
        await _mqtt.StartAsync(_mqttHandler);
    }

    public async Task DisposeAsync()
    {
        foreach (IAsyncDisposable owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await _mqtt.DisposeAsync();
    }

    private async Task<(MqttWorkerTransport Transport, RecordingWorker Handler)> JoinedMqttWorkerAsync(string id, Action<MqttWorkerOptions>? configure = null)
    {
        var options = new MqttWorkerOptions { Federation = Federation, DeviceId = id, Password = "pw-" + id, BrokerUri = _mqtt.BrokerUri, ChunkSize = 16 * 1024 };
        configure?.Invoke(options);
        var transport = new MqttWorkerTransport(options, new TestOutputLoggerFactory(output));
        _owned.Add(transport);
        var handler = new RecordingWorker();
        await transport.ConnectAsync(handler);
        Assert.True((await transport.JoinAsync(new JoinRequest { DeviceId = id, Capabilities = new Dictionary<string, string> { ["engine"] = "managed" } })).Accepted);
        return (transport, handler);
    }

    [Fact]
    public async Task Mqtt_TaskFromThePublishedModel_TravelsAsAReferenceAndStartsFromThatModel()
    {
        ParameterSet global = TestData.RandomSet(61, Params);
        await _mqtt.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = global.ComputeHash(), Parameters = global });
        var (worker, handler) = await JoinedMqttWorkerAsync("ref-a");
        var (join, _) = await _mqttHandler.NextAsync<JoinRequest>();
        Assert.Equal(["engine"], join.Capabilities.Keys); // the transport's capability is not the coordinator's business
        await handler.NextAsync<GlobalModel>();

        long before = worker.Statistics.BytesReceived;
        await _mqtt.SendTaskAsync("ref-a", TestData.Task(2, global));
        RoundTask task = await handler.NextAsync<RoundTask>();

        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());
        Assert.Equal(2, task.Round);
        Assert.Equal("nonce-2", task.Nonce);
        Assert.NotSame(global, task.GlobalParameters);
        Assert.InRange(worker.Statistics.BytesReceived - before, 1, 2048); // the model is 80 KB
    }

    [Fact]
    public async Task Mqtt_WorkerThatMissedTheModel_DropsTheReferenceAndTheResendCarriesTheParameters()
    {
        // The model (80 KB of parameters and 100 KB of metadata) exceeds what this worker accepts, so it never holds
        // it; a complete task (80 KB) fits.
        ParameterSet global = TestData.RandomSet(62, Params);
        var metadata = new Dictionary<string, string> { ["padding"] = new string('x', 100_000) };
        await _mqtt.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = global.ComputeHash(), Parameters = global, Metadata = metadata });
        var (worker, handler) = await JoinedMqttWorkerAsync("ref-b", o => o.Reassembly.MaxMessageBytes = 150_000);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (worker.Statistics.Malformed == 0)
            {
                await Task.Delay(20, cts.Token);
            }
        }

        RoundTask sent = TestData.Task(2, global);
        long before = worker.Statistics.BytesReceived;
        await _mqtt.SendTaskAsync("ref-b", sent);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            while (worker.Statistics.BytesReceived == before)
            {
                await Task.Delay(20, cts.Token);
            }
        }

        Assert.InRange(worker.Statistics.BytesReceived - before, 1, 2048);
        Assert.False(handler.TryTake(out RoundTask? unresolved), $"a task was delivered without its parameters: round {unresolved?.Round}");

        before = worker.Statistics.BytesReceived;
        await _mqtt.SendTaskAsync("ref-b", sent); // the coordinator's re-send
        RoundTask task = await handler.NextAsync<RoundTask>();
        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());
        Assert.True(worker.Statistics.BytesReceived - before > Params * 4);
    }

    [Fact]
    public async Task Mqtt_TaskFromOtherParameters_CarriesThem()
    {
        ParameterSet published = TestData.RandomSet(64, Params);
        ParameterSet other = TestData.RandomSet(65, Params);
        await _mqtt.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = published.ComputeHash(), Parameters = published });
        var (worker, handler) = await JoinedMqttWorkerAsync("ref-c");
        await handler.NextAsync<GlobalModel>();

        long before = worker.Statistics.BytesReceived;
        await _mqtt.SendTaskAsync("ref-c", TestData.Task(2, other));
        RoundTask task = await handler.NextAsync<RoundTask>();
        Assert.Equal(other.ComputeHash(), task.GlobalParameters.ComputeHash());
        Assert.True(worker.Statistics.BytesReceived - before > Params * 4);
    }

    [Fact]
    public async Task Grpc_TaskFromThePublishedModel_TravelsAsAReferenceAndStartsFromThatModel()
    {
        var options = new GrpcCoordinatorOptions { Port = 0, ChunkSize = 16 * 1024, AllowPlainText = true };
        options.DeviceTokens["g-ref"] = "token-ref";
        var handler = new RecordingCoordinator();
        var coordinator = new GrpcCoordinatorTransport(options);
        _owned.Add(coordinator);
        await coordinator.StartAsync(handler);
        ParameterSet global = TestData.RandomSet(66, Params);
        await coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 1, Hash = global.ComputeHash(), Parameters = global });

        var worker = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = coordinator.Address, DeviceId = "g-ref", Token = "token-ref", ChunkSize = 16 * 1024, CallDeadline = TimeSpan.FromSeconds(20) });
        _owned.Insert(0, worker);
        var recorder = new RecordingWorker();
        await worker.ConnectAsync(recorder);
        Assert.True((await worker.JoinAsync(new JoinRequest { DeviceId = "g-ref" })).Accepted);
        await recorder.NextAsync<GlobalModel>();

        long before = worker.Statistics.BytesReceived;
        await coordinator.SendTaskAsync("g-ref", TestData.Task(2, global));
        RoundTask task = await recorder.NextAsync<RoundTask>();
        Assert.Equal(global.ComputeHash(), task.GlobalParameters.ComputeHash());
        Assert.InRange(worker.Statistics.BytesReceived - before, 1, 2048);

        // Parameters other than the published model's travel in the task.
        ParameterSet other = TestData.RandomSet(67, Params);
        await coordinator.SendTaskAsync("g-ref", TestData.Task(3, other));
        Assert.Equal(other.ComputeHash(), (await recorder.NextAsync<RoundTask>(t => t.Round == 3)).GlobalParameters.ComputeHash());
    }

    [Fact]
    public void Wire_Reference_RoundTripsAndAMalformedHashIsRefused()
    {
        ParameterSet global = TestData.RandomSet(68, 100);
        RoundTask task = TestData.Task(4, global);
        byte[] bytes = WireSerializer.Serialize(new WireMessage { MessageId = "m1", Body = new RoundTaskReference(task, global.ComputeHash()) });
        Assert.True(bytes.Length < 300);
        var reference = Assert.IsType<ReferencedRoundTask>(WireSerializer.Deserialize(bytes).Body);
        Assert.Equal(global.ComputeHash(), reference.ModelHash);
        RoundTask resolved = reference.Resolve(global);
        Assert.Equal(task.Nonce, resolved.Nonce);
        Assert.Equal(task.Deadline, resolved.Deadline);
        Assert.Equal(task.HyperParameters.LearningRate, resolved.HyperParameters.LearningRate);

        byte[] bad = WireSerializer.Serialize(new WireMessage { MessageId = "m2", Body = new RoundTaskReference(task, "not-a-digest") });
        Assert.Throws<WireFormatException>(() => WireSerializer.Deserialize(bad));
    }

    [Fact]
    public void Cache_ResolvesOnlyAReferenceToTheParametersItHolds()
    {
        ParameterSet a = TestData.RandomSet(70, 100);
        ParameterSet b = TestData.RandomSet(71, 100);
        ReferencedRoundTask toA = Reference(TestData.Task(5, a), a.ComputeHash());
        var cache = new PublishedModelCache();
        Assert.False(cache.TryResolve(toA, out _)); // no model yet
        cache.Remember(new GlobalModel { Version = 1, Hash = b.ComputeHash(), Parameters = b });
        Assert.False(cache.TryResolve(toA, out _));
        cache.Remember(new GlobalModel { Version = 2, Hash = a.ComputeHash(), Parameters = a });
        Assert.True(cache.TryResolve(toA, out RoundTask? task));
        Assert.Equal(a.ComputeHash(), task!.GlobalParameters.ComputeHash());
        Assert.NotSame(a, task.GlobalParameters);
    }

    private static ReferencedRoundTask Reference(RoundTask task, string hash) =>
        Assert.IsType<ReferencedRoundTask>(WireSerializer.Deserialize(WireSerializer.Serialize(new WireMessage { MessageId = WireMessage.NewId(), Body = new RoundTaskReference(task, hash) })).Body);

    [Fact]
    public void Sender_DeviceWithoutTheCapabilityOrLossyModelCodec_GetsNoReference()
    {
        ParameterSet global = TestData.RandomSet(69, 100);
        var model = new GlobalModel { Version = 1, Hash = global.ComputeHash(), Parameters = global };
        var sender = new ModelReferenceSender(ParameterCodecs.Float32);
        sender.OnJoin("old", new JoinRequest { DeviceId = "old" });
        sender.OnJoin("new", ModelReference.Announce(new JoinRequest { DeviceId = "new" }));
        sender.OnPublished(model);
        Assert.Null(sender.PublishedHashFor("old"));
        Assert.Equal(model.Hash, sender.PublishedHashFor("new"));
        sender.OnJoin("new", new JoinRequest { DeviceId = "new" }); // re-joined with an older build
        Assert.Null(sender.PublishedHashFor("new"));

        var lossy = new ModelReferenceSender(ParameterCodecs.Float16);
        lossy.OnJoin("new", ModelReference.Announce(new JoinRequest { DeviceId = "new" }));
        lossy.OnPublished(model);
        Assert.Null(lossy.PublishedHashFor("new"));
    }

    [Fact]
    public async Task Coalescer_ResendWhileTheFirstCopyIsOnItsWay_WaitsForItInsteadOfSendingAgain()
    {
        var coalescer = new UpdateCoalescer();
        ModelUpdate update = TestData.Update("w", 1, TestData.RandomSet(72, 10));
        var first = new TaskCompletionSource();
        int sends = 0;
        ValueTask Send(ModelUpdate u, CancellationToken t)
        {
            sends++;
            return sends == 1 ? new ValueTask(first.Task) : ValueTask.CompletedTask;
        }

        ValueTask a = coalescer.SendAsync(update, Send, CancellationToken.None);
        ValueTask b = coalescer.SendAsync(update, Send, CancellationToken.None);
        Assert.Equal(1, sends);
        Assert.False(b.IsCompleted);
        first.SetResult();
        await a;
        await b;

        // Once the copy has left, a re-send goes out again.
        await coalescer.SendAsync(update, Send, CancellationToken.None);
        Assert.Equal(2, sends);
        Assert.Equal(1, coalescer.Coalesced);
    }

    [Fact]
    public async Task Coalescer_FailedCopy_DoesNotHoldBackTheNextOne()
    {
        var coalescer = new UpdateCoalescer();
        ModelUpdate update = TestData.Update("w", 3, TestData.RandomSet(76, 10));
        var first = new TaskCompletionSource();
        int sends = 0;
        ValueTask Send(ModelUpdate u, CancellationToken t)
        {
            sends++;
            return sends == 1 ? new ValueTask(first.Task) : ValueTask.CompletedTask;
        }

        ValueTask a = coalescer.SendAsync(update, Send, CancellationToken.None);
        ValueTask b = coalescer.SendAsync(update, Send, CancellationToken.None);
        first.SetException(new InvalidOperationException("broker gone"));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await a);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await b);
        await coalescer.SendAsync(update, Send, CancellationToken.None);
        Assert.Equal(2, sends);
    }
}
