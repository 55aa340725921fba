using System.CommandLine;
using System.Globalization;
using FedEdge.Cli.Hosting;
using FedEdge.Coordination;
using FedEdge.Flower;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FedEdge.Cli;

/// <summary><c>fededge flower-node</c>: this device as a node (SuperNode) of an unmodified Flower federation.</summary>
internal static class FlowerNodeCommand
{
    public static Command Create()
    {
        Option<string> superLink = new Option<string>("--superlink") { Description = "The Flower SuperLink's Fleet API, HOST:PORT (Flower's default port is 9092).", Required = true, HelpName = "HOST:PORT" }.Check(s => ParseSuperLink(s, true) is null ? "--superlink must be HOST:PORT (e.g. 127.0.0.1:9092)." : null);
        Option<FileInfo?> data = new Option<FileInfo?>("--data") { Description = "The device's data file: N-BaIoT or TON_IoT CSV, or IoT-23 Zeek TSV (plain or .gz; recognised from the header, or name it with --dataset).", Required = true, HelpName = "FILE" }.ReadableFile();
        Option<string?> dataset = Simulation.DataSets.CreateOption();
        Option<string> model = new Option<string>("--model") { Description = "Model name; the ServerApp's initial arrays must have its tensor names (or be a list in its order) and shapes.", DefaultValueFactory = _ => "mlp" }.KnownModel();
        Option<int> seed = new("--seed") { Description = "Seed of the local trainer.", DefaultValueFactory = _ => 42 };
        Option<FileInfo?> normalizer = new Option<FileInfo?>("--normalizer") { Description = "A normaliser JSON shared by the federation; without it the device fits one on its own rows.", HelpName = "FILE" }.ReadableFile();
        Option<bool> insecure = new("--insecure") { Description = "Plain-text HTTP/2 to the SuperLink (its --insecure); only for tests and trusted networks." };
        Option<FileInfo?> rootCert = new Option<FileInfo?>("--root-cert") { Description = "PEM CA certificate the SuperLink's TLS certificate must chain to (default: the system's trust store).", HelpName = "PEM" }.ReadableFile();
        Option<FileInfo?> nodeKey = new Option<FileInfo?>("--node-key") { Description = "The node's EC P-384 private key, PEM (register its public key with `flwr supernode register` first, or add --register). Default: a fresh key; the node registers itself.", HelpName = "PEM" }.ReadableFile();
        Option<bool> register = new("--register") { Description = "Call RegisterNode with --node-key's key before activating (a fresh key always registers)." };
        Option<string> deviceId = new Option<string>("--device-id") { Description = "This device's id in logs and the state file.", DefaultValueFactory = _ => "flower-node" }.NotEmpty();
        Option<FileInfo?> state = new("--state") { Description = "Where the worker persists its state (restored after a crash).", HelpName = "FILE" };
        Option<double> heartbeat = new Option<double>("--heartbeat") { Description = "Heartbeat interval promised to the SuperLink, 10 to 1800 seconds.", DefaultValueFactory = _ => 30.0, HelpName = "SECONDS" }.Check(s => s is < 10 or > 1800 ? "--heartbeat must be between 10 and 1800 seconds." : null);
        Option<double> poll = new Option<double>("--poll-interval") { Description = "Seconds between requests for new messages.", DefaultValueFactory = _ => 3.0, HelpName = "SECONDS" }.Seconds();
        Option<double?> connectTimeout = new Option<double?>("--connect-timeout") { Description = "Give up (exit 1) when the SuperLink has not activated the node within this many seconds (default: retry while it is unreachable).", HelpName = "SECONDS" }.Seconds();
        Option<int?> exitAfter = new Option<int?>("--exit-after") { Description = "Leave the federation (DeactivateNode, UnregisterNode) after answering this many messages (default: run until stopped)." }.AtLeast(1);
        Option<bool> verbose = new("--verbose") { Description = "Log information messages to standard error (same as --log-level information)." };
        Option<string?> logLevel = CliLogging.CreateLevelOption();

        Command command = new("flower-node", "Join a Flower federation as a node: FedAvg's train and evaluate messages run FedEdge's trainer on local data, under its governor.");
        foreach (Option o in new Option[] { superLink, data, dataset, model, seed, normalizer, insecure, rootCert, nodeKey, register, deviceId, state, heartbeat, poll, connectTimeout, exitAfter, verbose, logLevel })
        {
            command.Options.Add(o);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output;
            TextWriter err = parse.InvocationConfiguration.Error;
            if (parse.GetValue(insecure) && parse.GetValue(rootCert) is not null)
            {
                await err.WriteLineAsync("fededge flower-node: --insecure and --root-cert exclude each other.").ConfigureAwait(false);
                return 2;
            }

            Uri address = ParseSuperLink(parse.GetValue(superLink)!, parse.GetValue(insecure))!;
            // As `fededge worker`: the data set decides the model's input layout (--dataset, else the file's header).
            Simulation.DataSetKind kind = Simulation.DataSets.Parse(parse.GetValue(dataset)) ?? LocalFileDataSource.DetectOrDefault(parse.GetValue(data)!.FullName);
            NetworkSpec spec;
            try
            {
                spec = Simulation.DataSetModels.Spec(parse.GetValue(model)!, kind);
            }
            catch (ArgumentException ex)
            {
                await err.WriteLineAsync("fededge flower-node: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            var bundle = new ModelBundle(spec, new ManagedTrainer(spec, new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = Simulation.TrainingDefaults.Momentum }), spec.InitializeParameters(parse.GetValue(seed)), ModelCatalog.FeatureSubsetOf(spec));
            string id = parse.GetValue(deviceId)!;

            // Composed like any host application: the Flower node is the worker's transport (docs/flower.md).
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Services.AddCommandLifetime();
            builder.Logging.AddCliConsole(CliLogging.MinimumLevel(parse.GetValue(logLevel), parse.GetValue(verbose)));
            builder.Services.AddFlowerNode(o =>
            {
                o.SuperLink = address;
                o.Insecure = parse.GetValue(insecure);
                o.RootCertificatePath = parse.GetValue(rootCert)?.FullName;
                o.NodeKeyPath = parse.GetValue(nodeKey)?.FullName;
                o.Register = parse.GetValue(register);
                o.HeartbeatInterval = TimeSpan.FromSeconds(parse.GetValue(heartbeat));
                o.PollInterval = TimeSpan.FromSeconds(parse.GetValue(poll));
            });
            builder.Services.AddFedEdgeWorker(o =>
            {
                o.DeviceId = id;
                o.Model = parse.GetValue(model);
                o.StateFile = parse.GetValue(state)?.FullName;
            });
            builder.Services.AddSingleton(bundle.Trainer);

            // As `fededge worker`: the data are loaded when the worker starts; a file it cannot use keeps it NotReady,
            // and each train message then gets an error reply that says why.
            builder.Services.AddSingleton<ILocalDataSource>(new LocalFileDataSource(parse.GetValue(data)!.FullName, parse.GetValue(normalizer)?.FullName, kind));
            return await CliHost.RunAsync(builder.Build(), "flower-node", err, services => RunAsync(services, address, parse.GetValue(exitAfter), parse.GetValue(connectTimeout), stdout, err, cancellationToken), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>http(s)://HOST:PORT from HOST:PORT (IPv6 in brackets), or null when malformed.</summary>
    private static Uri? ParseSuperLink(string value, bool insecure)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            return null;
        }

        string host = value[..colon];
        return Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown || host.Contains('/', StringComparison.Ordinal)
            ? null
            : Uri.TryCreate($"{(insecure ? "http" : "https")}://{host}:{port}", UriKind.Absolute, out Uri? uri) ? uri : null;
    }

    private static async Task<int> RunAsync(IServiceProvider services, Uri address, int? exitAfter, double? connectTimeout, TextWriter stdout, TextWriter err, CancellationToken cancellationToken)
    {
        Worker worker = services.GetRequiredService<Worker>();
        FlowerNodeStatus status = services.GetRequiredService<FlowerNodeStatus>();
        using (var joining = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
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
                await err.WriteLineAsync($"fededge flower-node: the SuperLink {address.Authority} did not activate the node within {connectTimeout} s ({worker.StateReason ?? "no answer"})".ReplaceLineEndings(" ")).ConfigureAwait(false);
                return 1;
            }
        }

        if (worker.State == WorkerState.NotReady && worker.StateReason?.StartsWith("refused", StringComparison.Ordinal) == true)
        {
            await err.WriteLineAsync($"fededge flower-node: {worker.StateReason}".ReplaceLineEndings(" ")).ConfigureAwait(false);
            return 1;
        }

        await stdout.WriteLineAsync($"flower-node: node {status.NodeId} active at {address.Authority}; worker {worker.State}{(worker.StateReason is null ? string.Empty : " (" + worker.StateReason + ")")}").ConfigureAwait(false);
        int reported = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            int replies = status.Replies;
            if (replies > reported)
            {
                reported = replies;
                await stdout.WriteLineAsync($"flower-node: replied to {replies} messages (train {status.TrainReplies}, errors {status.ErrorReplies}{(status.LastError is null ? string.Empty : ", last: " + status.LastError)})".ReplaceLineEndings(" ")).ConfigureAwait(false);
            }

            if (exitAfter is int last && replies >= last)
            {
                await stdout.WriteLineAsync($"flower-node: leaving after {replies} replies").ConfigureAwait(false);
                return 0;
            }

            try
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return 0;
    }
}
