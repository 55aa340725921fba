using System.CommandLine;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Training;
using FedEdge.Transport.Mqtt;
using FedEdge.Cli.Hosting;
using FedEdge.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli;

/// <summary><c>fededge worker</c>: one device's worker process; its data never leave it.</summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        Option<string> deviceId = new("--device-id") { Description = "This device's id (also its MQTT user name).", Required = true };
        Option<FileInfo> data = new("--data") { Description = "The device's data file (N-BaIoT layout, .csv or .csv.gz).", Required = true, HelpName = "FILE" };
        Option<string> broker = new("--broker") { Description = "The coordinator's broker, mqtt://host:port.", DefaultValueFactory = _ => "mqtt://127.0.0.1:1883" };
        Option<string?> password = new("--password") { Description = "The device's broker password." };
        Option<string?> mudUrl = new("--mud-url") { Description = "The device's MUD URL (its profile), presented at join." };
        Option<string> task = new("--task") { Description = "The federated task it asks to join (checked against its MUD file's fededge-federated-learning extension).", DefaultValueFactory = _ => "nbaiot-anomaly" };
        Option<string> model = new("--model") { Description = "Model name; must match the coordinator's.", DefaultValueFactory = _ => "mlp" };
        Option<int> seed = new("--seed") { Description = "Seed (must match the coordinator's for the same layout).", DefaultValueFactory = _ => 42 };
        Option<FileInfo?> normalizer = new("--normalizer") { Description = "A normaliser JSON shared by the federation (e.g. normalizer.json written by `fededge simulate`); without it the device fits one on its own rows.", HelpName = "FILE" };
        Option<FileInfo?> state = new("--state") { Description = "Where the worker persists its state (restored after a crash).", HelpName = "FILE" };
        Option<double> heartbeat = new("--heartbeat") { Description = "Seconds between heartbeats (use the coordinator's --heartbeat).", DefaultValueFactory = _ => 10.0, HelpName = "SECONDS" };
        Option<bool> verbose = new("--verbose") { Description = "Log the engine's information messages to standard error." };
        Option<int?> exitAfter = new("--exit-after-round") { Description = "Exit once the global model of this round has arrived (default: run until stopped)." };

        Command command = new("worker", "Run one device's worker: joins the coordinator, trains each round on local data, sends updates.");
        foreach (Option o in new Option[] { deviceId, data, broker, password, mudUrl, task, model, seed, normalizer, state, exitAfter, heartbeat, verbose })
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

            Dataset local;
            try
            {
                local = NbaiotReader.ReadFile(parse.GetValue(data)!.FullName).Data;
                MinMaxNormalizer scaler = parse.GetValue(normalizer) is { } file
                    ? MinMaxNormalizer.FromJson(await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false))
                    : MinMaxNormalizer.Fit(local, clip: true);
                local = scaler.Transform(local);
            }
            catch (Exception ex) when (ex is DataFormatException or IOException or ArgumentException or System.Text.Json.JsonException)
            {
                await err.WriteLineAsync($"fededge worker: cannot use the local data: {ex.Message}").ConfigureAwait(false);
                return 1;
            }

            ModelBundle bundle = ModelCatalog.Create(parse.GetValue(model)!, parse.GetValue(seed), new ManagedTrainerOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0.9f });
            Uri? mud = parse.GetValue(mudUrl) is { } m ? new Uri(m) : null;
            TimeSpan beat = TimeSpan.FromSeconds(parse.GetValue(heartbeat));

            // Composed like any host application: every port through DI, the engine built by AddFedEdgeWorker.
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Logging.AddCliConsole(parse.GetValue(verbose));
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
            builder.Services.AddSingleton<IWorkerTransport>(_ => new MqttWorkerTransport(new MqttWorkerOptions { Federation = "fededge", DeviceId = id, BrokerUri = brokerUri, Password = parse.GetValue(password) }));
            builder.Services.AddSingleton(bundle.Trainer);
            builder.Services.AddSingleton<ILocalDataSource>(new InMemoryDataSource(local));
            return await CliHost.RunAsync(builder.Build(), "worker", err, services => RunAsync(services.GetRequiredService<Worker>(), id, parse.GetValue(exitAfter), stdout, cancellationToken), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(Worker worker, string id, int? until, TextWriter stdout, CancellationToken cancellationToken)
    {
        await worker.StartAsync(cancellationToken).ConfigureAwait(false);
        await stdout.WriteLineAsync($"{id}: {worker.State}{(worker.StateReason is null ? string.Empty : " (" + worker.StateReason + ")")}").ConfigureAwait(false);
        if (worker.State == WorkerState.NotReady && worker.StateReason?.StartsWith("refused", StringComparison.Ordinal) == true)
        {
            return 3;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
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
