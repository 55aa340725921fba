using FedEdge.Coordination;
using FedEdge.Flower.Objects;
using FedEdge.Testing;
using FedEdge.Training;

namespace FedEdge.Flower.Tests;

/// <summary>
/// <c>fededge flower-node</c> as a process against the fake SuperLink: registration, heartbeats, two FedAvg rounds,
/// an evaluation and leaving; and the refusals (stale timestamp, wrong key, tampered object).
/// </summary>
public sealed class FlowerNodeProcessTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-flower-").FullName;
    private static readonly string Data = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "samples", "data"), "*.csv.gz").Order(StringComparer.Ordinal).First();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CliProcess StartNode(FakeSuperLink link, params string[] extra) =>
        CliProcess.Start("flower-node", ["flower-node", "--superlink", link.Address, .. (extra.Contains("--root-cert") ? Array.Empty<string>() : ["--insecure"]), "--data", Data, "--heartbeat", "10", "--poll-interval", "0.2", "--log-level", "information", .. extra]);

    private static async Task<T?> Eventually<T>(Func<T?> probe, string what, CliProcess node)
    {
        DateTime until = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < until)
        {
            if (probe() is { } value)
            {
                return value;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{what} did not happen.\n{node.Describe()}");
    }

    private static FlowerRecordDict TrainContent(FlowerArrayRecord arrays, long round) => new(
    [
        new("arrays", arrays),
        new("config", new FlowerConfigRecord([new("lr", new Wire.ConfigValue { Double = 0.05 }), new("local-steps", FlowerValues.Config(5L)), new("server-round", FlowerValues.Config(round))])),
    ]);

    /// <summary>FedAvg as Flower's strategy does it: arrays averaged by num-examples.</summary>
    private static FlowerArrayRecord FedAvg(IReadOnlyList<FlowerMessage> replies)
    {
        var records = replies.Select(r => ((FlowerArrayRecord)r.Content!.Items.Single(i => i.Value is FlowerArrayRecord).Value, ((FlowerMetricRecord)r.Content.Items.Single(i => i.Value is FlowerMetricRecord).Value).Number("num-examples")!.Value)).ToList();
        double total = records.Sum(r => r.Item2);
        var items = new List<KeyValuePair<string, FlowerArray>>();
        foreach ((string key, FlowerArray first) in records[0].Item1.Items)
        {
            double[] sum = new double[Npy.Read(first.Data).Values.Length];
            foreach ((FlowerArrayRecord record, double n) in records)
            {
                double[] values = Npy.Read(record.Items.Single(i => i.Key == key).Value.Data).Values;
                for (int i = 0; i < sum.Length; i++)
                {
                    sum[i] += values[i] * n / total;
                }
            }

            items.Add(new(key, new FlowerArray("float32", first.Shape, FlowerArray.NumpyStype, Npy.Write(NpyDtype.Float32, first.Shape, sum))));
        }

        return new FlowerArrayRecord(items);
    }

    [Fact]
    public async Task FlowerNode_TwoFedAvgRoundsAndEvaluate_RegistersHeartbeatsTrainsAndLeaves()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        string stateFile = Path.Combine(_dir, "node.state.json");
        await using CliProcess node = StartNode(link, "--exit-after", "3", "--state", stateFile);

        ulong nodeId = (await Eventually(() => link.State.Active.Keys.FirstOrDefault() is ulong n and > 0 ? (ulong?)n : null, "activation", node))!.Value;
        await node.WaitForLineAsync(l => l.Contains($"node {nodeId} active", StringComparison.Ordinal), Patience, "the node's activation line");
        FlowerArrayRecord global = ParameterMapping.FromParameterSet(ModelCatalog.Create("mlp", 7, new ManagedTrainerOptions()).InitialParameters);
        var losses = new List<double>();
        for (long round = 1; round <= 2; round++)
        {
            string sent = link.State.Send(nodeId, "train", TrainContent(global, round));
            AcceptedReply reply = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == sent), $"the reply to round {round}", node))!;
            Assert.Null(reply.Message.Error);
            var metrics = (FlowerMetricRecord)reply.Message.Content!.Items.Single(i => i.Value is FlowerMetricRecord).Value;
            Assert.True(metrics.Number("num-examples") > 0);
            losses.Add(metrics.Number("train_loss")!.Value);
            FlowerArrayRecord next = FedAvg([reply.Message]);
            Assert.Equal(global.Items.Select(i => i.Key), next.Items.Select(i => i.Key));
            Assert.NotEqual(global.Items[0].Value.Data, next.Items[0].Value.Data);
            global = next;
        }

        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
        string evaluation = link.State.Send(nodeId, "evaluate", new FlowerRecordDict([new("arrays", global)]));
        AcceptedReply scored = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == evaluation), "the evaluation reply", node))!;
        var eval = (FlowerMetricRecord)scored.Message.Content!.Items.Single().Value;
        Assert.True(eval.Number("num-examples") > 0);
        Assert.True(eval.Number("eval_acc") is >= 0 and <= 1, $"accuracy {eval.Number("eval_acc")}");
        Assert.True(double.IsFinite(eval.Number("eval_loss")!.Value));

        Assert.Equal(0, await node.WaitForExitAsync(Patience));
        string[] events = [.. link.State.Events];
        Assert.Contains($"register {nodeId}", events);
        Assert.Contains($"deactivate {nodeId}", events);
        Assert.Contains($"unregister {nodeId}", events);
        Assert.True(Array.IndexOf(events, $"deactivate {nodeId}") < Array.IndexOf(events, $"unregister {nodeId}"));
        Assert.True(link.State.Heartbeats >= 1, "no heartbeat");
        Assert.Empty(link.State.Refusals);
        Assert.Equal(3, events.Count(e => e.StartsWith("confirm ", StringComparison.Ordinal)));

        // The worker's own state machine and state file, as in a FedEdge federation.
        WorkerStateRecord? saved = await new FileWorkerStateStore(stateFile).LoadAsync();
        Assert.NotNull(saved);
        Assert.Equal(2, saved.LastRound);
        Assert.Equal(WorkerState.ReadyForLearning, saved.State);
    }

    [Fact]
    public async Task FlowerNode_TamperedObject_RepliesWithAnErrorAndKeepsServing()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        await using CliProcess node = StartNode(link, "--exit-after", "2");
        ulong nodeId = (await Eventually(() => link.State.Active.Keys.FirstOrDefault() is ulong n and > 0 ? (ulong?)n : null, "activation", node))!.Value;
        FlowerArrayRecord global = ParameterMapping.FromParameterSet(ModelCatalog.Create("mlp", 7, new ManagedTrainerOptions()).InitialParameters);

        string tampered = link.State.Send(nodeId, "train", TrainContent(global, 1), tamper: true);
        AcceptedReply refused = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == tampered), "the error reply", node))!;
        Assert.NotNull(refused.Message.Error);
        Assert.Contains("tampered", refused.Message.Error.Reason, StringComparison.Ordinal);

        string good = link.State.Send(nodeId, "train", TrainContent(global, 1));
        AcceptedReply trained = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == good), "the train reply", node))!;
        Assert.Null(trained.Message.Error);
        Assert.Equal(0, await node.WaitForExitAsync(Patience));
    }

    [Fact]
    public async Task FlowerNode_UnusableDataFile_StaysNotReadyAndRepliesWhy()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        string bad = Path.Combine(_dir, "broken.csv");
        await File.WriteAllTextAsync(bad, "this,is\nnot,n-baiot\n");
        await using CliProcess node = CliProcess.Start("flower-node", ["flower-node", "--superlink", link.Address, "--insecure", "--data", bad, "--heartbeat", "10", "--poll-interval", "0.2", "--exit-after", "1"]);
        ulong nodeId = (await Eventually(() => link.State.Active.Keys.FirstOrDefault() is ulong n and > 0 ? (ulong?)n : null, "activation", node))!.Value;
        await node.WaitForLineAsync(l => l.Contains("worker NotReady (bad local data", StringComparison.Ordinal), Patience, "the NotReady line");

        string sent = link.State.Send(nodeId, "train", TrainContent(ParameterMapping.FromParameterSet(ModelCatalog.Create("mlp", 7, new ManagedTrainerOptions()).InitialParameters), 1));
        AcceptedReply reply = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == sent), "the error reply", node))!;

        Assert.NotNull(reply.Message.Error);
        Assert.Contains("bad local data", reply.Message.Error.Reason, StringComparison.Ordinal);
        Assert.Equal(0, await node.WaitForExitAsync(Patience));
    }

    [Fact]
    public async Task FlowerNode_StaleTimestamp_RefusedBySuperLinkAndExitsWithOneLine()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        link.State.ClockSkew = TimeSpan.FromSeconds(400); // the node's timestamps look 400 s old
        await using CliProcess node = StartNode(link);

        Assert.Equal(1, await node.WaitForExitAsync(Patience));
        Assert.Contains("Invalid timestamp", node.Stderr, StringComparison.Ordinal);
        Assert.Single(node.StderrLines, l => l.StartsWith("fededge flower-node:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", node.Stderr, StringComparison.Ordinal);
        Assert.Empty(link.State.Active);
    }

    [Fact]
    public async Task FlowerNode_KeyNotRegistered_RefusedBySuperLink()
    {
        // A key the SuperLink does not know: ActivateNode is refused, as for a node whose key was never registered.
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        string key = Path.Combine(_dir, "node.pem");
        using (var ecdsa = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
        {
            await File.WriteAllTextAsync(key, ecdsa.ExportPkcs8PrivateKeyPem());
        }

        await using CliProcess node = StartNode(link, "--node-key", key);
        Assert.Equal(1, await node.WaitForExitAsync(Patience));
        Assert.Contains("No SuperNode found", node.Stderr, StringComparison.Ordinal);
        Assert.Empty(link.State.Active);
    }

    [Fact]
    public async Task FlowerNode_WrongCurveKey_UsageErrorInOneLine()
    {
        await using FakeSuperLink link = await FakeSuperLink.StartAsync();
        string key = Path.Combine(_dir, "p256.pem");
        using (var ecdsa = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(key, ecdsa.ExportPkcs8PrivateKeyPem());
        }

        await using CliProcess node = StartNode(link, "--node-key", key);
        Assert.Equal(2, await node.WaitForExitAsync(Patience));
        Assert.Contains("P-384", node.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlowerNode_RootCert_TrainsOverTlsAndRefusesAnotherCa()
    {
        using var ca = TestCertificates.CreateCa("Flower Test CA");
        using var server = TestCertificates.CreateSigned(ca, "superlink", server: true);
        using var otherCa = TestCertificates.CreateCa("Another CA");
        string caPem = Path.Combine(_dir, "ca.pem");
        string otherPem = Path.Combine(_dir, "other.pem");
        TestCertificates.WriteCertificatePem(ca, caPem);
        TestCertificates.WriteCertificatePem(otherCa, otherPem);
        await using FakeSuperLink link = await FakeSuperLink.StartAsync(server);

        await using (CliProcess wrong = StartNode(link, "--root-cert", otherPem, "--connect-timeout", "30"))
        {
            Assert.Equal(1, await wrong.WaitForExitAsync(Patience));
            Assert.True(wrong.StderrLines.Count(l => l.StartsWith("fededge flower-node: refused: TLS with the SuperLink failed", StringComparison.Ordinal)) == 1, wrong.Describe());
            Assert.Empty(link.State.Active);
        }

        await using CliProcess node = StartNode(link, "--root-cert", caPem, "--exit-after", "1");
        ulong nodeId = (await Eventually(() => link.State.Active.Keys.FirstOrDefault() is ulong n and > 0 ? (ulong?)n : null, "activation", node))!.Value;
        FlowerArrayRecord global = ParameterMapping.FromParameterSet(ModelCatalog.Create("mlp", 7, new ManagedTrainerOptions()).InitialParameters);
        string sent = link.State.Send(nodeId, "train", TrainContent(global, 1));
        AcceptedReply reply = (await Eventually(() => link.State.Replies.FirstOrDefault(r => r.InstructionId == sent), "the reply over TLS", node))!;
        Assert.Null(reply.Message.Error);
        Assert.Equal(0, await node.WaitForExitAsync(Patience));
    }

    [Theory]
    [InlineData("--superlink", "nohostport")]
    [InlineData("--heartbeat", "5")]
    public async Task FlowerNode_BadOption_ExitsTwoWithOneLine(string option, string value)
    {
        CliResult result = await CliRunner.RunAsync(["flower-node", "--superlink", "127.0.0.1:1", "--insecure", "--data", Data, option, value]);
        Assert.Equal(2, result.ExitCode);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }
}
