using System.Diagnostics;
using System.Globalization;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Testing;
using FedEdge.Training;
using FedEdge.Transport.Mosquitto;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.Options;
using BridgeConfig = FedEdge.Transport.Mosquitto.MosquittoBridge;

namespace FedEdge.Transport.Tests;

/// <summary>
/// A site's Mosquitto bridged to the cloud's, with the bridge section <see cref="MosquittoBridge"/> generates: two
/// Mosquitto processes on loopback; the coordinator on the cloud broker, the devices on the site broker; a round completes.
/// </summary>
public sealed class MosquittoBridgeTests
{
    private const string Federation = "bridged";
    private static readonly string[] Devices = ["site-1", "site-2"];

    [Fact]
    public void Render_SiteDevices_CarriesTheirTopicsBothWaysAndTheModelIn()
    {
        var bridge = new BridgeConfig { Name = "site-a", Federation = Federation, RemoteHost = "cloud.example", RemotePort = 8883, RemoteUsername = "site-a", RemotePassword = "secret", CaFile = "/etc/mosquitto/cloud-ca.pem" };
        bridge.Devices.Add("pi-1");
        string text = bridge.Render();
        Assert.Contains("connection site-a\naddress cloud.example:8883\n", text, StringComparison.Ordinal);
        Assert.Contains("bridge_cafile /etc/mosquitto/cloud-ca.pem\n", text, StringComparison.Ordinal);
        Assert.Contains("topic fededge/bridged/devices/pi-1/update out 1\n", text, StringComparison.Ordinal);
        Assert.Contains("topic fededge/bridged/devices/pi-1/inbox in 1\n", text, StringComparison.Ordinal);
        Assert.Contains("topic fededge/bridged/model/# in 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("devices/+/", text, StringComparison.Ordinal);

        var config = new FedEdge.Transport.Mosquitto.MosquittoConfig { Federation = Federation };
        config.Bridges.Add(bridge);
        Assert.EndsWith(text, config.RenderConfig(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name with space", "cloud", null)]
    [InlineData("site", "cloud\nlistener 1 0.0.0.0", null)]
    [InlineData("site", "cloud", "dev/ice")]
    public void Render_InjectedOrInvalidValues_Refused(string name, string host, string? device)
    {
        var bridge = new BridgeConfig { Name = name, RemoteHost = host, Federation = Federation };
        if (device is not null)
        {
            bridge.Devices.Add(device);
        }

        Assert.Throws<ArgumentException>(bridge.Render);
    }

    [Fact]
    public async Task Bridge_SiteMosquittoToCloudMosquitto_CarriesARound()
    {
        var cloudConfig = new FedEdge.Testing.MosquittoConfig();
        cloudConfig.Users["coordinator"] = "coord-secret";
        cloudConfig.Users["site-a"] = "bridge-secret";
        await using MosquittoBroker? cloud = await MosquittoBroker.StartAsync(cloudConfig);
        if (cloud is null)
        {
            return; // No Mosquitto on this developer machine; CI installs it and must run this test.
        }

        var bridge = new BridgeConfig { Name = "site-a", Federation = Federation, RemoteHost = "127.0.0.1", RemotePort = cloud.Port, RemoteUsername = "site-a", RemotePassword = "bridge-secret" };
        await using MosquittoBroker? site = await MosquittoBroker.StartWithConfigAsync((port, directory) =>
        {
            string passwords = Path.Combine(directory, "site-passwd");
            File.WriteAllText(passwords, string.Empty);
            foreach (string device in Devices)
            {
                using Process tool = Process.Start("/usr/bin/mosquitto_passwd", ["-b", passwords, device, "pw-" + device])!;
                tool.WaitForExit();
            }

            return $"per_listener_settings false\nallow_anonymous false\npassword_file {passwords}\nlistener {port.ToString(CultureInfo.InvariantCulture)} 127.0.0.1\n" + bridge.Render();
        });
        Assert.NotNull(site);

        var layout = new ParameterLayout(new TensorSpec("w", 32, 32), new TensorSpec("b", 32));
        var coordinatorTransport = new MqttCoordinatorTransport(new MqttCoordinatorOptions { Federation = Federation, BrokerUri = cloud.Uri, Username = "coordinator", Password = "coord-secret" });
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = Federation, MaxRounds = 1, MinParticipants = 2, WindowSize = 2, WindowDuration = TimeSpan.FromSeconds(5), RoundTimeout = TimeSpan.FromSeconds(30), HeartbeatInterval = TimeSpan.FromSeconds(1), ResendDelay = TimeSpan.FromMilliseconds(500), Seed = 1 }),
            coordinatorTransport,
            AggregationStrategies.FedAvg(),
            new AdmitAll());
        await coordinator.StartAsync(new ParameterSet(layout));

        var workers = new List<Worker>();
        try
        {
            foreach (string device in Devices)
            {
                var transport = new MqttWorkerTransport(new MqttWorkerOptions { Federation = Federation, DeviceId = device, Password = "pw-" + device, BrokerUri = site!.Uri });
                var worker = new Worker(Options.Create(new WorkerOptions { DeviceId = device, HeartbeatInterval = TimeSpan.FromSeconds(1), ResendDelay = TimeSpan.FromMilliseconds(500) }), transport, new ShiftTrainer(0.5f, 0.25, layout), new InMemoryDataSource(new Dataset(new float[20], new float[10], 2)));
                workers.Add(worker);
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await Task.WhenAll(workers.Select(w => w.StartAsync(cts.Token).AsTask()));
            var results = new List<RoundResult>();
            await foreach (RoundResult result in coordinator.RunAsync(cts.Token))
            {
                results.Add(result);
            }

            RoundResult round = Assert.Single(results, r => r.Completed);
            Assert.Equal(Devices.Order(), round.Contributors.Order());
            Assert.All(coordinator.GlobalParameters.Values.ToArray(), v => Assert.Equal(0.5f, v, 1e-6f));

            // The devices never talked to the cloud broker: everything crossed the bridge.
            Assert.Contains("site-a", cloud.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("u'site-1'", cloud.Log, StringComparison.Ordinal);
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
