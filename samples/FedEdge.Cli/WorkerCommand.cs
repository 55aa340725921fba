using System.CommandLine;
using FedEdge.Coordination;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport;
using FedEdge.Transport.Mqtt;
using FedEdge.Cli.Hosting;
using FedEdge.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet.Exceptions;

namespace FedEdge.Cli;

/// <summary><c>fededge worker</c>: one device's worker process; its data never leave it.</summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        Option<string> deviceId = new Option<string>("--device-id") { Description = "This device's id (also its MQTT user name).", Required = true }.NotEmpty();
        Option<FileInfo?> data = new Option<FileInfo?>("--data") { Description = "The device's data file: N-BaIoT or TON_IoT CSV, or IoT-23 Zeek TSV (plain or .gz; recognised from the header, or name it with --dataset).", Required = true, HelpName = "FILE" }.ReadableFile();
        Option<string> broker = new Option<string>("--broker") { Description = "The coordinator's broker, mqtt://host:port, or mqtts://host:port (TLS; with --ca and --cert/--key or --pfx the device's certificate is its identity).", DefaultValueFactory = _ => "mqtt://127.0.0.1:1883" }.MqttUrl();
        Option<string?> coordinatorUrl = new Option<string?>("--coordinator") { Description = "Join a gRPC coordinator (`fededge coordinator --transport grpc`) at https://HOST:PORT over mutual TLS, instead of --broker; needs --ca with --cert/--key or --pfx.", HelpName = "URL" }
            .Check(v => v is null || (Uri.TryCreate(v, UriKind.Absolute, out Uri? uri) && uri.Scheme == "https" && !string.IsNullOrEmpty(uri.Host)) ? null : "must be https://host:port (gRPC over mutual TLS)");
        CliCredentials credentialOptions = CliCredentials.Create();
        Option<FileInfo?> coordinatorCert = new Option<FileInfo?>("--coordinator-cert") { Description = "Pin the coordinator's certificate (PEM, from `fededge pki issue --server NAME`): accept only global models it signed, not those of another server certificate of the CA. Needs --ca with --cert/--key or --pfx. A model another server certificate of the CA signed ends the worker with exit code 4.", HelpName = "FILE" }.ReadableFile();
        Option<string?> mudUrl = new Option<string?>("--mud-url") { Description = "The device's MUD URL (its profile), presented at join." }.AbsoluteUrl();
        Option<string> task = new("--task") { Description = "The federated task it asks to join (checked against its MUD file's fededge-federated-learning extension).", DefaultValueFactory = _ => "nbaiot-anomaly" };
        Option<string> model = new Option<string>("--model") { Description = "Model name; must match the coordinator's.", DefaultValueFactory = _ => "mlp" }.KnownModel();
        Option<int> seed = new("--seed") { Description = "Seed (must match the coordinator's for the same layout).", DefaultValueFactory = _ => 42 };
        Option<string?> dataset = Simulation.DataSets.CreateOption();
        Option<FileInfo?> normalizer = new Option<FileInfo?>("--normalizer") { Description = "A normaliser JSON shared by the federation (e.g. normalizer.json written by `fededge simulate`); without it the device fits one on its own rows.", HelpName = "FILE" }.ReadableFile();
        Option<FileInfo?> state = new("--state") { Description = "Where the worker persists its state (restored after a crash).", HelpName = "FILE" };
        Option<double?> connectTimeout = new Option<double?>("--connect-timeout") { Description = "Give up (exit 1) when the broker has not let the device join within this many seconds; by default the worker waits and retries with back-off for as long as the broker is down.", HelpName = "SECONDS" }.Seconds();
        Option<double> heartbeat = new Option<double>("--heartbeat") { Description = "Seconds between heartbeats (use the coordinator's --heartbeat).", DefaultValueFactory = _ => 10.0, HelpName = "SECONDS" }.Seconds();
        Option<bool> verbose = new("--verbose") { Description = "Log the engine's information messages to standard error (same as --log-level information)." };
        Option<string?> logLevel = CliLogging.CreateLevelOption();
        Option<int?> exitAfter = new Option<int?>("--exit-after-round") { Description = "Exit once the global model of this round has arrived (default: run until stopped)." }.AtLeast(0);

        Option<bool> secureAggregation = SecureAggregationCli.WorkerFlag();
        Command command = new("worker", "Run one device's worker: joins the coordinator, trains each round on local data, sends updates.");
        foreach (Option o in new Option[] { deviceId, data, dataset, broker, coordinatorUrl, coordinatorCert, mudUrl, task, model, seed, normalizer, state, exitAfter, heartbeat, connectTimeout, verbose, logLevel, secureAggregation }.Concat(credentialOptions.All))
        {
            command.Options.Add(o);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            string id = parse.GetValue(deviceId)!;
            if (!Uri.TryCreate(parse.GetValue(broker), UriKind.Absolute, out Uri? brokerUri))
            {
                await err.WriteLineAsync("fededge worker: --broker must be mqtt://host:port.").ConfigureAwait(false);
                return 2;
            }

            FederationCredentials? credentials;
            string? brokerPassword;
            try
            {
                credentials = credentialOptions.Load(parse, out string? credentialProblem);
                if (credentialProblem is not null)
                {
                    await err.WriteLineAsync("fededge worker: " + credentialProblem).ConfigureAwait(false);
                    return 2;
                }

                brokerPassword = credentials is null || parse.GetValue(credentialOptions.Pfx) is null ? credentialOptions.ReadPassword(parse) : null;
            }
            catch (CredentialException ex)
            {
                await err.WriteLineAsync("fededge worker: " + ex.Message).ConfigureAwait(false);
                return 1;
            }

            if (parse.GetValue(coordinatorCert) is { } pinFile)
            {
                if (credentials is null)
                {
                    await err.WriteLineAsync("fededge worker: --coordinator-cert pins the certificate that signs global models: give --ca FILE with --cert FILE and --key FILE (or --pfx FILE) too.").ConfigureAwait(false);
                    return 2;
                }

                credentials = CoordinatorPin.Pin(credentials, pinFile.FullName, "--coordinator-cert", out string? pinProblem);
                if (pinProblem is not null)
                {
                    await err.WriteLineAsync("fededge worker: " + pinProblem).ConfigureAwait(false);
                    return 2;
                }
            }

            Uri? grpcUri = parse.GetValue(coordinatorUrl) is { } g ? new Uri(g) : null;
            if (grpcUri is not null && (credentials is null || parse.GetResult(broker) is { Implicit: false }))
            {
                await err.WriteLineAsync("fededge worker: --coordinator (gRPC) runs over mutual TLS: give --ca FILE with --cert FILE and --key FILE (or --pfx FILE), and no --broker.").ConfigureAwait(false);
                return 2;
            }

            // The data set decides the model's input layout: --dataset, else the file's header. A file that cannot be
            // read here is not an exit: the worker starts NotReady and reports why (LocalFileDataSource).
            Simulation.DataSetKind kind = Simulation.DataSets.Parse(parse.GetValue(dataset)) ?? LocalFileDataSource.DetectOrDefault(parse.GetValue(data)!.FullName);
            NetworkSpec spec;
            try
            {
                spec = Simulation.DataSetModels.Spec(parse.GetValue(model)!, kind);
            }
            catch (ArgumentException ex)
            {
                await err.WriteLineAsync("fededge worker: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            var bundle = new ModelBundle(spec, new ManagedTrainer(spec, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = Simulation.TrainingDefaults.Momentum }), spec.InitializeParameters(parse.GetValue(seed)), ModelCatalog.FeatureSubsetOf(spec));
            Uri? mud = parse.GetValue(mudUrl) is { } m ? new Uri(m) : null;
            TimeSpan beat = TimeSpan.FromSeconds(parse.GetValue(heartbeat));

            // Composed like any host application: every port through DI, the engine built by AddFedEdgeWorker.
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Services.AddCommandLifetime();
            builder.Logging.AddCliConsole(CliLogging.MinimumLevel(parse.GetValue(logLevel), parse.GetValue(verbose)));
            builder.Services.AddFedEdgeWorker(o =>
            {
                o.DeviceId = id;
                o.MudUrl = mud;
                o.Task = parse.GetValue(task);
                o.Model = parse.GetValue(model);
                o.StateFile = parse.GetValue(state)?.FullName;
                o.HeartbeatInterval = beat;
                o.ResendDelay = beat < TimeSpan.FromSeconds(1) ? beat : TimeSpan.FromSeconds(1);
            });
            MqttTlsSettings? tls = credentials is null ? null : new MqttTlsSettings { ClientCertificate = credentials.Certificate, TrustedRoot = credentials.Validator.Authority };
            if (grpcUri is not null)
            {
                // Mutual TLS: the device certificate is its identity; the coordinator's certificate must chain to the CA.
                var grpcOptions = new FedEdge.Transport.Grpc.GrpcWorkerOptions { Address = grpcUri, DeviceId = id, ClientCertificate = credentials!.Certificate, TrustedRoot = credentials.Validator.Authority, SendTimeout = TimeSpan.FromSeconds(10) };
                builder.Services.AddSingleton<IWorkerTransport>(sp => new FedEdge.Transport.Grpc.GrpcWorkerTransport(grpcOptions, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
                brokerUri = grpcUri;
            }
            else
            {
                builder.Services.AddSingleton<IWorkerTransport>(sp => new MqttWorkerTransport(new MqttWorkerOptions { Federation = "fededge", DeviceId = id, BrokerUri = brokerUri, Password = brokerPassword, Tls = tls }, sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
            }

            if (credentials is not null)
            {
                builder.Services.AddSingleton(credentials);
            }

            RoundProtocolCheck protocolCheck = SecureAggregationCli.AddToWorker(builder.Services, bundle.Trainer, parse.GetValue(secureAggregation));

            // The data are loaded when the worker starts: a file it cannot use keeps it NotReady and reporting why.
            builder.Services.AddSingleton<ILocalDataSource>(new LocalFileDataSource(parse.GetValue(data)!.FullName, parse.GetValue(normalizer)?.FullName, kind));
            try
            {
                return await CliHost.RunAsync(builder.Build(), "worker", err, services => RunAsync(services.GetRequiredService<Worker>(), id, parse.GetValue(exitAfter), parse.GetValue(connectTimeout), brokerUri, stdout, err, credentials, protocolCheck, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TransportException or MqttCommunicationException)
            {
                // A broker that is down or refuses the device's password: say which, in one line.
                string cause = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? " (" + inner.Message + ")" : string.Empty;
                if (tls is not null && grpcUri is null && brokerUri.Scheme == "mqtts" && ex is TransportException { InnerException: MQTTnet.Adapter.MqttConnectingFailedException or MqttCommunicationException or System.Security.Authentication.AuthenticationException })
                {
                    // Over mutual TLS a broker that cuts the handshake does not say why; its own log names the reason.
                    cause += "; the broker did not accept this device's certificate in the TLS handshake (issued by another CA, expired or revoked: the coordinator's log names the reason)";
                }

                await err.WriteLineAsync($"fededge worker: cannot join through {(grpcUri is null ? "the broker" : "the coordinator")} {brokerUri}: {ex.Message}{cause}".ReplaceLineEndings(" ")).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    /// <summary>
    /// Starts <paramref name="worker"/>, which retries a coordinator that is down (Offline, with back-off) until it
    /// joins; with <paramref name="connectTimeout"/> seconds, gives up with a one-line <see cref="TransportException"/>.
    /// </summary>
    internal static async Task JoinAsync(Worker worker, double? connectTimeout, string where, CancellationToken cancellationToken)
    {
        using var joining = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (connectTimeout is double seconds)
        {
            joining.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        try
        {
            await worker.StartAsync(joining.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransportException($"no join{where} within {connectTimeout} s ({worker.State}: {worker.StateReason ?? "no answer"})");
        }
    }

    private static async Task<int> RunAsync(Worker worker, string id, int? until, double? connectTimeout, Uri broker, TextWriter stdout, TextWriter err, FederationCredentials? credentials, RoundProtocolCheck protocolCheck, CancellationToken cancellationToken)
    {
        await JoinAsync(worker, connectTimeout, string.Empty, cancellationToken).ConfigureAwait(false);
        await stdout.WriteLineAsync($"{id}: {worker.State}{(worker.StateReason is null ? string.Empty : " (" + worker.StateReason + ")")}").ConfigureAwait(false);
        if (worker.State == WorkerState.NotReady && worker.StateReason?.StartsWith("refused", StringComparison.Ordinal) == true)
        {
            return 3;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            if (credentials is not null && CoordinatorPin.OtherCoordinatorSigned(worker, credentials, "--coordinator-cert") is { } pinned)
            {
                await err.WriteLineAsync($"fededge worker: {pinned}").ConfigureAwait(false);
                return CoordinatorPin.OtherCoordinator;
            }

            if (protocolCheck.Mismatch is { } mismatch)
            {
                await err.WriteLineAsync($"fededge worker: {mismatch}").ConfigureAwait(false);
                return SecureAggregationCli.ProtocolMismatch;
            }

            if (until is int last && worker.LatestGlobalModel is { } g && g.Version >= last)
            {
                await stdout.WriteLineAsync($"{id}: global model of round {g.Version} received, trained {worker.LastRound} rounds; exiting").ConfigureAwait(false);
                return 0;
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }
}
