using System.CommandLine;
using System.Globalization;
using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Checkpoints;
using FedEdge.Cli.Simulation;
using FedEdge.Coordination;
using FedEdge.Mud.Admission;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;
using FedEdge.Cli.Hosting;
using FedEdge.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli;

/// <summary><c>fededge coordinator</c>: a coordinator process with an embedded MQTT broker (or an external broker); workers run as separate processes.</summary>
internal static class CoordinatorCommand
{
    public static Command Create()
    {
        Option<int> port = new Option<int>("--port") { Description = "Port of the embedded MQTT broker (default 1883; with --ca and --cert/--key or --pfx its mutual-TLS listener, default 8883), or of the gRPC listener with --transport grpc (default 50051) (0 picks a free one).", DefaultValueFactory = _ => 1883 }.Between(0, 65535);
        Option<string> transport = new("--transport") { Description = "mqtt (embedded or external broker) or grpc (gRPC over mutual TLS: needs --ca and --cert/--key or --pfx; workers use --coordinator https://HOST:PORT).", DefaultValueFactory = _ => "mqtt" };
        transport.AcceptOnlyFromAmong("mqtt", "grpc");
        Option<int?> grpcPort = new Option<int?>("--grpc") { Description = "Serve the federation over gRPC on this port instead of MQTT (workers and edges connect with https://HOST:PORT; plain http:// on loopback only). Device tokens are the --device passwords.", HelpName = "PORT" }.Check(p => p is null or (>= 0 and <= 65535) ? null : "must be a port between 0 and 65535");
        Option<string> grpcBind = new Option<string>("--grpc-bind") { Description = "With --grpc: the address to listen on (beyond loopback --grpc-cert and --grpc-key are required).", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" }.Check(a => System.Net.IPAddress.TryParse(a, out _) ? null : "must be an IP address");
        Option<FileInfo?> grpcCert = new Option<FileInfo?>("--grpc-cert") { Description = "With --grpc: the server certificate (PEM) for https.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> grpcKey = new Option<FileInfo?>("--grpc-key") { Description = "With --grpc: the server certificate's private key (PEM, mode 0600).", HelpName = "FILE" }.ReadableFile();
        Option<string> bind = new Option<string>("--bind") { Description = "With certificates: the address the embedded broker's mutual-TLS listener binds (default 127.0.0.1; 0.0.0.0 serves a LAN). The plain listener stays on loopback for the coordinator itself.", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDRESS" }.Check(a => System.Net.IPAddress.TryParse(a, out _) ? null : "must be an IP address");
        Option<string?> broker = new Option<string?>("--broker") { Description = "Use an external MQTT broker (mqtt://host:port) instead of the embedded one.", HelpName = "URL" }.MqttUrl();
        Option<string[]> devices = new("--device") { Description = "A device allowed to join and its profile: ID=MUD_URL (repeat per device). With --mud the MUD URL is optional (ID): the device presents its own and MUD admission judges it. Never a password here: see --device-passwords.", AllowMultipleArgumentsPerToken = false };
        Option<FileInfo?> devicePasswords = new Option<FileInfo?>("--device-passwords") { Description = "The embedded broker's device passwords: a file (mode 0600) with one ID=PASSWORD per line. Not needed over gRPC, where devices present certificates.", HelpName = "FILE" }.ReadableFile();
        Option<DirectoryInfo?> mudDir = new Option<DirectoryInfo?>("--mud") { Description = "Admit devices with RFC 8520 MUD admission: a folder of signed MUD files (*.json + *.p7s), e.g. samples/mud.", HelpName = "DIR" }.ExistingDirectory();
        Option<FileInfo?> mudTrust = new Option<FileInfo?>("--mud-trust") { Description = "PEM trust anchors for MUD signatures (default: DIR/demo-ca.cert.pem).", HelpName = "PEM" }.ReadableFile();
        Option<DirectoryInfo?> userPolicy = new("--user-policy") { Description = "With --mud: the User Policy Server folder (`fededge ups approve --dir DIR`), read at every join. With certificates, a MUD URL a device asserts itself (not in its certificate) is admitted only when an administrator approved it there for that device.", HelpName = "DIR" };
        Option<string> mudEndpoint = new("--mud-endpoint") { Description = "The coordinator endpoint (host:port, tcp) a device's MUD policy must allow.", DefaultValueFactory = _ => "coordinator.fededge.local:8883", HelpName = "HOST:PORT" };
        Option<int> rounds = new Option<int>("--rounds") { Description = "Round budget.", DefaultValueFactory = _ => 10 }.AtLeast(1);
        Option<int> minDevices = new Option<int>("--min-devices") { Description = "Devices a round waits for (window size and quorum).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        Option<string> strategy = new("--strategy") { Description = "Aggregation strategy.", DefaultValueFactory = _ => "fedavg" };
        Option<int> byzantine = new Option<int>("--byzantine") { Description = "The number f of Byzantine devices krum, multikrum and bulyan tolerate: krum and multikrum need more than 2f + 2 devices per round (--min-devices), bulyan at least 4f + 3.", DefaultValueFactory = _ => 1, HelpName = "F" };
        Option<string> mixing = MixingOption.Create("Pre-aggregation before the robust rules (as on simulate). A committee's validators resolve --mixing the same way and must end up with the same value, or they refuse the round's head.");
        Option<string> model = new Option<string>("--model") { Description = "Model name (mlp, autoencoder, mednn, colearn).", DefaultValueFactory = _ => "mlp" }.KnownModel();
        Option<int> seed = new("--seed") { Description = "Seed of the initial weights.", DefaultValueFactory = _ => 42 };
        Option<string?> codec = CliOptionValidation.CodecOption();
        Option<string?> dataset = Simulation.DataSets.CreateOption();
        dataset.Description = "The data set the workers train on (nbaiot, toniot, iot23): sizes the model's input. Default: nbaiot.";
        Option<int> steps = new Option<int>("--local-steps") { Description = "Local steps per round (k1).", DefaultValueFactory = _ => 20 }.AtLeast(0);
        Option<int?> hierK1 = new Option<int?>("--hierfavg-k1") { Description = "Sent with every task: edge aggregators (`fededge edge`) use this k1 (local steps per device per edge round) instead of their own --k1.", HelpName = "K1" }.AtLeast(1);
        Option<int?> hierK2 = new Option<int?>("--hierfavg-k2") { Description = "Sent with every task: edge aggregators run this many edge rounds per cloud round instead of their own --k2.", HelpName = "K2" }.AtLeast(1);
        Option<float> lr = new Option<float>("--lr") { Description = "Local learning rate.", DefaultValueFactory = _ => Simulation.TrainingDefaults.LearningRate }.Positive();
        Option<double> heartbeat = new Option<double>("--heartbeat") { Description = "Seconds between the heartbeats workers send (give workers the same --heartbeat).", DefaultValueFactory = _ => 10.0, HelpName = "SECONDS" }.Seconds();
        Option<int> missedHeartbeats = new Option<int>("--missed-heartbeats") { Description = "A device that misses this many heartbeats is lost: it leaves the window and the round until it is heard again.", DefaultValueFactory = _ => 3 }.AtLeast(1);
        Option<double> window = new Option<double>("--window") { Description = "Seconds the temporal window stays open after the first training request (CoLearn's T).", DefaultValueFactory = _ => 30.0, HelpName = "SECONDS" }.Seconds();
        Option<double> roundTimeout = new Option<double>("--round-timeout") { Description = "Seconds a round waits for updates after its tasks went out (default 120; with --secure-aggregation, room for its four phases: 300, or 4 × --secagg-timeout + 30).", DefaultValueFactory = _ => 120.0, HelpName = "SECONDS" }.Seconds();
        Option<int?> windowSize = new Option<int?>("--window-size") { Description = "The temporal window closes once this many devices asked to train (CoLearn's N; default: --min-devices)." }.AtLeast(1);
        Option<double> joinTimeout = new Option<double>("--join-timeout") { Description = "Seconds a round waits for training requests before it fails.", DefaultValueFactory = _ => 300.0, HelpName = "SECONDS" }.Seconds();
        Option<double?> connectTimeout = new Option<double?>("--connect-timeout") { Description = "With --broker: give up (exit 1) when the broker cannot be reached within this many seconds; by default the coordinator waits and retries with back-off for as long as the broker is down.", HelpName = "SECONDS" }.Seconds();
        Option<bool> verbose = new("--verbose") { Description = "Log the engine's information messages (admissions, rounds, lost devices) to standard error (same as --log-level information)." };
        Option<string?> logLevel = CliLogging.CreateLevelOption();
        Option<DirectoryInfo> output = new("--out") { Description = "Checkpoint folder: the coordinator resumes from it after a restart.", DefaultValueFactory = _ => new DirectoryInfo("fededge-coordinator"), HelpName = "DIR" };

        Option<DirectoryInfo?> ledgerDir = new("--ledger") { Description = "Keep a transparency log in DIR (signed with --ledger-key, or the coordinator's --key). Default with --committee: OUT/ledger.", HelpName = "DIR" };
        Option<FileInfo?> ledgerKey = new Option<FileInfo?>("--ledger-key") { Description = "The ECDSA P-256 private key (PEM, mode 0600) that signs the log's receipts and heads (default: the coordinator's --key).", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> committeeFile = new Option<FileInfo?>("--committee") { Description = "A committee file (committee.json: 3f + 1 validators with name, certificate and endpoint, e.g. https://127.0.0.1:7401): every round's head needs 2f + 1 co-signatures from `fededge validator` processes before its model is published.", HelpName = "FILE" }.ReadableFile();
        Option<double> committeeTimeout = new Option<double>("--committee-timeout") { Description = "Seconds the coordinator waits for the validators of one head.", DefaultValueFactory = _ => 10.0, HelpName = "SECONDS" }.Seconds();
        Option<bool> secureAggregation = SecureAggregationCli.CoordinatorFlag();
        Option<int?> secaggThreshold = SecureAggregationCli.ThresholdOption();
        Option<float?> secaggClipRange = SecureAggregationCli.ClipRangeOption();
        Option<double?> secaggTimeout = SecureAggregationCli.PhaseTimeoutOption();
        CliCredentials credentialOptions = CliCredentials.Create();
        Command command = new("coordinator", "Run a coordinator process (embedded MQTT broker by default); start workers with `fededge worker`.");
        foreach (Option o in new Option[] { port, bind, transport, grpcPort, grpcBind, grpcCert, grpcKey, broker, devices, devicePasswords, mudDir, mudTrust, userPolicy, mudEndpoint, rounds, minDevices, strategy, byzantine, mixing, model, seed, dataset, steps, hierK1, hierK2, lr, output, heartbeat, missedHeartbeats, window, roundTimeout, windowSize, joinTimeout, connectTimeout, verbose, logLevel, codec, ledgerDir, ledgerKey, committeeFile, committeeTimeout, secureAggregation, secaggThreshold, secaggClipRange, secaggTimeout }.Concat(credentialOptions.All))
        {
            command.Options.Add(o);
        }

        DashboardCli.AddTo(command, portOptional: false);
        Option<DirectoryInfo> runsStore = Runs.RunsCommand.StoreOption();
        command.Options.Add(runsStore);
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            FederationCredentials? credentials;
            string? brokerPassword;
            try
            {
                credentials = credentialOptions.Load(parse, out string? credentialProblem);
                if (credentialProblem is not null)
                {
                    await err.WriteLineAsync("fededge coordinator: " + credentialProblem).ConfigureAwait(false);
                    return 2;
                }

                brokerPassword = credentials is null || parse.GetValue(credentialOptions.Pfx) is null ? credentialOptions.ReadPassword(parse) : null;
            }
            catch (CredentialException ex)
            {
                await err.WriteLineAsync("fededge coordinator: " + ex.Message).ConfigureAwait(false);
                return 1;
            }

            var profiles = new Dictionary<string, Uri>(StringComparer.Ordinal);
            var brokerOptions = new EmbeddedMqttBrokerOptions { Port = parse.GetValue(port) };
            var deviceIds = new List<string>();
            foreach (string spec in parse.GetValue(devices) ?? [])
            {
                if (DeviceSpec.Parse(spec, mudOptional: parse.GetValue(mudDir) is not null, out string? deviceProblem) is not { } device)
                {
                    await err.WriteLineAsync("fededge coordinator: " + deviceProblem).ConfigureAwait(false);
                    return 2;
                }

                deviceIds.Add(device.Id);
                if (device.MudUrl is not null)
                {
                    profiles[device.Id] = device.MudUrl;
                }
            }

            if (parse.GetValue(devicePasswords) is { } passwordFile)
            {
                try
                {
                    foreach ((string id, string secret) in CliCredentials.ReadDevicePasswords(passwordFile.FullName))
                    {
                        brokerOptions.DevicePasswords[id] = secret;
                    }
                }
                catch (CredentialException ex)
                {
                    await err.WriteLineAsync("fededge coordinator: " + ex.Message).ConfigureAwait(false);
                    return 1;
                }
            }

            IAdmissionPolicy admission = new ProfileAdmission(profiles);
            if (parse.GetValue(mudDir) is { } dir)
            {
                string trust = parse.GetValue(mudTrust)?.FullName ?? Path.Combine(dir.FullName, "demo-ca.cert.pem");
                string endpoint = parse.GetValue(mudEndpoint)!;
                int colon = endpoint.LastIndexOf(':');
                if (!dir.Exists || !File.Exists(trust) || colon < 1 || !int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int mudPort) || mudPort is < 1 or > 65535)
                {
                    await err.WriteLineAsync($"fededge coordinator: --mud needs an existing folder, a trust PEM ('{trust}') and --mud-endpoint host:port ('{endpoint}').").ConfigureAwait(false);
                    return 2;
                }

                var mudOptions = new MudAdmissionOptions { CoordinatorHost = endpoint[..colon], CoordinatorPort = mudPort, MudDirectory = dir.FullName, RequireCertificateMudUrl = credentials is not null };
                mudOptions.AddTrustAnchorsFromPem(trust);
                FedEdge.Mud.PolicyServer.UserPolicyServer? ups = parse.GetValue(userPolicy) is { } upsDir
                    ? new FedEdge.Mud.PolicyServer.UserPolicyServer(FedEdge.Mud.PolicyServer.UserPolicyStores.File(UpsCommand.StorePath(upsDir)))
                    : null;
                admission = new MudAdmissionPolicy(mudOptions, MudFileSources.FromDirectory(dir.FullName), userPolicyServer: ups);
                await stdout.WriteLineAsync($"MUD admission: {dir.FullName} (trust {trust}, coordinator {endpoint}/tcp{(parse.GetValue(userPolicy) is { } u ? $", User Policy Server {UpsCommand.StorePath(u)}" : string.Empty)})").ConfigureAwait(false);
            }
            else if (parse.GetValue(userPolicy) is not null)
            {
                await err.WriteLineAsync("fededge coordinator: --user-policy applies to MUD admission: give --mud DIR too.").ConfigureAwait(false);
                return 2;
            }

            Uri? external = null;
            if (parse.GetValue(broker) is { } b && !Uri.TryCreate(b, UriKind.Absolute, out external))
            {
                await err.WriteLineAsync($"fededge coordinator: --broker '{b}' is not a URL (mqtt://host:port).").ConfigureAwait(false);
                return 2;
            }

            int deviceCount = deviceIds.Union(brokerOptions.DevicePasswords.Keys).Count();
            if (CreateStrategy(parse.GetValue(strategy)!, parse.GetValue(byzantine), parse.GetValue(minDevices), external is null ? deviceCount : null, out string? strategyProblem, MixingOption.Resolve(parse.GetValue(mixing), parse.GetValue(strategy)!)) is not { } aggregation)
            {
                await err.WriteLineAsync("fededge coordinator: " + strategyProblem).ConfigureAwait(false);
                return 2;
            }

            bool secure = parse.GetValue(secureAggregation);
            int secureThreshold = 0;
            if (secure)
            {
                string? secureProblem = SecureAggregationCli.StrategyProblem(aggregation);
                if (secureProblem is null && SecureAggregationCli.Threshold(parse.GetValue(secaggThreshold), parse.GetValue(minDevices), out secureProblem) is int t)
                {
                    secureThreshold = t;
                }

                if (secureProblem is null && parse.GetValue(secaggClipRange) is float r && !(r > 0 && float.IsFinite(r)))
                {
                    secureProblem = "--secagg-clip-range must be a positive number.";
                }

                if (secureProblem is null && parse.GetValue(codec) is not null)
                {
                    secureProblem = "--codec does not combine with --secure-aggregation (masked updates must travel exactly).";
                }

                if (secureProblem is not null)
                {
                    await err.WriteLineAsync("fededge coordinator: " + secureProblem).ConfigureAwait(false);
                    return 2;
                }
            }
            else if (parse.GetValue(secaggThreshold) is not null || parse.GetValue(secaggClipRange) is not null || parse.GetValue(secaggTimeout) is not null)
            {
                await err.WriteLineAsync("fededge coordinator: --secagg-threshold, --secagg-clip-range and --secagg-timeout apply to secure aggregation: give --secure-aggregation too.").ConfigureAwait(false);
                return 2;
            }

            DashboardSettings? dashboard = DashboardCli.Resolve(parse, out string? dashboardProblem);
            if (dashboardProblem is not null)
            {
                await err.WriteLineAsync("fededge coordinator: " + dashboardProblem).ConfigureAwait(false);
                return 2;
            }

            bool grpc = parse.GetValue(transport) == "grpc";
            if (grpc && (credentials is null || external is not null))
            {
                await err.WriteLineAsync("fededge coordinator: --transport grpc runs over mutual TLS: give --ca FILE with --cert FILE and --key FILE (or --pfx FILE), and no --broker.").ConfigureAwait(false);
                return 2;
            }

            int listenPort = grpc && parse.GetResult(port) is null or { Implicit: true } ? 50051 : parse.GetValue(port);
            if (!grpc && external is null && credentials is not null && parse.GetValue(grpcPort) is null)
            {
                if (brokerOptions.DevicePasswords.Count > 0)
                {
                    await err.WriteLineAsync("fededge coordinator: with --ca and --cert/--key (or --pfx) devices connect to the embedded broker with their certificates (mqtts://); drop --device-passwords.").ConfigureAwait(false);
                    return 2;
                }

                // Mutual TLS on --port (8883 unless given): identity from each verified client certificate; the plain
                // listener (a free loopback port) serves only the coordinator's own connection.
                brokerOptions.Tls = new EmbeddedBrokerTlsOptions
                {
                    ServerCertificate = credentials.Certificate,
                    Validator = credentials.Validator,
                    Port = parse.GetResult(port) is null or { Implicit: true } ? 8883 : parse.GetValue(port),
                };
                brokerOptions.BindAddress = System.Net.IPAddress.Parse(parse.GetValue(bind)!);
                brokerOptions.Port = 0;
            }


            // An external broker that is down (not started yet, restarting) is waited for with back-off, like a worker does.
            var mqtt = new MqttCoordinatorOptions { Federation = "fededge", BrokerUri = external, WaitForBroker = external is not null };
            if (external is not null)
            {
                mqtt.Password = brokerPassword;
                mqtt.Tls = credentials is null ? null : new MqttTlsSettings { ClientCertificate = credentials.Certificate, TrustedRoot = credentials.Validator.Authority };
            }

            string outDir = parse.GetValue(output)!.FullName;

            // Composed like any host application: every port through DI, the engine built by AddFedEdgeCoordinator.
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Services.AddCommandLifetime();
            builder.Logging.AddCliConsole(CliLogging.MinimumLevel(parse.GetValue(logLevel), parse.GetValue(verbose)));
            FedEdgeCoordinationBuilder fedEdge = builder.Services.AddFedEdgeCoordinator(o =>
            {
                o.Federation = "fededge";
                o.MaxRounds = parse.GetValue(rounds);
                o.MinParticipants = parse.GetValue(minDevices);
                o.WindowSize = parse.GetValue(windowSize) ?? parse.GetValue(minDevices);
                o.WindowDuration = TimeSpan.FromSeconds(parse.GetValue(window));
                o.RoundTimeout = secure && parse.GetResult(roundTimeout) is null or { Implicit: true }
                    ? SecureAggregationCli.RoundTimeout(parse.GetValue(secaggTimeout))
                    : TimeSpan.FromSeconds(parse.GetValue(roundTimeout));
                o.JoinTimeout = TimeSpan.FromSeconds(parse.GetValue(joinTimeout));
                o.HeartbeatInterval = TimeSpan.FromSeconds(parse.GetValue(heartbeat));
                o.MissedHeartbeats = parse.GetValue(missedHeartbeats);
                o.ResendDelay = TimeSpan.FromSeconds(Math.Min(1, parse.GetValue(heartbeat)));
                var extra = new Dictionary<string, string>(StringComparer.Ordinal);
                if (parse.GetValue(hierK1) is int k1)
                {
                    extra[FedEdge.Hierarchy.EdgeAggregatorOptions.LocalStepsKey] = k1.ToString(CultureInfo.InvariantCulture);
                }

                if (parse.GetValue(hierK2) is int k2)
                {
                    extra[FedEdge.Hierarchy.EdgeAggregatorOptions.EdgeRoundsKey] = k2.ToString(CultureInfo.InvariantCulture);
                }

                o.HyperParameters = new TrainingHyperParameters { LocalIterations = parse.GetValue(steps), BatchSize = 64, LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed), Extra = SecureAggregationCli.NameProtocol(extra, secure) };
                o.UpdateCodec = parse.GetValue(codec) is string spec ? FedEdge.Messaging.UpdateCodecSpec.Normalize(spec) : null;
            });
            if (secure)
            {
                SecureAggregationCli.AddToCoordinator(builder.Services, secureThreshold, parse.GetValue(secaggClipRange) ?? SecureAggregationCli.DefaultClipRange, parse.GetValue(secaggTimeout));
            }

            GrpcCoordinatorOptions? tokenGrpc = null;
            if (parse.GetValue(grpcPort) is int grpcListen)
            {
                System.Net.IPAddress bind = System.Net.IPAddress.Parse(parse.GetValue(grpcBind)!);
                if (grpc || external is not null || (parse.GetValue(grpcCert) is null) != (parse.GetValue(grpcKey) is null) || (!System.Net.IPAddress.IsLoopback(bind) && parse.GetValue(grpcCert) is null))
                {
                    await err.WriteLineAsync("fededge coordinator: --grpc cannot be combined with --broker or --transport grpc; --grpc-cert and --grpc-key go together and are required beyond loopback.").ConfigureAwait(false);
                    return 2;
                }

                tokenGrpc = new GrpcCoordinatorOptions { Port = grpcListen, BindAddress = bind, AllowPlainText = parse.GetValue(grpcCert) is null };
                if (parse.GetValue(grpcCert) is { } cert)
                {
                    try
                    {
                        FedEdge.Security.KeyFiles.EnsurePrivate(parse.GetValue(grpcKey)!.FullName);
                        tokenGrpc.ServerCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(cert.FullName, parse.GetValue(grpcKey)!.FullName);
                    }
                    catch (Exception ex) when (ex is CredentialException or System.Security.Cryptography.CryptographicException)
                    {
                        await err.WriteLineAsync("fededge coordinator: --grpc-cert/--grpc-key: " + ex.Message).ConfigureAwait(false);
                        return 2;
                    }
                }

                foreach ((string device, string password) in brokerOptions.DevicePasswords)
                {
                    tokenGrpc.DeviceTokens[device] = password;
                }
            }

            if (grpc)
            {
                // Mutual TLS: the device id comes from each verified client certificate (chain, validity, CRL).
                var grpcOptions = new FedEdge.Transport.Grpc.GrpcCoordinatorOptions { Port = listenPort, ServerCertificate = credentials!.Certificate, ClientCertificateValidator = credentials.Validator };
                builder.Services.AddSingleton<ICoordinatorTransport>(sp => new FedEdge.Transport.Grpc.GrpcCoordinatorTransport(grpcOptions, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
            }
            else if (tokenGrpc is not null)
            {
                builder.Services.AddSingleton<ICoordinatorTransport>(sp => new FedEdge.Transport.Grpc.GrpcCoordinatorTransport(tokenGrpc, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
            }
            else
            {
                builder.Services.AddSingleton<ICoordinatorTransport>(sp => new MqttCoordinatorTransport(mqtt, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>(), brokerHost: external is null ? new EmbeddedMqttBrokerHost(brokerOptions, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()) : null));
            }

            if (credentials is not null)
            {
                builder.Services.AddSingleton(credentials);
            }

            if (parse.GetValue(ledgerDir) is not null || parse.GetValue(committeeFile) is not null)
            {
                string? accountabilityProblem = CoordinatorCommittee.Add(fedEdge, parse.GetValue(ledgerDir)?.FullName ?? Path.Combine(outDir, "ledger"), parse.GetValue(ledgerKey)?.FullName, credentials, parse.GetValue(committeeFile)?.FullName, TimeSpan.FromSeconds(parse.GetValue(committeeTimeout)));
                if (accountabilityProblem is not null)
                {
                    await err.WriteLineAsync("fededge coordinator: " + accountabilityProblem).ConfigureAwait(false);
                    return 2;
                }
            }

            builder.Services.AddSingleton(aggregation);
            builder.Services.AddSingleton(admission);
            builder.Services.AddSingleton<ICheckpointStore>(_ => new FileCheckpointStore(outDir));
            builder.Services.AddSingleton<IRoundAuditLog>(_ => new FedEdge.Audit.FileAuditLog(Path.Combine(outDir, "audit.log")));
            NetworkSpec network;
            try
            {
                network = Simulation.DataSetModels.Spec(parse.GetValue(model)!, Simulation.DataSets.Parse(parse.GetValue(dataset)) ?? Simulation.DataSetKind.Nbaiot);
            }
            catch (ArgumentException ex)
            {
                await err.WriteLineAsync("fededge coordinator: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            var bundle = new ModelBundle(network, new ManagedTrainer(network), network.InitializeParameters(parse.GetValue(seed)), ModelCatalog.FeatureSubsetOf(network));
            return await CliHost.RunAsync(builder.Build(), "coordinator", err, services => WatchingCrlAsync(services, credentials, parse.GetValue(credentialOptions.Crl), () => RunAsync(services.GetRequiredService<Coordinator>(), bundle, AggregationLine(aggregation, parse.GetValue(byzantine), parse.GetValue(mixing)), external, Listening(services.GetRequiredService<ICoordinatorTransport>(), grpc, external, brokerOptions.Port, services.GetRequiredService<IOptions<CoordinatorOptions>>().Value.UpdateCodec, secure ? secureThreshold : null), parse.GetValue(connectTimeout), stdout, dashboard, Runs.RunRecorder.Start(parse.GetValue(runsStore)!.FullName, "coordinator", RunSettings(parse, command)), HandshakeRefusals(services.GetRequiredService<ICoordinatorTransport>()), cancellationToken)), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>With <c>--crl FILE</c>: reloads the CRL whenever the file changes while <paramref name="run"/> runs (<see cref="CrlFileWatch"/>).</summary>
    internal static async Task<int> WatchingCrlAsync(IServiceProvider services, FederationCredentials? credentials, FileInfo? crl, Func<Task<int>> run)
    {
        if (credentials is null || crl is null)
        {
            return await run().ConfigureAwait(false);
        }

        ILogger logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("FedEdge.Cli.Crl");
        await using CrlFileWatch watch = CrlFileWatch.Start(credentials.Validator, crl.FullName, logger);
        return await run().ConfigureAwait(false);
    }

    /// <summary>The client certificates the transport refused in the TLS handshake (embedded broker or gRPC), each with its reason.</summary>
    internal static Func<IReadOnlyList<CertificateValidation>> HandshakeRefusals(ICoordinatorTransport transport) => () => transport switch
    {
        MqttCoordinatorTransport { BrokerHost: EmbeddedMqttBrokerHost { Broker: { } broker } } => broker.RefusedCertificates,
        FedEdge.Transport.Grpc.GrpcCoordinatorTransport grpc => grpc.RefusedCertificates,
        _ => [],
    };

    /// <summary>Where the coordinator listens, and the update codec it announces when one was chosen (<c>--codec</c>).</summary>
    private static Func<string> Listening(ICoordinatorTransport transport, bool mutualTls, Uri? external, int port, string? codec, int? secureThreshold)
    {
        Func<string> where = Listening(transport, mutualTls, external, port);
        Func<string> withCodec = codec is null ? where : () => $"{where()}, update codec {codec} announced in every round task";
        return secureThreshold is int t ? () => string.Create(CultureInfo.InvariantCulture, $"{withCodec()}, secure aggregation on (threshold {t})") : withCodec;
    }

    /// <summary>Where the coordinator listens, once started: the gRPC address (mutual TLS), the embedded broker's port or the external broker.</summary>
    private static Func<string> Listening(ICoordinatorTransport transport, bool mutualTls, Uri? external, int port) => () => transport switch
    {
        FedEdge.Transport.Grpc.GrpcCoordinatorTransport grpc => (mutualTls ? "gRPC over mutual TLS, " : "gRPC with device tokens, ") + grpc.Address,
        _ when external is not null => external.ToString(),
        MqttCoordinatorTransport { BrokerHost: EmbeddedMqttBrokerHost { Broker.TlsPort: int tlsPort } } => "embedded broker, mutual TLS on port " + tlsPort.ToString(CultureInfo.InvariantCulture) + "; devices connect with mqtts://HOST:" + tlsPort.ToString(CultureInfo.InvariantCulture) + " and their certificates",
        _ => "embedded broker on port " + port.ToString(CultureInfo.InvariantCulture),
    };

    private static async Task<int> RunAsync(Coordinator coordinator, ModelBundle bundle, string aggregationLine, Uri? external, Func<string> listening, double? connectTimeout, TextWriter stdout, DashboardSettings? dashboard, Runs.RunRecorder run, Func<IReadOnlyList<CertificateValidation>> handshakeRefusals, CancellationToken cancellationToken)
    {
        var monitor = new FedEdge.Dashboard.FederationMonitor { Federation = "fededge" };
        using IDisposable watching = monitor.Attach(coordinator);
        if (dashboard is null)
        {
            return await RunRoundsAsync(coordinator, bundle, aggregationLine, external, listening, connectTimeout, stdout, monitor, run, handshakeRefusals, cancellationToken).ConfigureAwait(false);
        }

        Microsoft.AspNetCore.Builder.WebApplication app = await DashboardCli.StartAsync(dashboard, monitor, cancellationToken).ConfigureAwait(false);
        await using (app.ConfigureAwait(false))
        {
            if (dashboard.Endpoint is { } endpoint)
            {
                await stdout.WriteLineAsync($"dashboard: http://{endpoint}/").ConfigureAwait(false);
            }

            return await RunRoundsAsync(coordinator, bundle, aggregationLine, external, listening, connectTimeout, stdout, monitor, run, handshakeRefusals, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<int> RunRoundsAsync(Coordinator coordinator, ModelBundle bundle, string aggregationLine, Uri? external, Func<string> listening, double? connectTimeout, TextWriter stdout, FedEdge.Dashboard.FederationMonitor monitor, Runs.RunRecorder run, Func<IReadOnlyList<CertificateValidation>> handshakeRefusals, CancellationToken cancellationToken)
    {
        string? stop = null;
        bool resumed;
        using (var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            if (connectTimeout is double seconds)
            {
                starting.CancelAfter(TimeSpan.FromSeconds(seconds));
            }

            try
            {
                resumed = await coordinator.StartAsync(bundle.InitialParameters, starting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TransportException($"the broker {external} could not be reached within {connectTimeout} s");
            }
        }

        await stdout.WriteLineAsync($"coordinator listening ({listening()}); {aggregationLine}; {(resumed ? "resumed after round " + coordinator.CompletedRounds.ToString(CultureInfo.InvariantCulture) : "fresh start")}").ConfigureAwait(false);
        var tree = new CoordinatorReportTree();
        await foreach (RoundResult r in coordinator.RunAsync(cancellationToken).ConfigureAwait(false))
        {
            monitor.RecordRound(r);
            tree.Record(r);
            run.AddRound(new Runs.RunRound(r.Round, r.Completed, r.Participants, r.TrainingLoss, r.Evaluation.TryGetValue("f1", out double f1) ? f1 : null, r.BytesUp, r.BytesDown, r.Duration.TotalSeconds, r.Epsilon));
            stop = r.IsLast ? r.StopReason : stop;
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"round {r.Round} completed={r.Completed} participants={r.Participants} loss={r.TrainingLoss:0.0000} up={r.BytesUp} down={r.BytesDown} seconds={r.Duration.TotalSeconds:0.00} resent={r.TaskResends}{SecureRoundNote(r)} {r.FailureReason}")).ConfigureAwait(false);
            if (r.IsLast)
            {
                await stdout.WriteLineAsync($"stopped: {r.StopReason}").ConfigureAwait(false);
            }
        }

        foreach (RefusedDevice refused in coordinator.RefusedDevices)
        {
            await stdout.WriteLineAsync($"refused {refused.DeviceId}: {string.Join("; ", refused.Reasons)}").ConfigureAwait(false);
        }

        foreach (CertificateValidation refusal in handshakeRefusals())
        {
            await stdout.WriteLineAsync($"refused in the TLS handshake ({refusal.Refusal}): {refusal.Reason}").ConfigureAwait(false);
        }

        string hash = coordinator.GlobalParameters.ComputeHash();
        var report = new System.Text.Json.Nodes.JsonObject
        {
            ["final"] = new System.Text.Json.Nodes.JsonObject { ["rounds_completed"] = coordinator.CompletedRounds, ["model_hash"] = hash, ["stop_reason"] = stop },
            ["round_protocol"] = coordinator.RoundProtocol.Name,
            ["refused"] = new System.Text.Json.Nodes.JsonArray([.. coordinator.RefusedDevices.Select(d => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["device"] = d.DeviceId, ["reasons"] = string.Join("; ", d.Reasons) })]),
            ["admitted"] = new System.Text.Json.Nodes.JsonArray([.. coordinator.AdmissionNotes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["device"] = a.Key, ["notes"] = string.Join(" ", a.Value) })]),
            ["refused_in_tls_handshake"] = new System.Text.Json.Nodes.JsonArray([.. handshakeRefusals().Select(v => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["refusal"] = v.Refusal.ToString(), ["reason"] = v.Reason })]),
        };
        tree.WriteTo(report, coordinator);
        run.Finish(report);
        await stdout.WriteLineAsync($"done: {coordinator.CompletedRounds} rounds, model {hash}; run recorded: {run.Id}").ConfigureAwait(false);
        return 0;
    }

    /// <summary>What a secure-aggregation round adds to its line: the protocol and the dropouts whose masks were removed.</summary>
    private static string SecureRoundNote(RoundResult r) =>
        !r.SecureAggregation ? string.Empty : " secure_aggregation=on recovered_dropouts=" + (r.RecoveredDropouts.Count == 0 ? "none" : string.Join(',', r.RecoveredDropouts));

    /// <summary>The coordinator's settings as the run record keeps them: every option the command line gave, with its value.</summary>
    private static System.Text.Json.Nodes.JsonObject RunSettings(ParseResult parse, Command command)
    {
        var settings = new System.Text.Json.Nodes.JsonObject();
        foreach (Option option in command.Options)
        {
            if (parse.GetResult(option) is { } result && !option.Name.Contains("token", StringComparison.Ordinal) && option.Name != "--device")
            {
                object? value = result.GetValueOrDefault<object?>();
                settings[option.Name.TrimStart('-')] = value is null ? null : System.Text.Json.Nodes.JsonValue.Create(value is FileSystemInfo f ? f.FullName : Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }

        return settings;
    }

    /// <summary>How the startup line names the aggregation: the strategy, and for the robust rules f and the resolved <c>--mixing</c>.</summary>
    internal static string AggregationLine(IAggregationStrategy strategy, int f, string? mixingValue) =>
        !MixingOption.MixedByDefault.Contains(strategy.Name)
            ? "aggregation " + strategy.Name
            : string.Create(CultureInfo.InvariantCulture, $"aggregation {strategy.Name}, f {f}, {MixingOption.Describe(mixingValue, MixingOption.Resolve(mixingValue, strategy.Name))}");

    /// <summary>
    /// Creates the strategy, or says why it cannot work: an unknown name, a negative f, or a bound (Krum: n &gt; 2f + 2)
    /// that rounds of <paramref name="perRound"/> devices, or the <paramref name="registered"/> devices the embedded
    /// broker lets in, can never meet.
    /// </summary>
    internal static IAggregationStrategy? CreateStrategy(string name, int f, int perRound, int? registered, out string? problem, PreAggregation mixing = PreAggregation.None)
    {
        problem = null;
        string key = name.Trim().ToLowerInvariant();
        if (!AggregationStrategies.Names.Contains(key))
        {
            problem = $"--strategy '{name}' is unknown; use one of {string.Join(", ", AggregationStrategies.Names)}.";
            return null;
        }

        if (f < 0)
        {
            problem = "--byzantine must be 0 or more (the number of Byzantine devices the strategy tolerates).";
            return null;
        }

        IAggregationStrategy strategy;
        try
        {
            strategy = AggregationStrategies.Create(key, new AggregationOptions { ByzantineCount = f, PreAggregation = mixing });
        }
        catch (ArgumentException ex)
        {
            problem = ex.Message;
            return null;
        }

        AggregationRequirements requirements = strategy.Requirements;
        string orLowerF = f > 0 ? ", or lower --byzantine" : string.Empty;
        if (registered is int count && count > 0 && requirements.Check(count) is string tooFewDevices)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"{tooFewDevices} Only {count} {(count == 1 ? "device is" : "devices are")} registered with --device; register more{orLowerF}.");
            return null;
        }

        if (requirements.Check(perRound) is string tooFewPerRound)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"{tooFewPerRound} A round waits for --min-devices {perRound}; use --min-devices {requirements.MinimumUpdates}{orLowerF}.");
            return null;
        }

        return strategy;
    }
}
