using System.CommandLine;
using System.Globalization;
using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Cli.Hosting;
using FedEdge.Cli.Simulation;
using FedEdge.Coordination;
using FedEdge.Hierarchy;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet.Exceptions;

namespace FedEdge.Cli;

/// <summary>
/// <c>fededge edge</c>: an edge (fog) aggregator process. Towards its devices it is a coordinator (embedded broker, or a
/// site Mosquitto with <c>--broker</c>); towards the cloud it is a worker (<c>--cloud mqtt://…</c> or <c>--cloud https://…</c>
/// gRPC) whose training is k2 edge rounds of k1 local steps on its devices (HierFAVG).
/// </summary>
internal static class EdgeCommand
{
    public static Command Create()
    {
        Option<string> edgeId = new Option<string>("--edge-id") { Description = "This edge's id towards the cloud (its MQTT user name or gRPC device id there).", Required = true }.NotEmpty();
        Option<string> cloud = new Option<string>("--cloud") { Description = "The cloud coordinator: mqtt://host:port (its broker) or https://host:port (gRPC; http:// on loopback only).", Required = true, HelpName = "URL" }
            .Check(v => Uri.TryCreate(v, UriKind.Absolute, out Uri? u) && u.Scheme is "mqtt" or "mqtts" or "http" or "https" && !string.IsNullOrEmpty(u.Host) ? null : "must be mqtt://host:port or https://host:port");
        Option<string?> mudUrl = new Option<string?>("--mud-url") { Description = "The edge's MUD URL (its profile), presented to the cloud at join." }.AbsoluteUrl();
        Option<FileInfo?> cloudCa = new Option<FileInfo?>("--cloud-ca") { Description = "PEM root that the cloud's server certificate must chain to (https:// gRPC or mqtts:// broker; default: the system's roots).", HelpName = "FILE" }.ReadableFile();
        Option<int> port = new Option<int>("--port") { Description = "Port of the embedded MQTT broker its devices connect to (loopback; 0 picks a free one).", DefaultValueFactory = _ => 1884 }.Between(0, 65535);
        Option<string?> broker = new Option<string?>("--broker") { Description = "Use the site's MQTT broker (mqtt://host:port, e.g. a local Mosquitto) for the devices instead of the embedded one.", HelpName = "URL" }.MqttUrl();
        Option<FileInfo?> brokerPasswordFile = new Option<FileInfo?>("--broker-password-file") { Description = "With --broker: the edge coordinator's password on the site broker (mode 0600, first line).", HelpName = "FILE" }.ReadableFile();
        Option<string[]> devices = new("--device") { Description = "A device allowed to connect to this edge and its profile: ID=MUD_URL (repeat per device). Never a password here: see --device-passwords.", AllowMultipleArgumentsPerToken = false };
        Option<FileInfo?> devicePasswords = new Option<FileInfo?>("--device-passwords") { Description = "The embedded broker's device passwords: a file (mode 0600) with one ID=PASSWORD per line. Not used with --broker (the site broker authenticates the devices).", HelpName = "FILE" }.ReadableFile();
        Option<int> k1 = new Option<int>("--k1") { Description = "HierFAVG k1: local steps per device per edge round (a cloud task's hierfavg.k1 overrides it).", DefaultValueFactory = _ => 20 }.AtLeast(1);
        Option<int> k2 = new Option<int>("--k2") { Description = "HierFAVG k2: edge rounds per cloud round (a cloud task's hierfavg.k2 overrides it).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        Option<int> minDevices = new Option<int>("--min-devices") { Description = "Devices an edge round waits for (window size and quorum).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        Option<int?> windowSize = new Option<int?>("--window-size") { Description = "The edge's temporal window closes once this many devices asked to train (default: --min-devices)." }.AtLeast(1);
        Option<string> strategy = new("--strategy") { Description = "Aggregation strategy of the edge rounds.", DefaultValueFactory = _ => "fedavg" };
        Option<string> model = new Option<string>("--model") { Description = "Model name; must match the cloud's and the devices'.", DefaultValueFactory = _ => "mlp" }.KnownModel();
        Option<int> seed = new("--seed") { Description = "Seed of the initial weights (must match the cloud's for the same layout).", DefaultValueFactory = _ => 42 };
        Option<string?> dataset = DataSets.CreateOption();
        dataset.Description = "The data set the devices train on (nbaiot, toniot, iot23): sizes the model's input. Default: nbaiot.";
        Option<float> lr = new Option<float>("--lr") { Description = "The devices' learning rate.", DefaultValueFactory = _ => TrainingDefaults.LearningRate }.Positive();
        Option<DirectoryInfo> state = new("--state") { Description = "The edge's state folder: the edge coordinator's checkpoint (model, devices' window), the edge's place in the cloud round, its worker state. A restarted edge resumes from it.", DefaultValueFactory = _ => new DirectoryInfo("fededge-edge"), HelpName = "DIR" };
        Option<double> heartbeat = new Option<double>("--heartbeat") { Description = "Seconds between heartbeats, towards the devices and the cloud (give both the same --heartbeat).", DefaultValueFactory = _ => 10.0, HelpName = "SECONDS" }.Seconds();
        Option<int> missedHeartbeats = new Option<int>("--missed-heartbeats") { Description = "A device that misses this many heartbeats is lost.", DefaultValueFactory = _ => 3 }.AtLeast(1);
        Option<double> window = new Option<double>("--window") { Description = "Seconds the edge's temporal window stays open after the first training request.", DefaultValueFactory = _ => 30.0, HelpName = "SECONDS" }.Seconds();
        Option<double> roundTimeout = new Option<double>("--round-timeout") { Description = "Seconds an edge round waits for its devices' updates.", DefaultValueFactory = _ => 120.0, HelpName = "SECONDS" }.Seconds();
        Option<double> joinTimeout = new Option<double>("--join-timeout") { Description = "Seconds an edge round waits for training requests before it fails.", DefaultValueFactory = _ => 300.0, HelpName = "SECONDS" }.Seconds();
        Option<int> maxFailed = new Option<int>("--max-failed-edge-rounds") { Description = "Failed edge rounds tolerated per cloud round before the edge reports the cloud round as failed.", DefaultValueFactory = _ => 3 }.AtLeast(0);
        Option<double?> connectTimeout = new Option<double?>("--connect-timeout") { Description = "Give up (exit 1) when the cloud has not let the edge join within this many seconds; by default it retries with back-off.", HelpName = "SECONDS" }.Seconds();
        Option<int?> exitAfter = new Option<int?>("--exit-after-round") { Description = "Exit once the cloud's global model of this round has arrived (default: run until stopped)." }.AtLeast(0);
        Option<bool> verbose = new("--verbose") { Description = "Log the engines' information messages to standard error (same as --log-level information)." };
        Option<string?> logLevel = CliLogging.CreateLevelOption();
        CliCredentials credentialOptions = CliCredentials.Create();

        Command command = new("edge", "Run an edge aggregator (HierFAVG): a coordinator for its devices, a worker towards the cloud.");
        foreach (Option o in new Option[] { edgeId, cloud, mudUrl, cloudCa, port, broker, brokerPasswordFile, devices, devicePasswords, k1, k2, minDevices, windowSize, strategy, model, seed, dataset, lr, state, heartbeat, missedHeartbeats, window, roundTimeout, joinTimeout, maxFailed, connectTimeout, exitAfter, verbose, logLevel }.Concat(credentialOptions.All))
        {
            command.Options.Add(o);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            string id = parse.GetValue(edgeId)!;
            Uri cloudUri = new(parse.GetValue(cloud)!);
            bool grpc = cloudUri.Scheme is "http" or "https";
            if (grpc && cloudUri.Scheme == "http" && !cloudUri.IsLoopback)
            {
                await err.WriteLineAsync("fededge edge: --cloud http:// (gRPC without TLS) is allowed on loopback only; use https://.").ConfigureAwait(false);
                return 2;
            }

            string? cloudPassword;
            try
            {
                FederationCredentials? pki = credentialOptions.Load(parse, out string? credentialProblem);
                if (credentialProblem is not null)
                {
                    await err.WriteLineAsync("fededge edge: " + credentialProblem).ConfigureAwait(false);
                    return 2;
                }

                if (pki is not null)
                {
                    await err.WriteLineAsync("fededge edge: --ca/--cert/--key/--pfx are not supported by `fededge edge` yet; use --password-file.").ConfigureAwait(false);
                    return 2;
                }

                cloudPassword = credentialOptions.ReadPassword(parse);
            }
            catch (CredentialException ex)
            {
                await err.WriteLineAsync("fededge edge: " + ex.Message).ConfigureAwait(false);
                return 1;
            }

            if (grpc && string.IsNullOrEmpty(cloudPassword))
            {
                await err.WriteLineAsync("fededge edge: a gRPC cloud needs the edge's token: --password-file FILE or FEDEDGE_PASSWORD.").ConfigureAwait(false);
                return 2;
            }

            var profiles = new Dictionary<string, Uri>(StringComparer.Ordinal);
            var brokerOptions = new EmbeddedMqttBrokerOptions { Port = parse.GetValue(port) };
            foreach (string spec in parse.GetValue(devices) ?? [])
            {
                if (DeviceSpec.Parse(spec, mudOptional: false, out string? deviceProblem) is not { MudUrl: { } mud } device)
                {
                    await err.WriteLineAsync("fededge edge: " + (deviceProblem ?? $"--device '{spec}' must be ID=MUD_URL.")).ConfigureAwait(false);
                    return 2;
                }

                profiles[device.Id] = mud;
            }

            if (parse.GetValue(devicePasswords) is { } devicePasswordFile)
            {
                try
                {
                    foreach ((string deviceId, string secret) in CliCredentials.ReadDevicePasswords(devicePasswordFile.FullName))
                    {
                        brokerOptions.DevicePasswords[deviceId] = secret;
                    }
                }
                catch (CredentialException ex)
                {
                    await err.WriteLineAsync("fededge edge: " + ex.Message).ConfigureAwait(false);
                    return 1;
                }
            }

            Uri? site = parse.GetValue(broker) is { } b ? new Uri(b) : null;
            string? sitePassword = null;
            if (parse.GetValue(brokerPasswordFile) is { } passwordFile)
            {
                try
                {
                    KeyFiles.EnsurePrivate(passwordFile.FullName);
                    sitePassword = (await File.ReadAllLinesAsync(passwordFile.FullName, cancellationToken).ConfigureAwait(false)).FirstOrDefault()?.TrimEnd('\r');
                }
                catch (CredentialException ex)
                {
                    await err.WriteLineAsync("fededge edge: --broker-password-file: " + ex.Message).ConfigureAwait(false);
                    return 1;
                }
            }

            if (CoordinatorCommand.CreateStrategy(parse.GetValue(strategy)!, 1, parse.GetValue(minDevices), site is null ? profiles.Count : null, out string? strategyProblem) is not { } aggregation)
            {
                await err.WriteLineAsync("fededge edge: " + strategyProblem).ConfigureAwait(false);
                return 2;
            }

            NetworkSpec network;
            try
            {
                network = DataSetModels.Spec(parse.GetValue(model)!, DataSets.Parse(parse.GetValue(dataset)) ?? DataSetKind.Nbaiot);
            }
            catch (ArgumentException ex)
            {
                await err.WriteLineAsync("fededge edge: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            string stateDir = parse.GetValue(state)!.FullName;
            TimeSpan beat = TimeSpan.FromSeconds(parse.GetValue(heartbeat));
            var edgeOptions = new CoordinatorOptions
            {
                Federation = "fededge",
                MaxRounds = int.MaxValue,
                MinParticipants = parse.GetValue(minDevices),
                WindowSize = parse.GetValue(windowSize) ?? parse.GetValue(minDevices),
                WindowDuration = TimeSpan.FromSeconds(parse.GetValue(window)),
                RoundTimeout = TimeSpan.FromSeconds(parse.GetValue(roundTimeout)),
                JoinTimeout = TimeSpan.FromSeconds(parse.GetValue(joinTimeout)),
                HeartbeatInterval = beat,
                MissedHeartbeats = parse.GetValue(missedHeartbeats),
                ResendDelay = beat < TimeSpan.FromSeconds(1) ? beat : TimeSpan.FromSeconds(1),
                MaxConsecutiveFailures = null,
                HyperParameters = new TrainingHyperParameters { LocalIterations = parse.GetValue(k1), BatchSize = 64, LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed) },
            };
            var hierarchy = new EdgeAggregatorOptions { EdgeRoundsPerCloudRound = parse.GetValue(k2), MaxFailedEdgeRounds = parse.GetValue(maxFailed), StateFile = Path.Combine(stateDir, "edge.json") };
            var mqtt = new MqttCoordinatorOptions { Federation = "fededge", BrokerUri = site, WaitForBroker = site is not null, Password = sitePassword, ClientId = site is null ? null : "fededge-edge-" + id };
            X509Root? root = parse.GetValue(cloudCa) is { } ca ? new X509Root(ca.FullName) : null;

            // Composed like any host application: the edge coordinator by AddFedEdgeCoordinator, the worker towards the cloud by
            // AddFedEdgeWorker, with the edge aggregator as the worker's trainer (it brings its own data: the devices).
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Services.AddCommandLifetime();
            builder.Logging.AddCliConsole(CliLogging.MinimumLevel(parse.GetValue(logLevel), parse.GetValue(verbose)));
            builder.Services.AddSingleton<IOptions<CoordinatorOptions>>(Options.Create(edgeOptions));
            builder.Services.AddFedEdgeCoordinator();
            builder.Services.AddSingleton<ICoordinatorTransport>(sp => new MqttCoordinatorTransport(mqtt, sp.GetService<ILoggerFactory>(), brokerHost: site is null ? new EmbeddedMqttBrokerHost(brokerOptions, sp.GetService<ILoggerFactory>()) : null));
            builder.Services.AddSingleton(aggregation);
            builder.Services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new ProfileAdmission(profiles));
            builder.Services.AddSingleton<ICheckpointStore>(_ => new FileCheckpointStore(Path.Combine(stateDir, "coordinator")));
            builder.Services.AddSingleton(sp => new EdgeAggregator(sp.GetRequiredService<Coordinator>(), new ManagedTrainer(network), hierarchy, edgeOptions, sp.GetService<TimeProvider>()));
            // The edge worker has no local data of its own (null data source): its trainer trains through the devices. It owns
            // (and disposes) its transport towards the cloud, so the transport is not a container singleton.
            builder.Services.AddSingleton(sp => new Worker(
                // The edge's heartbeats carry its devices in aggregate (hottest temperature, throttling, bytes to and from them).
                Options.Create(WithEdgeTelemetry(sp.GetRequiredService<IOptions<WorkerOptions>>().Value, sp.GetRequiredService<Coordinator>())),
                grpc
                    ? new GrpcWorkerTransport(new GrpcWorkerOptions { Address = cloudUri, DeviceId = id, Token = cloudPassword!, TrustedRoot = root?.Load() }, sp.GetService<ILoggerFactory>())
                    : new MqttWorkerTransport(new MqttWorkerOptions { Federation = "fededge", DeviceId = id, BrokerUri = cloudUri, Password = cloudPassword, Tls = root is null ? null : new MqttTlsSettings { TrustedRoot = root.Load() } }, sp.GetService<ILoggerFactory>()),
                sp.GetRequiredService<EdgeAggregator>(),
                dataSource: null,
                timeProvider: sp.GetService<TimeProvider>(),
                logger: sp.GetService<ILogger<Worker>>()));
            builder.Services.AddFedEdgeWorker(o =>
            {
                o.DeviceId = id;
                o.Model = parse.GetValue(model);
                o.MudUrl = parse.GetValue(mudUrl) is { } m ? new Uri(m) : null;
                o.StateFile = Path.Combine(stateDir, "worker.json");
                o.HeartbeatInterval = beat;
                o.ResendDelay = beat < TimeSpan.FromSeconds(1) ? beat : TimeSpan.FromSeconds(1);
                o.Capabilities["role"] = "edge";
            });

            try
            {
                return await CliHost.RunAsync(builder.Build(), "edge", err, services => RunAsync(services, network, parse.GetValue(seed), id, site, mqtt, cloudUri, parse.GetValue(exitAfter), parse.GetValue(connectTimeout), stdout, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TransportException or MqttCommunicationException or CheckpointException or InvalidDataException)
            {
                string cause = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? " (" + inner.Message + ")" : string.Empty;
                await err.WriteLineAsync($"fededge edge: {ex.Message}{cause}".ReplaceLineEndings(" ")).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(IServiceProvider services, NetworkSpec network, int seed, string id, Uri? site, MqttCoordinatorOptions mqtt, Uri cloud, int? until, double? connectTimeout, TextWriter stdout, CancellationToken cancellationToken)
    {
        Coordinator coordinator = services.GetRequiredService<Coordinator>();
        EdgeAggregator edge = services.GetRequiredService<EdgeAggregator>();
        bool resumed = await coordinator.StartAsync(network.InitializeParameters(seed), cancellationToken).ConfigureAwait(false);
        string devicesSide = site is null ? "embedded broker on port " + ((MqttCoordinatorTransport)services.GetRequiredService<ICoordinatorTransport>()).BrokerUri!.Port.ToString(CultureInfo.InvariantCulture) : site.ToString();
        await stdout.WriteLineAsync($"edge {id} listening for devices ({devicesSide}); {(resumed ? "resumed after edge round " + coordinator.CompletedRounds.ToString(CultureInfo.InvariantCulture) : "fresh start")}").ConfigureAwait(false);

        Worker worker = services.GetRequiredService<Worker>();
        await WorkerCommand.JoinAsync(worker, connectTimeout, $" at the cloud {cloud}", cancellationToken).ConfigureAwait(false);
        await stdout.WriteLineAsync($"edge {id} joined the cloud {cloud}: {worker.State}{(worker.StateReason is null ? string.Empty : " (" + worker.StateReason + ")")}").ConfigureAwait(false);
        if (worker.State == WorkerState.NotReady && worker.StateReason?.StartsWith("refused", StringComparison.Ordinal) == true)
        {
            return 3;
        }

        int printedRounds = 0, printedCloudRounds = 0;
        var cloudRoundNumbers = new Dictionary<int, long>();
        long printedModel = worker.LatestGlobalModel?.Version ?? -1;
        while (!cancellationToken.IsCancellationRequested)
        {
            // Each edge round names its cloud round from the aggregator's own record, so a cloud round that starts
            // between two polls cannot take the previous one's last edge rounds.
            IReadOnlyList<EdgeRoundEntry> rounds = edge.EdgeRoundEntries;
            for (; printedRounds < rounds.Count; printedRounds++)
            {
                EdgeRoundEntry entry = rounds[printedRounds];
                printedCloudRounds = await PrintCloudRoundsAsync(entry.CloudRoundOrdinal, printedCloudRounds).ConfigureAwait(false);
                RoundResult r = entry.Result;
                long cloudRound = cloudRoundNumbers.GetValueOrDefault(entry.CloudRoundOrdinal, worker.LastRound);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"edge round {r.Round} completed={r.Completed} participants={r.Participants} loss={r.TrainingLoss:0.0000} up={r.BytesUp} down={r.BytesDown} cloud_round={cloudRound} {r.FailureReason}")).ConfigureAwait(false);
            }

            printedCloudRounds = await PrintCloudRoundsAsync(edge.CloudRoundsStarted, printedCloudRounds).ConfigureAwait(false);

            if (worker.LatestGlobalModel is { } g && g.Version > printedModel)
            {
                printedModel = g.Version;
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"cloud model {g.Version} received; {EdgeDeviceSummary.Of(coordinator)}")).ConfigureAwait(false);
                if (until is int last && g.Version >= last)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"edge {id}: cloud model of round {g.Version} received; exiting")).ConfigureAwait(false);
                    return 0;
                }
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        return 0;

        async Task<int> PrintCloudRoundsAsync(int upTo, int printed)
        {
            for (; printed < upTo; printed++)
            {
                cloudRoundNumbers[printed + 1] = worker.LastRound;
                string resume = edge.ResumedEdgeRounds > 0 ? string.Create(CultureInfo.InvariantCulture, $"; resumed with {edge.ResumedEdgeRounds} of its edge rounds done") : string.Empty;
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"cloud round {worker.LastRound}: k1={edge.CurrentLocalSteps} k2={edge.CurrentEdgeRoundsPerCloudRound}{resume}")).ConfigureAwait(false);
            }

            return printed;
        }
    }

    private static WorkerOptions WithEdgeTelemetry(WorkerOptions options, Coordinator edge)
    {
        options.Telemetry ??= new EdgeTelemetrySource(edge);
        return options;
    }

    /// <summary>A PEM root certificate file, loaded when the transport is built.</summary>
    private sealed record X509Root(string Path)
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Load() =>
            System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(Path);
    }
}
