using System.CommandLine;
using FedEdge.Transport.Faults;
using System.Globalization;
using FedEdge.Aggregation;
using FedEdge.Cli.Simulation;
using FedEdge.Data;
using FedEdge.Transport;
using MQTTnet.Exceptions;
using FedEdge.Cli.Hosting;
using FedEdge.Dashboard;
using Spectre.Console;

namespace FedEdge.Cli;

/// <summary><c>fededge simulate</c>: a whole federation on this machine over the shipped N-BaIoT device files.</summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        Option<string?> transport = new("--transport") { Description = "Transport between coordinator and workers: inproc, mqtt (embedded broker, or the one --broker names) or grpc. Default: inproc, or mqtt with --broker." };
        transport.AcceptOnlyFromAmong("inproc", "mqtt", "grpc");
        Option<string?> broker = new Option<string?>("--broker") { Description = "An external MQTT broker, e.g. mqtt://127.0.0.1:1883; implies --transport mqtt.", HelpName = "URL" }.MqttUrl();
        Option<bool> insecurePlaintext = new("--insecure-plaintext") { Description = "Run mqtt and grpc on plain-text listeners with per-device passwords or tokens instead of mutual TLS with device certificates (the default). For tests and debugging only." };
        Option<int> rounds = new Option<int>("--rounds") { Description = "Round budget.", DefaultValueFactory = _ => 10 }.AtLeast(1);
        Option<string> strategy = new("--strategy") { Description = "Aggregation strategy (fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedprox, median, trimmedmean, krum, ...).", DefaultValueFactory = _ => "fedavg" };
        Option<int> byzantine = new Option<int>("--byzantine") { Description = "The number f of Byzantine devices krum, multikrum and bulyan tolerate: krum and multikrum need more than 2f + 2 training devices, bulyan at least 4f + 3.", DefaultValueFactory = _ => 1, HelpName = "F" };
        Option<int> bucketSize = new Option<int>("--bucket-size") { Description = "Bucketing for median, trimmedmean, krum, multikrum and bulyan: shuffle the round's updates into buckets of S, average each, and run the rule on the bucket means (1 = off). Helps the rules on non-IID devices; krum, multikrum and bulyan then need their bound over the buckets.", DefaultValueFactory = _ => 1, HelpName = "S" };
        Option<string> mixing = MixingOption.Create("Pre-aggregation before the robust rules; --mixing nnm cannot be combined with --bucket-size above 1.");
        Option<string> model = new Option<string>("--model") { Description = "Model: mlp (115-64-32-1 classifier) or autoencoder (benign-only anomaly detector); also mednn, colearn.", DefaultValueFactory = _ => "mlp" }.KnownModel();
        Option<string> trainer = new("--trainer") { Description = "Training engine: managed (Core) or torch (TorchSharp).", DefaultValueFactory = _ => "managed" };
        trainer.AcceptOnlyFromAmong("managed", "torch");
        Option<int> seed = new("--seed") { Description = "Seed for splits, initial weights and shuffling.", DefaultValueFactory = _ => 42 };
        Option<int> epochs = new Option<int>("--local-epochs") { Description = "Local epochs per round (FedAvg's E).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        Option<int?> steps = new Option<int?>("--local-steps") { Description = "Local optimiser steps per round (HierFAVG's k1); overrides --local-epochs. 0 trains whole epochs instead.", DefaultValueFactory = _ => 20 }.AtLeast(0);
        Option<float> lr = new Option<float>("--lr") { Description = "Local learning rate.", DefaultValueFactory = _ => Simulation.TrainingDefaults.LearningRate }.Positive();
        Option<string> optimizer = new("--optimizer") { Description = "Local optimiser: sgd (with --momentum) or adam. Adam renormalises every step, so devices whose local data are one class (attack-only) keep pushing hard; SGD is the robust default on the non-IID natural partition.", DefaultValueFactory = _ => "sgd" };
        optimizer.AcceptOnlyFromAmong("sgd", "adam");
        Option<float> momentum = new Option<float>("--momentum") { Description = "SGD momentum.", DefaultValueFactory = _ => Simulation.TrainingDefaults.Momentum }.Fraction();
        Option<int> batch = new Option<int>("--batch") { Description = "Local mini-batch size (FedAvg's B).", DefaultValueFactory = _ => 64 }.AtLeast(1);
        Option<DirectoryInfo?> data = new Option<DirectoryInfo?>("--data") { Description = "Folder of device files (one N-BaIoT CSV or CSV.GZ per device). Default: the shipped samples/data.", HelpName = "DIR" };
        Option<string?> dataset = DataSets.CreateOption();
        Option<bool> compress = new("--compress") { Description = "MEDNN's method in the rounds: weight elimination, pruning masks agreed from the global model (from round 3, +30 % of weights a round up to 95 %; coordinator enforces them), sparse float16 on the wire; implies --transport mqtt (real encoded bytes)." };
        Option<string> trainMemory = new("--train-memory") { Description = "With --compress: saving (default) trains in float16 with float32 arithmetic, micro-batches of 8 rows and optimiser state for the surviving weights only; plain trains in float32 as the dense model does. report.json records each device's training memory.", DefaultValueFactory = _ => "saving" };
        trainMemory.AcceptOnlyFromAmong("saving", "plain");
        Option<int> pruneFrom = new("--prune-from") { Description = "With --compress: the earliest round whose mask may prune (earlier rounds train dense so the model learns first; default 3).", DefaultValueFactory = _ => 3, HelpName = "ROUND" };
        Option<double> pruneWhenF1 = new("--prune-when-f1") { Description = "With --compress: pruning starts the round after the coordinator's evaluation of the global model first reaches this F1 (and not before --prune-from); the coordinator announces it in the round task. 0 prunes from --prune-from on. Default 0.95.", DefaultValueFactory = _ => MednnCompressionTrainer.DefaultPruneWhenF1, HelpName = "F1" };
        Option<DirectoryInfo?> mud = new Option<DirectoryInfo?>("--mud") { Description = "Folder of signed MUD files (*.json + *.p7s) and demo-ca.cert.pem used for RFC 8520 admission. Default: the shipped samples/mud.", HelpName = "DIR" };
        Option<DirectoryInfo> output = new("--out") { Description = "Where report.json and the plots go.", DefaultValueFactory = _ => new DirectoryInfo("fededge-out"), HelpName = "DIR" };
        Option<DirectoryInfo?> eval = new Option<DirectoryInfo?>("--eval") { Description = "Also score both models on every device file in DIR (same layout, normalised with the model's normaliser).", HelpName = "DIR" }.ExistingDirectory();

        Option<bool> secureAggregation = new("--secure-aggregation") { Description = "Aggregate with secure aggregation (the coordinator learns only the sum; dropouts recovered). Works on every transport (inproc, mqtt, grpc: each carries the protocol channel)." };
        Option<double?> dpNoise = new("--dp-noise") { Description = "Differential privacy: Gaussian noise multiplier σ (noise std / clip norm); central noise, or distributed among the devices with --secure-aggregation.", HelpName = "SIGMA" };
        Option<double?> dpClip = new("--dp-clip") { Description = "Differential privacy: L2 norm each device clips its update to (default 1.0 with --dp-noise).", HelpName = "NORM" };
        Option<double?> dpTargetEpsilon = new("--dp-target-epsilon") { Description = "Stop training before ε (δ = 1e-5, RDP accountant) would exceed this budget; needs --dp-noise.", HelpName = "EPS" };
        Option<string> thermal = new("--thermal") { Description = "Device telemetry: host (every device reports this machine's sensors; n/a without thermal zones), simulated (a heating model and thermal governor per device, CoLearn's 48 °C idle) or off.", DefaultValueFactory = _ => "host" };
        thermal.AcceptOnlyFromAmong("host", "simulated", "off");
        Option<string?> faults = new("--faults") { Description = "Inject faults on every link, both directions, with an independent seed per link: drop=P,duplicate=P,delay=DURATION[,reorder=P,corrupt=P,seed=N], e.g. drop=0.5,duplicate=0.1,delay=50ms. Each round line then shows re-sends and losses.", HelpName = "SPEC" };
        Option<string> topology = new Option<string>("--topology") { Description = "flat (devices train, one coordinator aggregates: Flake's Model-1), hierfavg (devices under --edges edge aggregators, k2 edge rounds per cloud round; the cloud receives one update per edge: Flake's Model-3) or model2 (trusted devices upload their normalised rows to their edge over TLS and the edges train on them: Flake's Model-2; the raw data leaves the device).", DefaultValueFactory = _ => "flat" }
            .Check(t => t is "flat" or "hierfavg" or "model2" ? null : "must be flat, hierfavg or model2");
        Option<int> edges = new Option<int>("--edges") { Description = "With --topology hierfavg: the number of edges; devices are dealt to them in turn.", DefaultValueFactory = _ => 2, HelpName = "N" }.AtLeast(1);
        Option<int> k2 = new Option<int>("--k2") { Description = "With --topology hierfavg: edge rounds per cloud round (HierFAVG's k2; --local-steps is k1, --rounds counts cloud rounds).", DefaultValueFactory = _ => 2 }.AtLeast(1);
        Option<string[]> trustedDevices = new("--trusted-device") { Description = "With --topology model2: a device trusted to upload its rows to its edge (repeat per device); the edges refuse the others' rows. Default: every device of the data folder.", HelpName = "ID", AllowMultipleArgumentsPerToken = false };
        Option<string?> attack = new("--attack") { Description = "Make --attackers devices malicious: signflip (send −change), scale:K (K × change), labelflip (train on flipped labels) or gaussian:SIGMA (noise instead of training).", HelpName = "KIND" };
        Option<int> attackers = new Option<int>("--attackers") { Description = "How many devices run --attack (a seeded pick; their ids go to report.json).", DefaultValueFactory = _ => 0, HelpName = "N" }.AtLeast(0);
        Option<int> splitDevices = new Option<int>("--split-devices") { Description = "Split each device file into K virtual devices (4 files × 4 = 16 devices, enough for krum and bulyan).", DefaultValueFactory = _ => 1, HelpName = "K" }.AtLeast(1);
        Option<string> split = new("--split") { Description = "How --split-devices splits a file: iid or dirichlet:ALPHA (label skew).", DefaultValueFactory = _ => "iid", HelpName = "iid|dirichlet:ALPHA" };
        Option<bool?> reputationFlag = new("--reputation") { Description = "Score devices from the transparency log's facts (refusals, distance from the robust aggregate, liveness): weigh them, order selection, quarantine below 0.5. Default: on with --attack." };
        Option<string?> codec = CliOptionValidation.CodecOption();
        Option<bool> processes = new("--processes") { Description = "Run the cloud coordinator, each edge (--topology hierfavg) and each device as its own `fededge` child process over real MQTT brokers (the cloud's and each edge's embedded broker on free loopback ports), over mutual TLS with certificates generated into OUT/pki unless --insecure-plaintext; report.json gains the processes and their pids. Children are killed when the simulation stops. Runs --topology flat or hierfavg, --model mlp, on N-BaIoT files." };
        Command command = new("simulate", "Run a whole federation on this machine (coordinator + one worker per device file), compare it with a centralised model and write report.json and plots.");
        Option<int> committeeSize = new Option<int>("--committee") { Description = "A committee of N = 3f + 1 in-process validators co-signs every round's tree head after recomputing the aggregate; a round's model is published only with 2f + 1 co-signatures. Keys and committee.json go to <out>/committee. Default 0 (none).", DefaultValueFactory = _ => 0, HelpName = "N" }.AtLeast(0);
        Option<string?> faultyValidator = new("--faulty-validator") { Description = "With --committee: make the last validator down (unreachable) or lying (co-signs with a key that is not its own), to show the quorum holding.", HelpName = "down|lying" };
        faultyValidator.AcceptOnlyFromAmong("down", "lying");
        foreach (Option o in new Option[] { committeeSize, faultyValidator, transport, broker, insecurePlaintext, rounds, strategy, byzantine, bucketSize, mixing, model, trainer, seed, epochs, steps, lr, optimizer, momentum, batch, data, dataset, compress, trainMemory, pruneFrom, pruneWhenF1, mud, output, eval, secureAggregation, dpNoise, dpClip, dpTargetEpsilon, thermal, faults, topology, edges, k2, trustedDevices, attack, attackers, splitDevices, split, reputationFlag, codec, processes })
        {
            command.Options.Add(o);
        }

        DashboardCli.AddTo(command, portOptional: true);
        Option<DirectoryInfo> runsStore = Runs.RunsCommand.StoreOption();
        command.Options.Add(runsStore);
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter err = parse.InvocationConfiguration.Error;
            string? dataDir = parse.GetValue(data)?.FullName ?? DefaultDataDirectory();
            if (dataDir is null || !Directory.Exists(dataDir))
            {
                await err.WriteLineAsync($"fededge simulate: the data folder '{dataDir ?? "samples/data"}' was not found; pass --data DIR.").ConfigureAwait(false);
                return 2;
            }

            if (DataSets.Resolve(dataDir, parse.GetValue(dataset), out DataSetKind kind) is string dataProblem)
            {
                await err.WriteLineAsync("fededge simulate: " + dataProblem).ConfigureAwait(false);
                return 2;
            }

            string? mudDir = parse.GetValue(mud)?.FullName ?? DefaultSamplesDirectory(DataSets.MudFolder(kind, parse.GetValue(model)!), "*.json");
            if (mudDir is null || !Directory.Exists(mudDir))
            {
                await err.WriteLineAsync($"fededge simulate: the MUD folder '{mudDir ?? "samples/mud"}' was not found; pass --mud DIR.").ConfigureAwait(false);
                return 2;
            }

            (string transportName, Uri? brokerUri, string? transportProblem) = ResolveTransport(CompressionOptions.Transport(parse.GetValue(transport), parse.GetValue(compress)), parse.GetValue(broker));
            transportProblem ??= CompressionOptions.Problem(parse.GetValue(compress), transportName, parse.GetValue(trainer)!);
            transportProblem ??= CodecProblem(parse.GetValue(codec), transportName, parse.GetValue(compress), parse.GetValue(secureAggregation), parse.GetValue(topology)!);
            if (transportProblem is not null)
            {
                await err.WriteLineAsync("fededge simulate: " + transportProblem).ConfigureAwait(false);
                return 2;
            }

            int roundCount = parse.GetValue(rounds);
            if (roundCount < 1)
            {
                await err.WriteLineAsync("fededge simulate: --rounds must be at least 1.").ConfigureAwait(false);
                return 2;
            }

            if (PrivacyFlagsProblem(parse.GetValue(dpNoise), parse.GetValue(dpClip), parse.GetValue(dpTargetEpsilon)) is string problem)
            {
                await err.WriteLineAsync("fededge simulate: " + problem).ConfigureAwait(false);
                return 2;
            }

            string strategyName = parse.GetValue(strategy)!.Trim().ToLowerInvariant();
            if (!AggregationStrategies.Names.Contains(strategyName))
            {
                await err.WriteLineAsync($"fededge simulate: --strategy '{parse.GetValue(strategy)}' is unknown; use one of {string.Join(", ", AggregationStrategies.Names)}.").ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(pruneFrom) < 1)
            {
                await err.WriteLineAsync("fededge simulate: --prune-from must be a round number, 1 or more.").ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(pruneWhenF1) is var learned && !(learned >= 0 && learned <= 1))
            {
                await err.WriteLineAsync("fededge simulate: --prune-when-f1 must be an F1 between 0 and 1.").ConfigureAwait(false);
                return 2;
            }

            int byzantineCount = parse.GetValue(byzantine);
            if (byzantineCount < 0)
            {
                await err.WriteLineAsync("fededge simulate: --byzantine must be 0 or more (the number of Byzantine devices the strategy tolerates).").ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(bucketSize) < 1)
            {
                await err.WriteLineAsync("fededge simulate: --bucket-size must be 1 (off) or more (updates averaged per bucket).").ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(mixing) == "nnm" && parse.GetValue(bucketSize) > 1)
            {
                await err.WriteLineAsync("fededge simulate: --mixing nnm and --bucket-size above 1 cannot be combined; pick one pre-aggregation.").ConfigureAwait(false);
                return 2;
            }

            FaultOptions? faultOptions = null;
            if (parse.GetValue(faults) is { } spec)
            {
                try
                {
                    faultOptions = FaultOptions.Parse(spec);
                }
                catch (FaultSpecException ex)
                {
                    await err.WriteLineAsync("fededge simulate: --faults: " + ex.Message).ConfigureAwait(false);
                    return 2;
                }
            }

            DashboardSettings? dashboard = DashboardCli.Resolve(parse, out string? dashboardProblem);
            if (dashboardProblem is not null)
            {
                await err.WriteLineAsync("fededge simulate: " + dashboardProblem).ConfigureAwait(false);
                return 2;
            }

            AttackSpec? attackSpec = null;
            if (parse.GetValue(attack) is { } attackText)
            {
                (attackSpec, string? attackProblem) = AttackSpec.Parse(attackText);
                if (attackProblem is not null)
                {
                    await err.WriteLineAsync("fededge simulate: " + attackProblem).ConfigureAwait(false);
                    return 2;
                }
            }

            (double? splitAlpha, string? splitProblem) = DeviceSplit.Parse(parse.GetValue(split)!);
            int attackerCount = parse.GetValue(attackers);
            int virtualDevices = DataSets.Files(dataDir).Count * Math.Max(1, parse.GetValue(splitDevices));
            splitProblem ??= attackSpec is null && attackerCount > 0 ? "--attackers needs --attack KIND (signflip, scale:K, labelflip or gaussian:SIGMA)." : null;
            splitProblem ??= attackSpec is not null && attackerCount == 0 ? "--attack needs --attackers N (how many devices attack)." : null;
            splitProblem ??= attackerCount >= virtualDevices ? $"--attackers {attackerCount} leaves no honest device among the {virtualDevices}; use fewer, or more devices with --split-devices." : null;
            if (splitProblem is not null)
            {
                await err.WriteLineAsync("fededge simulate: " + splitProblem).ConfigureAwait(false);
                return 2;
            }

            int members = parse.GetValue(committeeSize);
            string? committeeProblem = members > 0 && (members - 1) % 3 != 0 ? $"--committee {members}: a committee has 3f + 1 validators (1, 4, 7, ...)." : null;
            committeeProblem ??= members == 0 && parse.GetValue(faultyValidator) is not null ? "--faulty-validator needs --committee N." : null;
            committeeProblem ??= members > 0 && (parse.GetValue(compress) || parse.GetValue(dpNoise) is not null) ? "--committee recomputes each aggregate, which --compress and --dp-noise change on the coordinator; use it without them." : null;
            committeeProblem ??= members > 0 && parse.GetValue(topology) != "flat" ? "--committee runs with --topology flat only." : null;
            if (committeeProblem is not null)
            {
                await err.WriteLineAsync("fededge simulate: " + committeeProblem).ConfigureAwait(false);
                return 2;
            }

            var config = new SimulationConfig
            {
                CommitteeSize = members,
                FaultyValidator = parse.GetValue(faultyValidator),
                Attack = attackSpec,
                Attackers = attackerCount,
                SplitDevices = Math.Max(1, parse.GetValue(splitDevices)),
                SplitAlpha = splitAlpha,
                Reputation = parse.GetValue(reputationFlag) ?? attackSpec is not null,
                Monitor = dashboard is null ? null : new FederationMonitor { Federation = "nbaiot-simulation" },
                RunsStore = parse.GetValue(runsStore)!.FullName,
                Faults = faultOptions,
                SecureAggregation = parse.GetValue(secureAggregation),
                Thermal = parse.GetValue(thermal)!,
                DpNoise = parse.GetValue(dpNoise),
                DpClip = parse.GetValue(dpClip),
                DpTargetEpsilon = parse.GetValue(dpTargetEpsilon),
                Transport = transportName,
                Broker = brokerUri,
                PlainText = parse.GetValue(insecurePlaintext),
                Rounds = roundCount,
                Strategy = strategyName,
                ByzantineCount = byzantineCount,
                BucketSize = parse.GetValue(bucketSize),
                Mixing = MixingOption.Resolve(parse.GetValue(mixing), strategyName, parse.GetValue(bucketSize)),
                Model = parse.GetValue(model)!,
                Trainer = parse.GetValue(trainer)!,
                Seed = parse.GetValue(seed),
                LocalEpochs = Math.Max(1, parse.GetValue(epochs)),
                LocalSteps = MednnDefault(parse, model, steps) ? Simulation.TrainingDefaults.MednnLocalSteps : parse.GetValue(steps) is int k && k > 0 ? k : null,
                LearningRate = MednnDefault(parse, model, lr) ? Simulation.TrainingDefaults.MednnLearningRate : parse.GetValue(lr),
                Optimizer = parse.GetValue(optimizer)!,
                Momentum = parse.GetValue(momentum),
                BatchSize = parse.GetValue(batch),
                DataDirectory = dataDir,
                DataSet = kind,
                Compress = parse.GetValue(compress),
                Codec = parse.GetValue(codec) is string codecSpec ? FedEdge.Messaging.UpdateCodecSpec.Normalize(codecSpec) : null,
                TrainMemorySaving = parse.GetValue(trainMemory) == "saving",
                PruneFromRound = parse.GetValue(pruneFrom),
                PruneWhenF1 = parse.GetValue(pruneWhenF1),
                MudDirectory = mudDir,
                OutDirectory = parse.GetValue(output)!.FullName,
                EvalDirectory = parse.GetValue(eval)?.FullName,
                Topology = parse.GetValue(topology)!,
                Edges = parse.GetValue(edges),
                EdgeRounds = parse.GetValue(k2),
                TrustedDevices = parse.GetValue(trustedDevices) is { Length: > 0 } trusted ? trusted : null,
            };
            if (config.TrustedDevices is not null && config.Topology != "model2")
            {
                await err.WriteLineAsync("fededge simulate: --trusted-device is for --topology model2 (devices that may upload their rows to their edge).").ConfigureAwait(false);
                return 2;
            }

            if (config.Topology is "hierfavg" or "model2" && (config.SecureAggregation || config.DpNoise is not null || config.Faults is not null || config.Compress))
            {
                await err.WriteLineAsync($"fededge simulate: --topology {config.Topology} does not combine with --secure-aggregation, --dp-noise, --faults or --compress yet.").ConfigureAwait(false);
                return 2;
            }
            if (parse.GetValue(processes))
            {
                if (SimulationProcesses.Problem(config, parse.GetValue(transport) is not null || parse.GetValue(broker) is not null, dashboard is not null) is string processProblem)
                {
                    await err.WriteLineAsync("fededge simulate: " + processProblem).ConfigureAwait(false);
                    return 2;
                }
            }

            if (StrategyProblem(config, parse.GetValue(data) is null) is string strategyProblem)
            {
                await err.WriteLineAsync("fededge simulate: " + strategyProblem).ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(processes))
            {
                try
                {
                    return await SimulationProcesses.RunAsync(config, parse.InvocationConfiguration.Output, err, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException or DataFormatException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
                {
                    await err.WriteLineAsync("fededge simulate: " + ex.Message.ReplaceLineEndings(" ")).ConfigureAwait(false);
                    return 1;
                }
            }

            return await RunWithDashboardAsync(config, dashboard, err, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>True when <c>--model mednn</c> runs and <paramref name="option"/> was not given: MEDNN's own default applies.</summary>
    private static bool MednnDefault(ParseResult parse, Option<string> model, Option option) =>
        parse.GetValue(model) == "mednn" && parse.GetResult(option) is not { Implicit: false };

    private static async Task<int> RunWithDashboardAsync(SimulationConfig config, DashboardSettings? dashboard, TextWriter err, CancellationToken cancellationToken)
    {
        if (dashboard is null)
        {
            return await RunAsync(config, cancellationToken).ConfigureAwait(false);
        }

        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = await DashboardCli.StartAsync(dashboard, config.Monitor!, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DashboardConfigurationException or IOException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            await err.WriteLineAsync("fededge simulate: " + ex.Message).ConfigureAwait(false);
            return ex is IOException ? 1 : 2;
        }

        await using (app.ConfigureAwait(false))
        {
            if (dashboard.Endpoint is { } endpoint)
            {
                AnsiConsole.MarkupLine($"dashboard: [link]http://{endpoint}/[/]");
            }

            int exit = await RunAsync(config, cancellationToken).ConfigureAwait(false);
            if (dashboard.Endpoint is { } url && !cancellationToken.IsCancellationRequested)
            {
                // A simulation is over in seconds: keep its dashboard up to look at until Ctrl+C.
                AnsiConsole.MarkupLine($"the run is over; the dashboard stays up at [link]http://{url}/[/] until Ctrl+C");
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            return exit;
        }
    }

    private static async Task<int> RunAsync(SimulationConfig config, CancellationToken cancellationToken)
    {
        IAnsiConsole console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = Math.Max(console.Profile.Width, 132);
        }

        console.MarkupLine($"[bold]fededge simulate[/]: {config.Model} / {config.Trainer} trainer / {config.Strategy}{(MixingOption.MixedByDefault.Contains(config.Strategy) ? (config.BucketSize > 1 ? $" (buckets of {config.BucketSize})" : $" (mixing {MixingOption.Name(config.Mixing)})") : string.Empty)} / {config.Transport}, {config.Rounds} rounds, seed {config.Seed}, thermal {config.Thermal}{(config.Faults is { } f ? ", faults " + Markup.Escape(f.ToString()) : string.Empty)}");
        if (config.Topology == "hierfavg")
        {
            console.MarkupLine($"topology: hierfavg, {config.Edges} edges, k1 {config.LocalSteps?.ToString(CultureInfo.InvariantCulture) ?? "epochs"} local steps, k2 {config.EdgeRounds} edge rounds per cloud round; devices join their edge, the cloud sees one update per edge");
        }
        else if (config.Topology == "model2")
        {
            console.MarkupLine($"topology: model2, {config.Edges} edges; trusted devices upload their normalised rows to their edge over TLS (the raw data leaves the device), each edge trains on its rows, the cloud sees one update per edge");
        }

        console.MarkupLine($"data: [grey]{Markup.Escape(config.DataDirectory)}[/] ({DataSets.Name(config.DataSet)})");
        console.MarkupLine($"MUD admission: [grey]{Markup.Escape(config.MudDirectory)}[/] (RFC 8520, signed, coordinator {Simulation.Simulation.CoordinatorHost}:{Simulation.Simulation.CoordinatorPort}/tcp, task {Simulation.Simulation.TaskOf(config.DataSet)})");
        var table = new Table().AddColumns("round", "participants", "loss", "F1 (pooled held-out)", "bytes up", "bytes down", "seconds");
        SimulationReport report;
        try
        {
            report = await Simulation.Simulation.RunAsync(
                config,
                s => console.MarkupLine("[grey]" + Markup.Escape(s) + "[/]"),
                r => console.MarkupLine(
                    $"round {r.Round,3}  participants {r.Participants}  loss {Fmt(r.Loss)}  F1 {Fmt(r.F1)}  up {r.BytesUp:N0} B  down {r.BytesDown:N0} B  {r.Seconds:0.00} s{CompressionOptions.Describe(r)}{(r.Epsilon is double eps ? $"  ε {eps:0.###}" : string.Empty)}{(config.Faults is null ? string.Empty : $"  re-sent {r.Resends}  lost {r.Lost}")}{(r.Failure is null ? string.Empty : "  failed: " + Markup.Escape(r.Failure))}{(r.ByzantineCount is int f && f < config.ByzantineCount ? $"  f {f} (of {config.ByzantineCount}: devices quarantined)" : string.Empty)}{(r.Quarantined.Count == 0 ? string.Empty : "  quarantined: " + Markup.Escape(string.Join(", ", r.Quarantined)))}{TierLine(r)}{DeviceLine(r)}"),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DataFormatException or ArgumentException or IOException or InvalidDataException or NotSupportedException or InsufficientUpdatesException or AggregationConfigurationException)
        {
            console.MarkupLine("[red]fededge simulate failed:[/] " + Markup.Escape(ex.Message));
            return 1;
        }
        catch (Exception ex) when (ex is TransportException or MqttCommunicationException)
        {
            // An unreachable or refusing broker (--broker): say which, without a stack trace.
            string cause = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? " (" + inner.Message + ")" : string.Empty;
            console.MarkupLine("[red]fededge simulate failed:[/] " + Markup.Escape(ex.Message + cause));
            return 1;
        }

        foreach (RoundRow r in report.Rounds)
        {
            table.AddRow(r.Round.ToString(CultureInfo.InvariantCulture), r.Participants.ToString(CultureInfo.InvariantCulture), Fmt(r.Loss), Fmt(r.F1), r.BytesUp.ToString("N0", CultureInfo.InvariantCulture), r.BytesDown.ToString("N0", CultureInfo.InvariantCulture), r.Seconds.ToString("0.00", CultureInfo.InvariantCulture));
        }

        console.Write(table);
        var devices = new Table().Title("Federated model on each device's held-out rows (centralised in brackets)").AddColumns("device", "train", "test (attacks)", "accuracy", "precision", "recall", "F1", "FPR", "note");
        foreach (DeviceRow d in report.Devices)
        {
            devices.AddRow(
                Markup.Escape(d.Device),
                d.TrainRows.ToString(CultureInfo.InvariantCulture),
                $"{d.TestRows} ({d.TestAttacks})",
                Cell(d.Federated?.Accuracy, d.Centralized?.Accuracy),
                Cell(d.Federated?.Precision, d.Centralized?.Precision),
                Cell(d.Federated?.Recall, d.Centralized?.Recall),
                Cell(d.Federated?.F1, d.Centralized?.F1),
                Cell(d.Federated?.Fpr, d.Centralized?.Fpr),
                Markup.Escape(d.Note ?? string.Empty));
        }

        devices.AddRow("[bold]pooled[/]", string.Empty, string.Empty, Cell(report.Federated.Accuracy, report.Centralized.Accuracy), Cell(report.Federated.Precision, report.Centralized.Precision), Cell(report.Federated.Recall, report.Centralized.Recall), Cell(report.Federated.F1, report.Centralized.F1), Cell(report.Federated.Fpr, report.Centralized.Fpr), string.Empty);
        console.Write(devices);

        var summary = new Table().AddColumns("model", "accuracy", "precision", "recall", "F1", "FPR", "train seconds");
        summary.AddRow("federated", P(report.Federated.Accuracy), P(report.Federated.Precision), P(report.Federated.Recall), P(report.Federated.F1), P(report.Federated.Fpr), report.FederatedSeconds.ToString("0.0", CultureInfo.InvariantCulture));
        summary.AddRow("centralised", P(report.Centralized.Accuracy), P(report.Centralized.Precision), P(report.Centralized.Recall), P(report.Centralized.F1), P(report.Centralized.Fpr), report.CentralizedSeconds.ToString("0.0", CultureInfo.InvariantCulture));
        if (report.EvalFederated is { } ef && report.EvalCentralized is { } ec)
        {
            summary.AddRow($"federated on --eval ({report.EvalRows} rows)", P(ef.Accuracy), P(ef.Precision), P(ef.Recall), P(ef.F1), P(ef.Fpr), string.Empty);
            summary.AddRow($"centralised on --eval", P(ec.Accuracy), P(ec.Precision), P(ec.Recall), P(ec.F1), P(ec.Fpr), string.Empty);
        }

        console.Write(summary);
        foreach (Coordination.RefusedDevice refused in report.Refused)
        {
            console.MarkupLine($"[yellow]refused[/] {Markup.Escape(refused.DeviceId)}: {Markup.Escape(string.Join("; ", refused.Reasons))}");
        }

        foreach (EdgeNode edge in report.Tree)
        {
            console.MarkupLine($"{Markup.Escape(edge.Edge)}: {Markup.Escape(string.Join(", ", edge.Devices))}");
        }

        IReadOnlyList<string> files = ReportWriter.Write(report, config.OutDirectory);
        console.MarkupLine($"F1 federated {P(report.Federated.F1)} % vs centralised {P(report.Centralized.F1)} % (gap {(report.Centralized.F1 - report.Federated.F1) * 100:0.00} pp); {report.StopReason}; {report.TotalSeconds:0.0} s in total");
        console.MarkupLine("wrote " + Markup.Escape(string.Join(", ", files.Select(Path.GetFileName))) + " to " + Markup.Escape(config.OutDirectory));
        if (report.Attackers.Count > 0)
        {
            console.MarkupLine($"attackers ({Markup.Escape(config.Attack?.ToString() ?? string.Empty)}): {Markup.Escape(string.Join(", ", report.Attackers))}");
        }

        if (report.LedgerHead is { } head)
        {
            console.MarkupLine($"transparency log: {head.Size} entries in {Markup.Escape(report.Ledger ?? string.Empty)}, root {Convert.ToHexStringLower(head.RootHash.Span)[..16]}…; check it with: fededge ledger verify --log {Markup.Escape(report.Ledger ?? string.Empty)}{(report.LedgerCa is null ? string.Empty : " --ca " + Markup.Escape(report.LedgerCa))}{(report.LedgerCommittee is null ? string.Empty : " --committee " + Markup.Escape(report.LedgerCommittee))}");
        }
        var recorder = Runs.RunRecorder.Start(config.RunsStore, "simulate", (System.Text.Json.Nodes.JsonObject)ReportWriter.ToJson(report)["config"]!.DeepClone());
        foreach (RoundRow r in report.Rounds)
        {
            recorder.AddRound(new Runs.RunRound(r.Round, r.Failure is null, r.Participants, r.Loss, r.F1, r.BytesUp, r.BytesDown, r.Seconds, r.Epsilon));
        }

        recorder.Finish(ReportWriter.ToJson(report));
        console.MarkupLine("run recorded: " + Markup.Escape(recorder.Id) + " in " + Markup.Escape(recorder.Folder) + " (fededge runs show " + Markup.Escape(recorder.Id) + ")");
        return 0;
    }

    /// <summary>The shipped data: samples/data next to the app's repository, found from the working directory or the app's folder.</summary>
    internal static string? DefaultDataDirectory() => DefaultSamplesDirectory("data", "*.csv.gz");

    /// <summary>samples/<paramref name="name"/> holding at least one <paramref name="pattern"/> file, found from the working directory or the app's folder.</summary>
    internal static string? DefaultSamplesDirectory(string name, string pattern)
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                string candidate = Path.Combine(dir, "samples", name);
                if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, pattern).Any())
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The transport and broker from <c>--transport</c> and <c>--broker</c>: a broker alone implies mqtt; a broker with
    /// another explicit transport, or one that is not mqtt://host:port, is a problem (the third item).
    /// </summary>
    /// <summary>Why <c>--codec</c> cannot apply with these flags, or null.</summary>
    internal static string? CodecProblem(string? codec, string transport, bool compress, bool secureAggregation, string topology) =>
        codec is null ? null
        : transport == "inproc" ? "--codec encodes updates on the wire; use --transport mqtt or grpc (inproc passes objects and does not encode)."
        : compress ? "--compress sends sparse float16 already; drop --codec or --compress."
        : secureAggregation ? "--codec does not combine with --secure-aggregation (masked updates must travel exactly)."
        : topology == "hierfavg" ? "--codec does not combine with --topology hierfavg yet."
        : null;

    private static (string Transport, Uri? Broker, string? Problem) ResolveTransport(string? transport, string? broker)
    {
        if (broker is null)
        {
            return (transport ?? "inproc", null, null);
        }

        if (transport is not null and not "mqtt")
        {
            return (transport, null, $"--broker names an MQTT broker, so it cannot be used with --transport {transport}; drop --transport (or use --transport mqtt).");
        }

        return Uri.TryCreate(broker, UriKind.Absolute, out Uri? uri) && uri.Scheme == "mqtt" && !string.IsNullOrEmpty(uri.Host)
            ? ("mqtt", uri, null)
            : ("mqtt", null, $"--broker '{broker}' is not an MQTT broker URL; write mqtt://host:port.");
    }

    /// <summary>Why the strategy cannot run in this simulation (unusable settings, secure aggregation, too few devices), or null.</summary>
    private static string? StrategyProblem(SimulationConfig config, bool defaultData)
    {
        try
        {
            IAggregationStrategy strategy = SimulationStrategy.Create(config);
            return SimulationStrategy.Problem(config, strategy, defaultData ? "the demo" : $"'{config.DataDirectory}'");
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or IOException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }

    /// <summary>Why the privacy flags do not fit together, or null.</summary>
    internal static string? PrivacyFlagsProblem(double? noise, double? clip, double? targetEpsilon)
    {
        if (noise is double s && !(s > 0 && double.IsFinite(s)))
        {
            return "--dp-noise must be a positive number.";
        }

        if (clip is double c && !(c > 0 && double.IsFinite(c)))
        {
            return "--dp-clip must be a positive number.";
        }

        if (targetEpsilon is double e && !(e > 0 && double.IsFinite(e)))
        {
            return "--dp-target-epsilon must be a positive number.";
        }

        return targetEpsilon is not null && noise is null ? "--dp-target-epsilon needs --dp-noise (without noise there is no ε to account)." : null;
    }

    /// <summary>A compact per-device line under a round: temperature (n/a without a sensor), bytes up/down, notes.</summary>
    /// <summary>The bytes per tier of a hierarchical round: what reached the cloud (one update per edge) and what the edges exchanged with their devices.</summary>
    private static string TierLine(RoundRow r) => r.Tiers is not { } t
        ? string.Empty
        : string.Create(CultureInfo.InvariantCulture, $"\n    cloud tier: {t.CloudUpdates} edge updates, up {t.CloudUp:N0} B, down {t.CloudDown:N0} B;  edge tier: {t.EdgeRounds} edge rounds, up {t.EdgeUp:N0} B, down {t.EdgeDown:N0} B");

    private static string DeviceLine(RoundRow r)
    {
        if (r.Devices.Count == 0)
        {
            return string.Empty;
        }

        var line = new System.Text.StringBuilder();
        foreach (DeviceRoundRow d in r.Devices)
        {
            string temp = d.TemperatureCelsius is double t ? t.ToString("0.0", CultureInfo.InvariantCulture) + " °C" : "n/a";
            string flags = (d.Throttled == true ? " throttled" : string.Empty) + (d.Note is null ? string.Empty : " [" + d.Note + "]");
            line.Append(CultureInfo.InvariantCulture, $"\n    {d.Device,-40} {temp,8}  up {d.BytesUp,9:N0} B  down {d.BytesDown,9:N0} B  train {d.TrainSeconds:0.000} s{flags}");
        }

        return Markup.Escape(line.ToString());
    }

    private static string Fmt(double? v) => v is double d ? d.ToString("0.0000", CultureInfo.InvariantCulture) : "-";

    private static string P(double v) => (v * 100).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Cell(double? fed, double? central) =>
        fed is double f ? $"{P(f)} [grey]({(central is double c ? P(c) : "-")})[/]" : "-";
}
