using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FedEdge.Checkpoints;
using FedEdge.Data;
using FedEdge.Metrics;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// <c>fededge simulate --processes</c>: the same federation as the in-process simulation, but the cloud coordinator, each
/// edge aggregator and each device run as their own <c>fededge</c> child process over real brokers (the cloud's and each
/// edge's embedded broker on free loopback ports). By default every link is mutual TLS: a federation CA, a server
/// certificate for the cloud and for each edge, and a device certificate for each device and each edge (its identity
/// towards the cloud) are generated into OUT/pki, keys mode 0600; updates and global models are signed on both tiers.
/// With <c>--insecure-plaintext</c> the brokers are plain and device passwords go through 0600 files under OUT; never
/// does a secret go on the command line. Each device trains on its own training split (written to OUT/processes/data);
/// the held-out rows stay here and score the cloud's final model. Children are killed whenever the simulation stops, fails or is cancelled.
/// </summary>
internal static partial class SimulationProcesses
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>Why these settings cannot run as processes (a usage error), or null.</summary>
    public static string? Problem(SimulationConfig config, bool transportGiven, bool dashboard) =>
        config.Topology == "model2" ? "--processes runs --topology flat or hierfavg (model2 runs in one process only)."
        : config.SecureAggregation ? "--processes does not combine with --secure-aggregation."
        : config.Faults is not null ? "--processes does not combine with --faults."
        : config.Compress ? "--processes does not combine with --compress."
        : config.CommitteeSize > 0 ? "--processes does not combine with --committee."
        : config.Codec is not null ? "--processes does not combine with --codec."
        : config.DpNoise is not null ? "--processes does not combine with --dp-noise."
        : config.BucketSize > 1 ? "--processes does not combine with --bucket-size (the coordinator process does not bucket updates)."
        : config.Attack is not null ? "--processes does not combine with --attack."
        : config.SplitDevices > 1 ? "--processes does not combine with --split-devices (one process per device file)."
        : config.Trainer != "managed" ? "--processes trains with the managed trainer only; drop --trainer."
        : config.Model != "mlp" ? "--processes runs --model mlp only."
        : config.DataSet != DataSetKind.Nbaiot ? "--processes runs on N-BaIoT device files only."
        : config.EvalDirectory is not null ? "--processes does not combine with --eval."
        : transportGiven ? "--processes runs each tier over its own embedded MQTT broker; drop --transport and --broker."
        : dashboard ? "--processes does not combine with --dashboard (the cloud coordinator process would own it)."
        : null;

    /// <summary>Runs the federation as child processes and writes OUT/report.json; 0 on success, 1 when a child fails.</summary>
    public static async Task<int> RunAsync(SimulationConfig config, TextWriter stdout, TextWriter err, TimeProvider time, CancellationToken cancellationToken)
    {
        string work = Path.Combine(config.OutDirectory, "processes");
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true); // State folders of an earlier run would make the children resume it.
        }

        Directory.CreateDirectory(Path.Combine(work, "data"));
        Directory.CreateDirectory(Path.Combine(work, "secrets"));

        // Each device's rows: a stratified train/test split with the simulation's seed; the train rows go to the device.
        var devices = new List<(string Id, string TrainFile, Dataset Test)>();
        var summaries = new List<FeatureSummary>();
        IReadOnlyList<string>? featureNames = null;
        foreach (string file in DataSets.Files(config.DataDirectory))
        {
            string id = DeviceId(file);
            (string trainFile, Dataset train, Dataset test) = SplitFile(file, Path.Combine(work, "data", id + ".csv"), config);
            devices.Add((id, trainFile, test));
            summaries.Add(FeatureSummary.Of(id, train));
            featureNames ??= train.FeatureNames;
        }

        if (devices.Count == 0)
        {
            await err.WriteLineAsync($"fededge simulate: no device files in {config.DataDirectory}.").ConfigureAwait(false);
            return 2;
        }

        // Round 0 as in one process: the federation's normaliser merged from the devices' own summaries.
        MinMaxNormalizer normalizer = FederatedPreprocessing.MergeNormalizer(summaries, featureNames!);
        string normalizerFile = Path.Combine(work, "normalizer.json");
        await File.WriteAllTextAsync(normalizerFile, normalizer.ToJson(), cancellationToken).ConfigureAwait(false);

        bool hier = config.Topology == "hierfavg";
        IReadOnlyList<EdgeNode> tree = hier ? SimulationHierarchy.Deal([.. devices.Select(d => d.Id)], Math.Min(config.Edges, devices.Count)) : [];
        var secrets = devices.ToDictionary(d => d.Id, _ => RandomNumberGenerator.GetHexString(32, lowercase: true), StringComparer.Ordinal);
        foreach (EdgeNode e in tree)
        {
            secrets[e.Edge] = RandomNumberGenerator.GetHexString(32, lowercase: true);
        }

        bool tls = !config.PlainText;
        ProcessPki? pki = tls ? ProcessPki.Write(config.OutDirectory, [.. devices.Select(d => d.Id), .. tree.Select(e => e.Edge)], [.. tree.Select(e => e.Edge)], time) : null;
        string scheme = tls ? "mqtts" : "mqtt";
        int cloudPort = FreePort();
        string cloudRuns = Path.Combine(work, "cloud-runs");
        int k1 = config.LocalSteps ?? 0;
        string R(int v) => v.ToString(CultureInfo.InvariantCulture);
        string lr = config.LearningRate.ToString(CultureInfo.InvariantCulture);
        IReadOnlyList<string> cloudMembers = hier ? [.. tree.Select(e => e.Edge)] : [.. devices.Select(d => d.Id)];
        var cloudArgs = new List<string>
        {
            "coordinator", "--port", R(cloudPort),
            "--rounds", R(config.Rounds), "--min-devices", R(cloudMembers.Count), "--strategy", config.Strategy, "--byzantine", R(config.ByzantineCount), "--mixing", MixingOption.Name(config.Mixing), "--model", config.Model, "--seed", R(config.Seed),
            "--local-steps", R(k1), "--lr", lr, "--heartbeat", "1", "--missed-heartbeats", "5", "--window", "60", "--round-timeout", "300", "--join-timeout", "300",
            "--out", Path.Combine(work, "cloud"), "--runs", cloudRuns,
        };
        foreach (string m in cloudMembers)
        {
            cloudArgs.AddRange(["--device", $"{m}={MudUrl(m)}"]);
        }

        // Mutual TLS: the cloud's embedded broker listens on --port with its server certificate; its members present
        // their device certificates. Plain text: the members' passwords in a 0600 file.
        cloudArgs.AddRange(pki is not null ? pki.ServerArgs("cloud") : ["--device-passwords", WriteSecrets(work, "cloud-devices", cloudMembers.Select(m => (m, secrets[m])))]);

        if (hier)
        {
            cloudArgs.AddRange(["--hierfavg-k1", R(Math.Max(1, k1)), "--hierfavg-k2", R(config.EdgeRounds)]);
        }

        await using var children = new ChildProcesses();
        try
        {
            ChildProcess cloud = children.Start("cloud", "cloud", null, cloudArgs);
            await children.WaitForLineAsync(cloud, l => l.StartsWith("coordinator listening", StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
            // The cloud's own account of its aggregation (strategy, f, mixing) from its listening line.
            string aggregation = cloud.StdoutLines.First(l => l.StartsWith("coordinator listening", StringComparison.Ordinal)).Split("; ").FirstOrDefault(p => p.StartsWith("aggregation ", StringComparison.Ordinal)) ?? "aggregation " + config.Strategy;
            await stdout.WriteLineAsync($"cloud coordinator: pid {cloud.Pid}, broker {scheme}://127.0.0.1:{cloudPort}{(pki is null ? " (plain text)" : $" (mutual TLS, certificates in {pki.Directory})")}; {aggregation}").ConfigureAwait(false);

            var edgeDeviceBroker = new Dictionary<string, int>(StringComparer.Ordinal);
            var edgeOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (EdgeNode e in tree)
            {
                int port = FreePort();
                var args = new List<string>
                {
                    "edge", "--edge-id", e.Edge, "--cloud", $"{scheme}://127.0.0.1:{R(cloudPort)}",
                    "--mud-url", MudUrl(e.Edge).ToString(), "--port", R(port),
                    "--min-devices", R(e.Devices.Count), "--k1", R(Math.Max(1, k1)), "--k2", R(config.EdgeRounds), "--model", config.Model, "--seed", R(config.Seed), "--lr", lr,
                    "--heartbeat", "1", "--missed-heartbeats", "5", "--window", "60", "--round-timeout", "300",
                    "--state", Path.Combine(work, e.Edge), "--exit-after-round", R(config.Rounds),
                };
                foreach (string d in e.Devices)
                {
                    args.AddRange(["--device", $"{d}={MudUrl(d)}"]);
                    edgeOf[d] = e.Edge;
                }

                // Towards its devices a server certificate, towards the cloud its device certificate; or passwords in plain text.
                args.AddRange(pki is not null
                    ? [.. pki.ServerArgs(e.Edge), "--cloud-cert", pki.DeviceCertificate(e.Edge), "--cloud-key", pki.DeviceKey(e.Edge)]
                    : ["--password-file", WriteSecret(work, e.Edge, secrets[e.Edge]), "--device-passwords", WriteSecrets(work, e.Edge + "-devices", e.Devices.Select(d => (d, secrets[d])))]);

                ChildProcess edge = children.Start("edge", e.Edge, null, args);
                await children.WaitForLineAsync(edge, l => l.StartsWith($"edge {e.Edge} listening", StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
                edgeDeviceBroker[e.Edge] = port;
                await stdout.WriteLineAsync($"edge {e.Edge}: pid {edge.Pid}, devices' broker {scheme}://127.0.0.1:{port}").ConfigureAwait(false);
            }

            foreach ((string id, string trainFile, _) in devices)
            {
                int port = edgeOf.TryGetValue(id, out string? parent) ? edgeDeviceBroker[parent] : cloudPort;
                var args = new List<string>
                {
                    "worker", "--device-id", id, "--mud-url", MudUrl(id).ToString(),
                    "--broker", $"{scheme}://127.0.0.1:{R(port)}", "--data", trainFile, "--normalizer", normalizerFile, "--model", config.Model, "--seed", R(config.Seed),
                    "--heartbeat", "1", "--state", Path.Combine(work, id + ".state.json"),
                };
                if (parent is null)
                {
                    args.AddRange(["--exit-after-round", R(config.Rounds)]);
                }

                args.AddRange(pki is not null
                    ? ["--ca", pki.Authority, "--cert", pki.DeviceCertificate(id), "--key", pki.DeviceKey(id)]
                    : ["--password-file", WriteSecret(work, id, secrets[id])]);

                ChildProcess device = children.Start("device", id, parent, args);
                await stdout.WriteLineAsync($"device {id}: pid {device.Pid}{(parent is null ? string.Empty : " under " + parent)}").ConfigureAwait(false);
            }

            long started = time.GetTimestamp();
            int printed = 0;
            while (!cloud.HasExited)
            {
                if (children.Failed() is { } failedChild)
                {
                    return await FailAsync(failedChild, err).ConfigureAwait(false);
                }

                printed = await PrintRoundsAsync(cloud, printed, stdout).ConfigureAwait(false);
                await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
            }

            await cloud.Exited.ConfigureAwait(false);
            await PrintRoundsAsync(cloud, printed, stdout).ConfigureAwait(false);
            if (cloud.StoppedByUs)
            {
                await err.WriteLineAsync("fededge simulate: stopped; the child processes were ended.").ConfigureAwait(false);
                return 1;
            }

            if (cloud.ExitCode != 0)
            {
                return await FailAsync(cloud, err).ConfigureAwait(false);
            }

            // The edges and flat devices exit by themselves after the last cloud model; devices under edges are stopped.
            foreach (ChildProcess c in children.All.Where(c => c.Role == "edge" || (c.Role == "device" && c.Parent is null)))
            {
                using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                grace.CancelAfter(TimeSpan.FromSeconds(60));
                try
                {
                    await c.Exited.WaitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    c.Stop();
                }

                if (c.HasExited && !c.StoppedByUs && c.ExitCode != 0)
                {
                    return await FailAsync(c, err).ConfigureAwait(false);
                }
            }

            children.StopAll();
            double seconds = time.GetElapsedTime(started).TotalSeconds;

            // The cloud's final model from its checkpoint, scored on the pooled held-out rows of every device.
            CoordinatorCheckpoint? checkpoint = await new FileCheckpointStore(Path.Combine(work, "cloud")).LoadAsync(cancellationToken).ConfigureAwait(false);
            if (checkpoint is null)
            {
                await err.WriteLineAsync("fededge simulate: the cloud coordinator left no checkpoint with its final model.").ConfigureAwait(false);
                return 1;
            }

            NetworkSpec spec = DataSetModels.Spec(config.Model, config.DataSet);
            Dataset pooled = Dataset.Concat([.. devices.Select(d => normalizer.Transform(d.Test))]);
            EvaluationResult scored = await new ManagedTrainer(spec).EvaluateAsync(checkpoint.Parameters, pooled, cancellationToken).ConfigureAwait(false);
            ClassificationMetrics metrics = ClassificationMetrics.Compute(scored.Scores, pooled.Labels, 0.5);

            JsonObject report = Report(config, children, tree, cloud, checkpoint.Round, metrics, pooled.Count, seconds, FindCloudReport(cloudRuns), pki?.Directory);
            Directory.CreateDirectory(config.OutDirectory);
            string reportPath = Path.Combine(config.OutDirectory, "report.json");
            await File.WriteAllTextAsync(reportPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"final model after {checkpoint.Round} cloud rounds: F1 {metrics.F1 * 100:0.00} % on {pooled.Count} pooled test rows ({children.All.Count} processes, {seconds:0.0} s)")).ConfigureAwait(false);

            var recorder = Runs.RunRecorder.Start(config.RunsStore, "simulate", (JsonObject)report["config"]!.DeepClone());
            foreach (JsonNode? r in report["rounds"]!.AsArray())
            {
                recorder.AddRound(new Runs.RunRound((long)r!["round"]!, (bool)r["completed"]!, (int)r["participants"]!, null, null, (long)r["bytes_up"]!, (long)r["bytes_down"]!, (double)r["seconds"]!, null));
            }

            recorder.Finish(report);
            await stdout.WriteLineAsync($"wrote {reportPath}; run recorded: {recorder.Id}").ConfigureAwait(false);
            return 0;
        }
        catch (ChildFailedException ex)
        {
            return await FailAsync(ex.Child, err).ConfigureAwait(false);
        }
    }

    private static async Task<int> FailAsync(ChildProcess child, TextWriter err)
    {
        string last = child.LastStderrLine ?? child.LastStdoutLine ?? "no output";
        await err.WriteLineAsync($"fededge simulate: {child.Role} {child.Name} (pid {child.Pid}) exited with code {(child.HasExited ? child.ExitCode : -1)}: {last}").ConfigureAwait(false);
        return 1;
    }

    private static async Task<int> PrintRoundsAsync(ChildProcess cloud, int printed, TextWriter stdout)
    {
        IReadOnlyList<string> lines = [.. cloud.StdoutLines.Where(l => CloudRound().IsMatch(l))];
        for (; printed < lines.Count; printed++)
        {
            await stdout.WriteLineAsync("cloud " + lines[printed]).ConfigureAwait(false);
        }

        return printed;
    }

    private static JsonObject Report(SimulationConfig config, ChildProcesses children, IReadOnlyList<EdgeNode> tree, ChildProcess cloud, long roundsCompleted, ClassificationMetrics metrics, int testRows, double seconds, string? cloudReport, string? pkiDirectory)
    {
        bool hier = tree.Count > 0;

        // The edge tier's rounds per cloud round, from each edge's own output: every edge round line names its cloud round.
        var edgeTier = new Dictionary<long, (int Rounds, long Up, long Down)>();
        foreach (ChildProcess edge in children.All.Where(c => c.Role == "edge"))
        {
            foreach (string line in edge.StdoutLines)
            {
                if (EdgeRound().Match(line) is { Success: true } m && m.Groups["completed"].Value == "True")
                {
                    long cloudRound = long.Parse(m.Groups["cloud"].Value, CultureInfo.InvariantCulture);
                    (int n, long up, long down) = edgeTier.GetValueOrDefault(cloudRound);
                    edgeTier[cloudRound] = (n + 1, up + long.Parse(m.Groups["up"].Value, CultureInfo.InvariantCulture), down + long.Parse(m.Groups["down"].Value, CultureInfo.InvariantCulture));
                }
            }
        }

        var rounds = new JsonArray();
        foreach (string line in cloud.StdoutLines)
        {
            if (CloudRound().Match(line) is not { Success: true } m)
            {
                continue;
            }

            long round = long.Parse(m.Groups["round"].Value, CultureInfo.InvariantCulture);
            bool completed = m.Groups["completed"].Value == "True";
            int participants = int.Parse(m.Groups["participants"].Value, CultureInfo.InvariantCulture);
            long up = long.Parse(m.Groups["up"].Value, CultureInfo.InvariantCulture), down = long.Parse(m.Groups["down"].Value, CultureInfo.InvariantCulture);
            var row = new JsonObject
            {
                ["round"] = round,
                ["completed"] = completed,
                ["participants"] = participants,
                ["bytes_up"] = up,
                ["bytes_down"] = down,
                ["seconds"] = double.Parse(m.Groups["seconds"].Value, CultureInfo.InvariantCulture),
            };
            var tiers = new JsonObject { ["cloud"] = new JsonObject { ["updates"] = completed ? participants : 0, ["bytes_up"] = up, ["bytes_down"] = down } };
            if (hier)
            {
                (int n, long eUp, long eDown) = edgeTier.GetValueOrDefault(round);
                tiers["edge"] = new JsonObject { ["edge_rounds"] = n, ["bytes_up"] = eUp, ["bytes_down"] = eDown };
            }

            row["tiers"] = tiers;
            rounds.Add(row);
        }

        JsonObject Proc(ChildProcess c) => new() { ["role"] = c.Role, ["id"] = c.Name, ["pid"] = c.Pid, ["parent"] = c.Parent, ["exit_code"] = c.HasExited && !c.StoppedByUs ? c.ExitCode : null, ["stopped"] = c.StoppedByUs };
        ChildProcess ByName(string name) => children.All.First(c => c.Name == name);
        var edges = new JsonArray();
        foreach (EdgeNode e in tree)
        {
            edges.Add(new JsonObject { ["edge"] = e.Edge, ["pid"] = ByName(e.Edge).Pid, ["devices"] = new JsonArray([.. e.Devices.Select(d => (JsonNode)new JsonObject { ["device"] = d, ["pid"] = ByName(d).Pid })]) });
        }

        return new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["processes"] = true,
                ["topology"] = config.Topology,
                ["edges"] = hier ? tree.Count : null,
                ["k2"] = hier ? config.EdgeRounds : null,
                ["rounds"] = config.Rounds,
                ["strategy"] = config.Strategy,
                ["model"] = config.Model,
                ["local_steps"] = config.LocalSteps,
                ["lr"] = config.LearningRate,
                ["seed"] = config.Seed,
                ["data"] = config.DataDirectory,
                ["transport"] = "mqtt",
                ["security"] = pkiDirectory is null ? "plaintext" : "mutual-tls",
                ["pki"] = pkiDirectory,
            },
            ["processes"] = new JsonArray([.. children.All.Select(c => (JsonNode)Proc(c))]),
            ["tree"] = new JsonObject
            {
                ["cloud"] = new JsonObject { ["pid"] = cloud.Pid },
                ["edges"] = edges,
                ["devices"] = hier ? new JsonArray() : new JsonArray([.. children.All.Where(c => c.Role == "device").Select(c => (JsonNode)new JsonObject { ["device"] = c.Name, ["pid"] = c.Pid })]),
            },
            ["rounds"] = rounds,
            ["final"] = new JsonObject
            {
                ["rounds_completed"] = roundsCompleted,
                ["test_rows"] = testRows,
                ["seconds"] = seconds,
                ["federated"] = new JsonObject { ["accuracy"] = metrics.Accuracy, ["precision"] = metrics.Precision, ["recall"] = metrics.Recall, ["f1"] = metrics.F1, ["fpr"] = metrics.FalsePositiveRate },
            },
            ["cloud_report"] = cloudReport,
        };
    }

    private static string? FindCloudReport(string runs) =>
        Directory.Exists(runs) ? Directory.GetFiles(runs, "report.json", SearchOption.AllDirectories).FirstOrDefault() : null;

    /// <summary>The device id of a data file: its name without extension, lower case, '-' for '_' (an MQTT user name).</summary>
    private static string DeviceId(string file)
    {
        string name = Path.GetFileName(file);
        foreach (string ext in new[] { ".csv.gz", ".csv", ".gz" })
        {
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase))
            {
                name = name[..^ext.Length];
                break;
            }
        }

        return name.ToLowerInvariant().Replace('_', '-').Replace('.', '-');
    }

    private static Uri MudUrl(string id) => new("https://mud.fededge.local/" + id + ".json");

    /// <summary>
    /// Splits a device file into train and test rows with the simulation's stratified split, writes the train rows
    /// (header and original lines) to <paramref name="trainPath"/>, and returns the parsed train and test rows.
    /// </summary>
    private static (string TrainFile, Dataset Train, Dataset Test) SplitFile(string file, string trainPath, SimulationConfig config)
    {
        Dataset data = DataSets.ReadFile(file, config.DataSet);
        List<string> lines = [.. ReadLines(file).Where(l => l.Length > 0)];
        if (lines.Count - 1 != data.Count)
        {
            throw new InvalidDataException($"{Path.GetFileName(file)}: {lines.Count - 1} lines but {data.Count} rows; --processes needs one row per line.");
        }

        // The split of row indices: a one-column data set of indices with the same labels splits exactly as the rows would.
        var index = new Dataset(Enumerable.Range(0, data.Count).Select(i => (float)i).ToArray(), data.Labels.ToArray(), 1);
        (Dataset trainIndex, _) = DataSplits.StratifiedSplit(index, config.TestFraction, config.Seed);
        (Dataset train, Dataset test) = DataSplits.StratifiedSplit(data, config.TestFraction, config.Seed);
        using (var writer = new StreamWriter(trainPath))
        {
            writer.WriteLine(lines[0]);
            for (int i = 0; i < trainIndex.Count; i++)
            {
                writer.WriteLine(lines[1 + (int)trainIndex.Features[i]]);
            }
        }

        return (trainPath, train, test);
    }

    private static IEnumerable<string> ReadLines(string file)
    {
        using Stream raw = File.OpenRead(file);
        using Stream stream = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new System.IO.Compression.GZipStream(raw, System.IO.Compression.CompressionMode.Decompress) : raw;
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static string WriteSecret(string work, string name, string secret) => WritePrivate(Path.Combine(work, "secrets", name + ".password"), secret + "\n");

    private static string WriteSecrets(string work, string name, IEnumerable<(string Id, string Secret)> entries) =>
        WritePrivate(Path.Combine(work, "secrets", name + ".passwords"), string.Concat(entries.Select(e => e.Id + "=" + e.Secret + "\n")));

    private static string WritePrivate(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(path, System.Text.Encoding.UTF8, options))
        {
            writer.Write(content);
        }

        return path;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"^round (?<round>\d+) completed=(?<completed>\w+) participants=(?<participants>\d+) loss=\S+ up=(?<up>\d+) down=(?<down>\d+) seconds=(?<seconds>[\d.]+)")]
    private static partial Regex CloudRound();

    [GeneratedRegex(@"^edge round (?<round>\d+) completed=(?<completed>\w+) participants=\d+ loss=\S+ up=(?<up>\d+) down=(?<down>\d+) cloud_round=(?<cloud>\d+)")]
    private static partial Regex EdgeRound();

    /// <summary>A child that exited with an error while the simulation waited for it.</summary>
    private sealed class ChildFailedException(ChildProcess child) : Exception($"{child.Name} exited")
    {
        public ChildProcess Child => child;
    }

    /// <summary>The children of one run: started from this same executable, all killed when disposed or when this process exits.</summary>
    private sealed class ChildProcesses : IAsyncDisposable
    {
        private readonly List<ChildProcess> _all = [];
        private readonly List<System.Runtime.InteropServices.PosixSignalRegistration> _signals = [];

        public ChildProcesses()
        {
            // A signal that ends this process ends its children first; the default handling (termination) then goes on.
            AppDomain.CurrentDomain.ProcessExit += OnExit;
            foreach (var signal in new[] { System.Runtime.InteropServices.PosixSignal.SIGTERM, System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGHUP, System.Runtime.InteropServices.PosixSignal.SIGQUIT })
            {
                _signals.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, _ => StopAll()));
            }
        }

        public IReadOnlyList<ChildProcess> All => _all;

        public ChildProcess Start(string role, string name, string? parent, IReadOnlyList<string> arguments)
        {
            lock (_all)
            {
                var child = ChildProcess.Start(role, name, parent, arguments);
                _all.Add(child);
                return child;
            }
        }

        /// <summary>The first child that exited with an error code on its own, or null.</summary>
        public ChildProcess? Failed() => _all.FirstOrDefault(c => c.HasExited && !c.StoppedByUs && c.ExitCode != 0);

        public async Task WaitForLineAsync(ChildProcess child, Func<string, bool> match, CancellationToken cancellationToken)
        {
            while (!child.StdoutLines.Any(match))
            {
                if (child.HasExited)
                {
                    await child.Exited.ConfigureAwait(false);
                    if (!child.StdoutLines.Any(match))
                    {
                        throw new ChildFailedException(child);
                    }
                }

                if (Failed() is { } other)
                {
                    throw new ChildFailedException(other);
                }

                await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
            }
        }

        public void StopAll()
        {
            ChildProcess[] all;
            lock (_all)
            {
                all = [.. _all];
            }

            foreach (ChildProcess c in all)
            {
                c.Stop();
            }
        }

        public async ValueTask DisposeAsync()
        {
            AppDomain.CurrentDomain.ProcessExit -= OnExit;
            foreach (var registration in _signals)
            {
                registration.Dispose();
            }

            StopAll();
            foreach (ChildProcess c in _all)
            {
                await c.DisposeAsync().ConfigureAwait(false);
            }
        }

        private void OnExit(object? sender, EventArgs e) => StopAll();
    }

    /// <summary>One <c>fededge</c> child process with its output captured line by line.</summary>
    private sealed class ChildProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Lock _gate = new();
        private readonly List<string> _stdout = [];
        private string? _lastStderr;
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ChildProcess(string role, string name, string? parent, Process process)
        {
            Role = role;
            Name = name;
            Parent = parent;
            _process = process;
        }

        public string Role { get; }

        public string Name { get; }

        public string? Parent { get; }

        public int Pid { get; private set; }

        public bool StoppedByUs { get; private set; }

        public bool HasExited => _exited.Task.IsCompleted;

        public int ExitCode => _process.ExitCode;

        /// <summary>Completes once the process has exited and its output is read to the end.</summary>
        public Task Exited => _exited.Task;

        public IReadOnlyList<string> StdoutLines
        {
            get
            {
                lock (_gate)
                {
                    return [.. _stdout];
                }
            }
        }

        public string? LastStdoutLine
        {
            get
            {
                lock (_gate)
                {
                    return _stdout.Count == 0 ? null : _stdout[^1];
                }
            }
        }

        public string? LastStderrLine
        {
            get
            {
                lock (_gate)
                {
                    return _lastStderr;
                }
            }
        }

        /// <summary>Starts this same program (the apphost, or <c>dotnet fededge.dll</c> when run through dotnet) with <paramref name="arguments"/>.</summary>
        public static ChildProcess Start(string role, string name, string? parent, IReadOnlyList<string> arguments)
        {
            string host = Environment.ProcessPath ?? "dotnet";
            var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            {
                start.ArgumentList.Add(typeof(SimulationProcesses).Assembly.Location);
            }

            foreach (string a in arguments)
            {
                start.ArgumentList.Add(a);
            }

            start.Environment["DOTNET_NOLOGO"] = "1";
            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            var child = new ChildProcess(role, name, parent, process);
            var outDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var errDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    outDone.TrySetResult();
                    return;
                }

                lock (child._gate)
                {
                    child._stdout.Add(e.Data);
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    errDone.TrySetResult();
                    return;
                }

                if (!string.IsNullOrWhiteSpace(e.Data))
                {
                    lock (child._gate)
                    {
                        child._lastStderr = e.Data;
                    }
                }
            };
            process.Exited += (_, _) => exited.TrySetResult();
            process.Start();
            child.Pid = process.Id;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _ = Task.WhenAll(exited.Task, outDone.Task, errDone.Task).ContinueWith(_ => child._exited.TrySetResult(), TaskScheduler.Default);
            return child;
        }

        /// <summary>Kills the process (and anything it started) unless it has exited already.</summary>
        public void Stop()
        {
            try
            {
                if (!_process.HasExited)
                {
                    StoppedByUs = true;
                    _process.Kill(entireProcessTree: true);
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Exited meanwhile.
            }
        }

        public async ValueTask DisposeAsync()
        {
            Stop();
            try
            {
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Killed; its pipes will close with it.
            }

            _process.Dispose();
        }
    }
}
