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
        Option<FileInfo?> cloudCa = new Option<FileInfo?>("--cloud-ca") { Description = "PEM root that the cloud's server certificate must chain to (https:// gRPC or mqtts:// broker). With --cloud-cert/--cloud-pfx it also vouches for the cloud's signed global models. Default: --ca, or without it the system's roots.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> cloudCert = new Option<FileInfo?>("--cloud-cert") { Description = "The edge's device certificate towards the cloud (PEM, from `fededge pki issue --device EDGE_ID`): its identity at the cloud over mutual TLS; its updates are signed with --cloud-key.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> cloudKey = new Option<FileInfo?>("--cloud-key") { Description = "The private key of --cloud-cert (PEM, mode 0600; a key others can read is refused).", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> cloudCoordinatorCert = new Option<FileInfo?>("--cloud-coordinator-cert") { Description = "Pin the cloud coordinator's certificate (PEM, from `fededge pki issue --server NAME`): accept only cloud models it signed, not those of another server certificate of the cloud's CA (another edge's, say). Needs --cloud-cert/--cloud-key or --cloud-pfx. A model another server certificate of the CA signed ends the edge with exit code 4.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> cloudPfx = new Option<FileInfo?>("--cloud-pfx") { Description = "The edge's device certificate and key towards the cloud as a PKCS#12 bundle instead of --cloud-cert/--cloud-key (password from --password-file or FEDEDGE_PASSWORD).", HelpName = "FILE" }.ReadableFile();
        Option<int> port = new Option<int>("--port") { Description = "Port of the embedded MQTT broker its devices connect to (0 picks a free one). With --ca and --cert/--key (or --pfx) this is its mutual-TLS listener (devices connect with mqtts://HOST:PORT and their certificates).", DefaultValueFactory = _ => 1884 }.Between(0, 65535);
        Option<string> bind = new Option<string>("--bind") { Description = "With certificates: the address the embedded broker's mutual-TLS listener binds (default 127.0.0.1; 0.0.0.0 serves the site's LAN). The plain listener stays on loopback for the edge itself.", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" }.Check(a => System.Net.IPAddress.TryParse(a, out _) ? null : "must be an IP address");
        Option<string?> broker = new Option<string?>("--broker") { Description = "Use the site's MQTT broker (mqtt://host:port, e.g. a local Mosquitto) for the devices instead of the embedded one.", HelpName = "URL" }.MqttUrl();
        Option<FileInfo?> brokerPasswordFile = new Option<FileInfo?>("--broker-password-file") { Description = "With --broker: the edge coordinator's password on the site broker (mode 0600, first line).", HelpName = "FILE" }.ReadableFile();
        Option<string[]> devices = new("--device") { Description = "A device allowed to connect to this edge and its profile: ID=MUD_URL (repeat per device). Never a password here: see --device-passwords.", AllowMultipleArgumentsPerToken = false };
        Option<FileInfo?> devicePasswords = new Option<FileInfo?>("--device-passwords") { Description = "The embedded broker's device passwords: a file (mode 0600) with one ID=PASSWORD per line. Not used with --broker (the site broker authenticates the devices), nor with certificates (devices present theirs).", HelpName = "FILE" }.ReadableFile();
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
        foreach (Option o in new Option[] { edgeId, cloud, mudUrl, cloudCa, cloudCert, cloudKey, cloudPfx, cloudCoordinatorCert, port, bind, broker, brokerPasswordFile, devices, devicePasswords, k1, k2, minDevices, windowSize, strategy, model, seed, dataset, lr, state, heartbeat, missedHeartbeats, window, roundTimeout, joinTimeout, maxFailed, connectTimeout, exitAfter, verbose, logLevel }.Concat(credentialOptions.All))
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

            // Certificates towards the devices and passwords for them do not mix: each device's identity is its certificate.
            bool deviceCertificates = parse.GetValue(credentialOptions.Ca) is not null || parse.GetValue(credentialOptions.Cert) is not null || parse.GetValue(credentialOptions.Key) is not null || parse.GetValue(credentialOptions.Pfx) is not null;
            if (deviceCertificates && parse.GetValue(devicePasswords) is not null)
            {
                await err.WriteLineAsync("fededge edge: with --ca and --cert/--key (or --pfx) devices connect to the edge's broker with their certificates (mqtts://); drop --device-passwords.").ConfigureAwait(false);
                return 2;
            }

            bool cloudPair = parse.GetValue(cloudCert) is not null || parse.GetValue(cloudKey) is not null;
            bool cloudBundle = parse.GetValue(cloudPfx) is not null;
            if (cloudPair || cloudBundle)
            {
                string? cloudProblem =
                    cloudPair == cloudBundle || (cloudPair && (parse.GetValue(cloudCert) is null || parse.GetValue(cloudKey) is null)) ? "towards the cloud give either --cloud-cert FILE and --cloud-key FILE, or --cloud-pfx FILE."
                    : parse.GetValue(cloudCa) is null && parse.GetValue(credentialOptions.Ca) is null ? "--cloud-cert/--cloud-key (or --cloud-pfx) need the CA the cloud's certificate chains to: --cloud-ca FILE (or --ca FILE when the edge and the cloud share the federation CA)."
                    : cloudUri.Scheme is "mqtt" or "http" ? $"with --cloud-cert/--cloud-key (or --cloud-pfx) the edge reaches the cloud over mutual TLS: use --cloud mqtts://{cloudUri.Authority} or https://{cloudUri.Authority}."
                    : null;
                if (cloudProblem is not null)
                {
                    await err.WriteLineAsync("fededge edge: " + cloudProblem).ConfigureAwait(false);
                    return 2;
                }
            }

            string? cloudPassword = null;
            FederationCredentials? pki;
            FederationCredentials? cloudPki = null;
            try
            {
                pki = credentialOptions.Load(parse, out string? credentialProblem);
                if (credentialProblem is not null)
                {
                    await err.WriteLineAsync("fededge edge: " + credentialProblem).ConfigureAwait(false);
                    return 2;
                }

                if (cloudPair || cloudBundle)
                {
                    // Towards the cloud the edge is a device: its device certificate, the cloud's CA (--cloud-ca, else the
                    // federation's --ca and CRL) for the cloud's server certificate and the signer of its global models.
                    CertificateValidator cloudValidator = parse.GetValue(cloudCa) is { } ca
                        ? CertificateValidator.FromFiles(ca.FullName)
                        : pki?.Validator ?? CertificateValidator.FromFiles(parse.GetValue(credentialOptions.Ca)!.FullName, parse.GetValue(credentialOptions.Crl)?.FullName);
                    System.Security.Cryptography.X509Certificates.X509Certificate2 own = cloudBundle
                        ? KeyFiles.ReadPkcs12(parse.GetValue(cloudPfx)!.FullName, credentialOptions.ReadPassword(parse))
                        : KeyFiles.ReadCertificateWithKey(parse.GetValue(cloudCert)!.FullName, parse.GetValue(cloudKey)!.FullName);
                    if (FederationPki.ReadDeviceId(own) is not { } certified || certified != id)
                    {
                        string names = FederationPki.ReadDeviceId(own) is { } other ? $"names device '{other}'" : "names no device (issue it with `fededge pki issue --device " + id + "`)";
                        own.Dispose();
                        await err.WriteLineAsync($"fededge edge: the cloud certificate {names}, not --edge-id '{id}'.").ConfigureAwait(false);
                        return 2;
                    }

                    cloudPki = new FederationCredentials(cloudValidator, own);
                    if (parse.GetValue(cloudCoordinatorCert) is { } pinFile)
                    {
                        cloudPki = CoordinatorPin.Pin(cloudPki, pinFile.FullName, "--cloud-coordinator-cert", out string? pinProblem);
                        if (pinProblem is not null)
                        {
                            await err.WriteLineAsync("fededge edge: " + pinProblem).ConfigureAwait(false);
                            return 2;
                        }
                    }
                }
                else if (parse.GetValue(cloudCoordinatorCert) is not null)
                {
                    await err.WriteLineAsync("fededge edge: --cloud-coordinator-cert pins the certificate that signs the cloud's models: give the edge's cloud certificate too (--cloud-cert FILE --cloud-key FILE, or --cloud-pfx FILE).").ConfigureAwait(false);
                    return 2;
                }
                else
                {
                    cloudPassword = credentialOptions.ReadPassword(parse);
                }
            }
            catch (CredentialException ex)
            {
                await err.WriteLineAsync("fededge edge: " + ex.Message).ConfigureAwait(false);
                return 1;
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                await err.WriteLineAsync("fededge edge: " + ex.Message.ReplaceLineEndings(" ")).ConfigureAwait(false);
                return 1;
            }

            if (grpc && cloudPki is null && string.IsNullOrEmpty(cloudPassword))
            {
                await err.WriteLineAsync("fededge edge: a gRPC cloud needs the edge's token (--password-file FILE or FEDEDGE_PASSWORD) or its device certificate (--cloud-cert FILE --cloud-key FILE, or --cloud-pfx FILE).").ConfigureAwait(false);
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
            if (pki is not null && site is null)
            {
                // Mutual TLS on --port: each device's id comes from its verified client certificate (chain, validity, CRL);
                // the plain listener (a free loopback port) serves only the edge coordinator's own connection.
                brokerOptions.Tls = new EmbeddedBrokerTlsOptions { ServerCertificate = pki.Certificate, Validator = pki.Validator, Port = parse.GetValue(port) };
                brokerOptions.BindAddress = System.Net.IPAddress.Parse(parse.GetValue(bind)!);
                brokerOptions.Port = 0;
            }
            else if (pki is not null)
            {
                mqtt.Tls = new MqttTlsSettings { ClientCertificate = pki.Certificate, TrustedRoot = pki.Validator.Authority };
            }

            X509Root? root = parse.GetValue(cloudCa) is { } cloudRoot ? new X509Root(cloudRoot.FullName) : null;

            // Composed like any host application: the edge coordinator by AddFedEdgeCoordinator, the worker towards the cloud by
            // AddFedEdgeWorker, with the edge aggregator as the worker's trainer (it brings its own data: the devices).
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Services.AddCommandLifetime();
            builder.Logging.AddCliConsole(CliLogging.MinimumLevel(parse.GetValue(logLevel), parse.GetValue(verbose)));
            builder.Services.AddSingleton<IOptions<CoordinatorOptions>>(Options.Create(edgeOptions));
            builder.Services.AddFedEdgeCoordinator();
            builder.Services.AddSingleton<ICoordinatorTransport>(sp => new MqttCoordinatorTransport(mqtt, sp.GetService<ILoggerFactory>(), brokerHost: site is null ? new EmbeddedMqttBrokerHost(brokerOptions, sp.GetService<ILoggerFactory>()) : null));
            if (pki is not null)
            {
                // The edge coordinator verifies its devices' update signatures and signs the models it publishes to them.
                builder.Services.AddSingleton(pki);
            }

            builder.Services.AddSingleton(aggregation);
            builder.Services.AddSingleton<FedEdge.Admission.IAdmissionPolicy>(new ProfileAdmission(profiles));
            builder.Services.AddSingleton<ICheckpointStore>(_ => new FileCheckpointStore(Path.Combine(stateDir, "coordinator")));
            builder.Services.AddSingleton(sp => new EdgeAggregator(sp.GetRequiredService<Coordinator>(), new ManagedTrainer(network), hierarchy, edgeOptions, sp.GetService<TimeProvider>()));
            // The edge worker has no local data of its own (null data source): its trainer trains through the devices. It owns
            // (and disposes) its transport towards the cloud, so the transport is not a container singleton.
            builder.Services.AddSingleton(sp => new Worker(
                // The edge's heartbeats carry its devices in aggregate (hottest temperature, throttling, bytes to and from them).
                Options.Create(WithEdgeTelemetry(sp.GetRequiredService<IOptions<WorkerOptions>>().Value, sp.GetRequiredService<Coordinator>())),
                CloudTransport(sp.GetService<ILoggerFactory>()),
                sp.GetRequiredService<EdgeAggregator>(),
                dataSource: null,
                timeProvider: sp.GetService<TimeProvider>(),
                logger: sp.GetService<ILogger<Worker>>(),
                // With its cloud certificate the edge presents it at join, signs its updates and accepts only global
                // models signed by a coordinator certificate of the cloud's CA.
                credentials: cloudPki));

            // Towards the cloud: mutual TLS with the edge's device certificate, else a token (gRPC) or password (MQTT).
            IWorkerTransport CloudTransport(ILoggerFactory? logs) => (grpc, cloudPki) switch
            {
                (true, { } c) => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = cloudUri, DeviceId = id, ClientCertificate = c.Certificate, TrustedRoot = root?.Load() ?? c.Validator.Authority, SendTimeout = TimeSpan.FromSeconds(10) }, logs),
                (true, null) => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = cloudUri, DeviceId = id, Token = cloudPassword!, TrustedRoot = root?.Load() }, logs),
                (false, { } c) => new MqttWorkerTransport(new MqttWorkerOptions { Federation = "fededge", DeviceId = id, BrokerUri = cloudUri, Tls = new MqttTlsSettings { ClientCertificate = c.Certificate, TrustedRoot = root?.Load() ?? c.Validator.Authority } }, logs),
                (false, null) => new MqttWorkerTransport(new MqttWorkerOptions { Federation = "fededge", DeviceId = id, BrokerUri = cloudUri, Password = cloudPassword, Tls = root is null ? null : new MqttTlsSettings { TrustedRoot = root.Load() } }, logs),
            };
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
                return await CliHost.RunAsync(builder.Build(), "edge", err, services => CoordinatorCommand.WatchingCrlAsync(services, pki, parse.GetValue(credentialOptions.Crl), () => RunAsync(services, network, parse.GetValue(seed), id, site, mqtt, cloudUri, parse.GetValue(exitAfter), parse.GetValue(connectTimeout), stdout, err, cloudPki, cancellationToken)), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TransportException or MqttCommunicationException or CheckpointException or InvalidDataException)
            {
                string cause = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? " (" + inner.Message + ")" : string.Empty;
                if (cloudPki is not null && !grpc && ex is TransportException { InnerException: MQTTnet.Adapter.MqttConnectingFailedException })
                {
                    // Over mutual TLS a broker that cuts the handshake does not say why; the cloud's log names the reason.
                    cause += "; the cloud's broker did not accept this edge's certificate in the TLS handshake (issued by another CA, expired or revoked: the cloud coordinator's log names the reason)";
                }

                await err.WriteLineAsync($"fededge edge: {ex.Message}{cause}".ReplaceLineEndings(" ")).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(IServiceProvider services, NetworkSpec network, int seed, string id, Uri? site, MqttCoordinatorOptions mqtt, Uri cloud, int? until, double? connectTimeout, TextWriter stdout, TextWriter err, FederationCredentials? cloudPki, CancellationToken cancellationToken)
    {
        Coordinator coordinator = services.GetRequiredService<Coordinator>();
        EdgeAggregator edge = services.GetRequiredService<EdgeAggregator>();
        bool resumed = await coordinator.StartAsync(network.InitializeParameters(seed), cancellationToken).ConfigureAwait(false);
        var transport = (MqttCoordinatorTransport)services.GetRequiredService<ICoordinatorTransport>();
        string devicesSide = site is not null ? site.ToString()
            : transport.BrokerHost is EmbeddedMqttBrokerHost { Broker.TlsPort: int tlsPort } ? "embedded broker, mutual TLS on port " + tlsPort.ToString(CultureInfo.InvariantCulture) + "; devices connect with mqtts://HOST:" + tlsPort.ToString(CultureInfo.InvariantCulture) + " and their certificates"
            : "embedded broker on port " + transport.BrokerUri!.Port.ToString(CultureInfo.InvariantCulture);
        Func<IReadOnlyList<CertificateValidation>> handshakeRefusals = CoordinatorCommand.HandshakeRefusals(transport);
        int printedRefusals = 0;
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

            // Devices whose certificates the edge's broker refused (another CA, expired, revoked), each with its reason.
            IReadOnlyList<CertificateValidation> refusals = handshakeRefusals();
            for (; printedRefusals < refusals.Count; printedRefusals++)
            {
                await stdout.WriteLineAsync($"refused in the TLS handshake ({refusals[printedRefusals].Refusal}): {refusals[printedRefusals].Reason}").ConfigureAwait(false);
            }

            if (cloudPki is not null && CoordinatorPin.OtherCoordinatorSigned(worker, cloudPki, "--cloud-coordinator-cert") is { } pinned)
            {
                await err.WriteLineAsync($"fededge edge: {pinned}").ConfigureAwait(false);
                return CoordinatorPin.OtherCoordinator;
            }

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
        // The root's certificate only: CreateFromPemFile would look for a private key in the same file.
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Load() => KeyFiles.ReadCertificate(Path);
    }
}
