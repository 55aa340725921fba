using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Testing;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// The red-team finding: a client with write access to the broker's model topic publishes a forged model "v999999".
/// Workers with federation credentials ignore it (not signed by the coordinator); a worker without credentials (the
/// control) stores it, which proves the forged model was delivered.
/// </summary>
public sealed class ForgedModelTests
{
    private const string Federation = "forge";

    [Fact]
    public async Task ForgedModel_FromClientWithBrokerWriteAccess_RefusedBySigningWorkers()
    {
        var config = new FedEdge.Testing.MosquittoConfig { Acl = "user intruder\ntopic readwrite #\n\n" + MqttTopicScheme.MosquittoAcl(Federation, "coordinator") };
        config.Users["coordinator"] = "coord-secret";
        config.Users["intruder"] = "intruder-secret";
        foreach (string id in new[] { "dev-1", "dev-2", "plain-1" })
        {
            config.Users[id] = "pw-" + id;
        }

        await using MosquittoBroker? broker = await MosquittoBroker.StartAsync(config);
        if (broker is null)
        {
            return;
        }

        DateTimeOffset now = TimeProvider.System.GetUtcNow();
        using X509Certificate2 ca = FederationPki.CreateCertificateAuthority("forge tests", now, TimeSpan.FromDays(30));
        var serverCredentials = new FederationCredentials(new CertificateValidator(ca), FederationPki.IssueServer(ca, "coordinator", now, TimeSpan.FromDays(30)));
        var layout = new ParameterLayout(new TensorSpec("w", 8));
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = Federation, MaxRounds = 1, MinParticipants = 2, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(2), RoundTimeout = TimeSpan.FromSeconds(20), Seed = 1 }),
            new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, BrokerUri = broker.Uri, Username = "coordinator", Password = "coord-secret" }),
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            credentials: serverCredentials);
        await coordinator.StartAsync(new ParameterSet(layout));

        var workers = new List<Worker>();
        try
        {
            foreach (string id in new[] { "dev-1", "dev-2" })
            {
                X509Certificate2 cert = FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = id }, now);
                workers.Add(new Worker(
                    Options.Create(new WorkerOptions { DeviceId = id }),
                    new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = id, Password = "pw-" + id, BrokerUri = broker.Uri }),
                    new ShiftTrainer(0.25f, 0.5, layout),
                    new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)),
                    credentials: new FederationCredentials(new CertificateValidator(ca), cert)));
            }

            await using var control = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = "plain-1", Password = "pw-plain-1", BrokerUri = broker.Uri });
            var controlHandler = new RecordingWorker();
            await control.ConnectAsync(controlHandler);
            foreach (Worker w in workers)
            {
                await w.StartAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await foreach (RoundResult r in coordinator.RunAsync(cts.Token))
            {
                Assert.True(r.Completed, r.FailureReason);
            }

            while (workers.Any(w => w.LatestGlobalModel?.Version != 1))
            {
                await Task.Delay(20, cts.Token);
            }

            // The intruder publishes a forged model to the model topic (it has write access to everything).
            var evil = new ParameterSet(layout);
            evil.Values.Fill(1000f);
            await using (var intruder = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, BrokerUri = broker.Uri, Username = "intruder", Password = "intruder-secret", ClientId = "intruder" }))
            {
                await intruder.StartAsync(new RecordingCoordinator());
                await intruder.PublishGlobalModelAsync(new GlobalModel { Version = 999999, Hash = evil.ComputeHash(), Parameters = evil });

                GlobalModel delivered = await controlHandler.NextAsync<GlobalModel>(m => m.Version == 999999);
                Assert.Equal(1000f, delivered.Parameters.Values[0]);
            }

            await Task.Delay(500, cts.Token);
            Assert.All(workers, w => Assert.Equal(1, w.LatestGlobalModel!.Version));
            Assert.All(workers, w => Assert.Equal(SignatureCheck.Valid, UpdateSigning.VerifyModel(w.LatestGlobalModel!, serverCredentials.Certificate)));
        }
        finally
        {
            foreach (Worker w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }
}
