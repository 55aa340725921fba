using System.Diagnostics;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Security;
using FedEdge.Data;
using FedEdge.Devices;
using FedEdge.Metrics;
using FedEdge.Privacy;
using FedEdge.Torch;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli.Simulation;

/// <summary>One row of classification metrics.</summary>
internal sealed record MetricSet(double Accuracy, double Precision, double Recall, double F1, double Fpr)
{
    public static MetricSet From(ClassificationMetrics m) => new(m.Accuracy, m.Precision, m.Recall, m.F1, m.FalsePositiveRate);
}

internal sealed record RoundRow(long Round, int Participants, double? Loss, double? F1, long BytesUp, long BytesDown, double Seconds, double? Epsilon = null)
{
    /// <summary>Round tasks and updates sent again in this round because no acknowledgement came (lossy links).</summary>
    public long Resends { get; init; }

    /// <summary>Messages the injected faults dropped during this round.</summary>
    public long Lost { get; init; }

    /// <summary>Why the round failed, when it did.</summary>
    public string? Failure { get; init; }

    /// <summary>Each device's reputation score after this round (<c>--reputation</c>).</summary>
    public IReadOnlyDictionary<string, double> Reputation { get; init; } = new Dictionary<string, double>();

    /// <summary>The f the robust strategy ran the round with (krum, multikrum, bulyan), lower than <c>--byzantine</c> once quarantines shrink the round below the rule's bound.</summary>
    public int? ByzantineCount { get; init; }

    /// <summary>Devices this round quarantined.</summary>
    public IReadOnlyList<string> Quarantined { get; init; } = [];

    /// <summary>Devices whose score this round lowered (outlier or refused updates, missed rounds).</summary>
    public IReadOnlyList<string> Outliers { get; init; } = [];

    /// <summary>How each accepted update sat in the round (cosine with the aggregate's change, norm ratio, closest peer), when reputation or a ledger is on.</summary>
    public IReadOnlyList<FedEdge.Coordination.AcceptedUpdate> Updates { get; init; } = [];

    /// <summary>The transparency log's size after this round's signed head.</summary>
    public long? LedgerSize { get; init; }

    /// <summary>The committee's answer on this round's head (<c>--committee</c>).</summary>
    public FedEdge.Transparency.CommitteeResult? Committee { get; init; }

    /// <summary>Each device's temperature, bytes and training time in this round (<c>--thermal</c>).</summary>
    public IReadOnlyList<DeviceRoundRow> Devices { get; init; } = [];

    /// <summary>The global model's size as sparse float16 after this round (<c>--compress</c>).</summary>
    public long? ModelBytes { get; init; }

    /// <summary>The fraction of the global model's weights that are pruned (zero) after this round (<c>--compress</c>).</summary>
    public double? WeightSparsity { get; init; }

    /// <summary>The largest training memory of a device in this round (<c>--compress</c>): the trainer's weights, gradients, optimiser state and activation buffers.</summary>
    public long? TrainMemoryBytes { get; init; }

    /// <summary>Bytes per tier in a hierarchical topology (cloud, and edges with their devices); null when flat.</summary>
    public TierBytes? Tiers { get; init; }
}

internal sealed record DeviceRow(string Device, int TrainRows, int TestRows, int TestAttacks, MetricSet? Federated, MetricSet? Centralized, string? Note);

internal sealed record SimulationReport
{
    public required SimulationConfig Config { get; init; }

    public required IReadOnlyList<RoundRow> Rounds { get; init; }

    public required MetricSet Federated { get; init; }

    public required MetricSet Centralized { get; init; }

    public required IReadOnlyList<DeviceRow> Devices { get; init; }

    public required IReadOnlyList<RefusedDevice> Refused { get; init; }

    public MetricSet? EvalFederated { get; init; }

    public MetricSet? EvalCentralized { get; init; }

    public int EvalRows { get; init; }

    public required double FederatedSeconds { get; init; }

    public required double CentralizedSeconds { get; init; }

    public required double TotalSeconds { get; init; }

    public required string FinalHash { get; init; }

    public required string StopReason { get; init; }

    public required string NormalizerJson { get; init; }

    public double? Threshold { get; init; }

    /// <summary>The devices whose round-0 summaries made the federated normaliser.</summary>
    public IReadOnlyList<string> Round0Devices { get; init; } = [];

    /// <summary>The devices that attacked (<c>--attack</c>).</summary>
    public IReadOnlyList<string> Attackers { get; init; } = [];

    /// <summary>The transparency log's folder.</summary>
    public string? Ledger { get; init; }

    /// <summary>The federation CA that issued the devices' certificates (for <c>fededge ledger verify --ca</c>).</summary>
    public string? LedgerCa { get; init; }

    /// <summary>The log's last signed tree head.</summary>
    public FedEdge.Transparency.SignedTreeHead? LedgerHead { get; init; }

    /// <summary>The committee file (<c>--committee</c>), for <c>fededge ledger verify --committee</c>.</summary>
    public string? LedgerCommittee { get; init; }

    /// <summary>True when round 0 and the threshold went through secure aggregation (sketch sums only).</summary>
    public bool Round0Secure { get; init; }

    /// <summary>The edges and their devices in a hierarchical topology; empty when flat.</summary>
    public IReadOnlyList<EdgeNode> Tree { get; init; } = [];

    /// <summary>The devices' row uploads to their edges (<c>--topology model2</c>); empty otherwise.</summary>
    public IReadOnlyList<RowUploadRow> RowUploads { get; init; } = [];
}

/// <summary>Runs a whole federation on this machine: one worker per device file, an in-process transport.</summary>
internal static class Simulation
{
    private const string ProfileBase = "https://mud.fededge.example/nbaiot/";

    /// <summary>The MUD URL prefix of a data set's devices (<c>https://mud.fededge.example/&lt;dataset&gt;/</c>).</summary>
    internal static string ProfileBaseOf(DataSetKind kind) => kind == DataSetKind.Nbaiot ? ProfileBase : $"https://mud.fededge.example/{DataSets.Name(kind)}/";

    /// <summary>The federated task a data set's MUD files allow (<c>&lt;dataset&gt;-anomaly</c>).</summary>
    internal static string TaskOf(DataSetKind kind) => kind == DataSetKind.Nbaiot ? Task : DataSets.Name(kind) + "-anomaly";

    /// <summary>The federated task the shipped MUD files name in their fededge-federated-learning extension.</summary>
    internal const string Task = "nbaiot-anomaly";

    /// <summary>The coordinator's logical endpoint the shipped MUD files allow (tcp).</summary>
    internal const string CoordinatorHost = "coordinator.fededge.local";

    internal const int CoordinatorPort = 8883;

    public static async Task<SimulationReport> RunAsync(SimulationConfig config, Action<string> status, Action<RoundRow> onRound, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        status($"reading device files in {config.DataDirectory}");
        (DataSetKind kind, IReadOnlyList<DataPartition> files) = DataSets.ReadDirectory(config.DataDirectory, config.DataSet);
        config = config with { DataSet = kind };
        List<(DataPartition Partition, string BaseId)> virtualDevices = DeviceSplit.Split(files, config.SplitDevices, config.SplitAlpha, config.Seed);
        IReadOnlyList<DataPartition> partitions = [.. virtualDevices.Select(v => v.Partition)];
        Dictionary<string, string> baseOf = virtualDevices.ToDictionary(v => v.Partition.ClientId, v => v.BaseId, StringComparer.Ordinal);
        if (config.SplitDevices > 1)
        {
            status($"--split-devices {config.SplitDevices}: {files.Count} device files became {partitions.Count} devices ({(config.SplitAlpha is double a ? "Dirichlet α " + a.ToString(System.Globalization.CultureInfo.InvariantCulture) : "IID")})");
        }
        ModelBundle probe = CreateBundle(config);
        bool autoencoder = probe.Spec.IsAutoencoder;

        var splits = partitions.Select(p => (p.ClientId, Split: DataSplits.StratifiedSplit(p.Data, config.TestFraction, config.Seed))).ToList();

        // Round 0: every admitted device summarises its own training rows; the coordinator merges the summaries (no pooled
        // rows, and nothing from a device that admission refuses).
        var admitted = new HashSet<string>(StringComparer.Ordinal);
        var round0Admission = CreateAdmission(config);
        foreach (var s in splits)
        {
            var request = new FedEdge.Admission.AdmissionRequest { DeviceId = s.ClientId, MudUrl = new Uri(ProfileBaseOf(kind) + baseOf[s.ClientId] + ".json"), Task = TaskOf(kind), Model = config.Model };
            if ((await round0Admission.EvaluateAsync(request, cancellationToken).ConfigureAwait(false)).Admitted)
            {
                admitted.Add(s.ClientId);
            }
        }

        if (admitted.Count == 0)
        {
            throw new InvalidDataException($"MUD admission ({config.MudDirectory}) admits none of the {splits.Count} devices in {config.DataDirectory}, so no device can take part in round 0.");
        }

        if (!config.SecureAggregation)
        {
            status($"round 0: {admitted.Count} admitted devices report per-feature min, max, count and sums of their own training rows");
        }

        IReadOnlyList<FeatureSummary> summaries = splits.Where(s => admitted.Contains(s.ClientId)).Select(s => FeatureSummary.Of(s.ClientId, s.Split.Train)).ToList();
        MinMaxNormalizer normalizer;
        if (config.SecureAggregation)
        {
            // The coordinator sees only the secure sum of the devices' occupancy sketches, never one device's minima and maxima.
            status($"round 0 through secure aggregation: {admitted.Count} admitted devices send masked occupancy sketches; the coordinator learns only their sum");
            var sketches = splits.Where(s => admitted.Contains(s.ClientId)).Select(s => (s.ClientId, SecureRound0.Sketch(s.Split.Train))).ToList();
            normalizer = SecureRound0.NormalizerFrom(SecureRound0.Sum(sketches, clipRange: 1f, round: 1), partitions[0].Data.FeatureNames);
        }
        else
        {
            normalizer = FederatedPreprocessing.MergeNormalizer(summaries, partitions[0].Data.FeatureNames);
        }

        // The centralised baseline (the comparison) fits its normaliser on the pooled training rows, as a central system would.
        MinMaxNormalizer centralNormalizer = MinMaxNormalizer.Fit(Dataset.Concat(splits.Select(s => s.Split.Train).ToList()), clip: true);
        var devices = splits.Select(s => (Id: s.ClientId, Train: Prepare(normalizer, s.Split.Train, probe), Test: Prepare(normalizer, s.Split.Test, probe), CentralTest: Prepare(centralNormalizer, s.Split.Test, probe))).ToList();
        Dataset pooledTest = Dataset.Concat(devices.Select(d => d.Test).ToList());
        Dataset pooledCentralTest = Dataset.Concat(devices.Select(d => d.CentralTest).ToList());

        // Federated run.
        var fedClock = Stopwatch.StartNew();
        bool hierarchical = config.Topology is "hierfavg" or "model2";
        bool model2 = config.Topology == "model2";
        IReadOnlyList<EdgeNode> tree = hierarchical ? SimulationHierarchy.Deal([.. devices.Select(d => d.Id).Concat(config.Intruders.Select(i => i.Id))], config.Edges) : [];
        using var transports = new SimulationTransports(config.Transport, config.Broker, hierarchical ? tree.Select(e => e.Edge) : devices.Select(d => d.Id).Concat(config.Intruders.Select(i => i.Id)), config.Faults, config.OutDirectory, config.PlainText)
        {
            Codec = config.Compress ? FedEdge.Transport.Codecs.ParameterCodecKind.SparseFloat16 : FedEdge.Transport.Codecs.ParameterCodecKind.Float32,
        };
        var profiles = devices.ToDictionary(d => d.Id, d => new Uri(ProfileBaseOf(kind) + baseOf[d.Id] + ".json"), StringComparer.Ordinal);
        IReadOnlyList<string> attackers = Accountability.PickAttackers(config, devices.Select(d => d.Id).ToList());
        using var accountability = Accountability.Create(config, devices.Select(d => d.Id).Concat(config.Intruders.Select(i => i.Id)));
        using SimulationCommittee? committee = config.CommitteeSize > 0 ? SimulationCommittee.Create(config, File.ReadAllText(Path.Combine(accountability.LedgerDirectory, FedEdge.Transparency.FileTransparencyLog.KeyFile))) : null;
        var options = new CoordinatorOptions
        {
            Federation = "nbaiot-simulation",
            MaxRounds = config.Rounds,
            MinParticipants = 1,
            WindowSize = hierarchical ? tree.Count : Math.Max(1, devices.Count(d => admitted.Contains(d.Id) && (!autoencoder || d.Train.IndicesWithLabel(0).Count > 0))),
            WindowDuration = TimeSpan.FromSeconds(5),

            // A simulation runs for seconds: heartbeats and re-sends on a sub-second scale.
            HeartbeatInterval = TimeSpan.FromMilliseconds(250),
            MissedHeartbeats = 12,
            ResendDelay = TimeSpan.FromMilliseconds(150),
            MaxResendDelay = TimeSpan.FromMilliseconds(500),
            RoundTimeout = TimeSpan.FromMinutes(2),
            Seed = config.Seed,
            MonitorMetric = autoencoder ? "roc_auc" : "f1",
            HyperParameters = new TrainingHyperParameters { LocalEpochs = config.LocalEpochs, LocalIterations = config.LocalSteps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, Seed = config.Seed },
            UpdateCodec = config.Codec,
        };
        using var privacy = new SimulationPrivacy(config, options.WindowSize ?? devices.Count, devices.Max(d => (long)d.Train.Count));
        privacy.ConfigureCoordinator(options);
        IGlobalModelEvaluator evaluator = new PooledEvaluator(CreateBundle(config).Trainer, pooledTest);
        IAggregationStrategy strategy = SimulationStrategy.Create(config);

        // --compress: the coordinator decides from its evaluation when pruning starts and announces it in each round task;
        // it enforces the devices' agreed mask on every update and re-applies it to the aggregate.
        PrunedWeightsTransform? masks = null;
        if (CreateBundle(config).Trainer is MednnCompressionTrainer rule)
        {
            var s = new PruningSchedule(config.PruneFromRound, config.PruneWhenF1);
            options.TaskConfig = s.TaskConfig;
            evaluator = new SchedulingEvaluator(evaluator, s);
            masks = PrunedWeightsTransform.ForRounds((global, round) => rule.MaskFor(global, round, s.Announced(round)));
        }

        await using var coordinator = new Coordinator(
            Options.Create(options),
            transports.CreateCoordinator(),
            strategy,
            hierarchical ? new EdgeAdmission([.. tree.Select(e => e.Edge)]) : CreateAdmission(config),
            roundProtocol: privacy.RoundProtocol,
            aggregateTransforms: masks is null ? privacy.AggregateTransforms : [.. privacy.AggregateTransforms, masks],
            updateTransforms: masks is null ? null : [masks],
            accountant: privacy.Accountant,
            evaluator: evaluator,
            audit: new FedEdge.Audit.FileAuditLog(Path.Combine(config.OutDirectory, "audit.log")),
            // gRPC runs over mutual TLS with the transports' PKI: updates are signed by the keys of the connections' certificates.
            // In a hierarchy the cloud's workers are the edges, which hold no device certificate: the cloud does not ask for one.
            credentials: hierarchical ? null : transports.CoordinatorCredentials is null ? accountability.Coordinator : transports.CoordinatorCredentials,
            ledger: accountability.Ledger,
            reputation: accountability.Reputation,
            committee: committee?.Committee);
        using IDisposable? watching = config.Monitor?.Attach(coordinator);
        await coordinator.StartAsync(probe.InitialParameters, cancellationToken).ConfigureAwait(false);
        if (transports.Pki is { } pki)
        {
            status($"mutual TLS: federation CA, CRL and key in {pki.Directory}; device identity from certificates, signed updates and signed global models");
        }

        IReadOnlyList<RefusedDevice> refusedAtHandshake = await transports.DemonstrateRefusalsAsync(cancellationToken).ConfigureAwait(false);

        var workers = new List<Worker>();
        await using var hardware = new SimulationHardware(config.Thermal);
        SimulationHierarchy? hierarchy = null;
        SimulationModel2? edgesWithRows = null;
        try
        {
            var compressionTrainers = new Dictionary<string, MednnCompressionTrainer>(StringComparer.Ordinal);
            if (model2)
            {
                // Model-2: devices upload their normalised rows to their edge over TLS; edges keep trusted devices' rows and train on them.
                IReadOnlyCollection<string> trusted = config.TrustedDevices ?? [.. devices.Select(d => d.Id)];
                Dataset RowsOf(string id)
                {
                    int index = devices.FindIndex(d => d.Id == id);
                    var d = devices[index < 0 ? 0 : index];
                    Dataset rows = index < 0 ? d.Test : d.Train; // An intruder offers rows it has no business holding.
                    return autoencoder ? rows.Select(rows.IndicesWithLabel(0)) : rows;
                }

                edgesWithRows = await SimulationModel2.StartAsync(tree, trusted, RowsOf, devices[0].Train.FeatureCount, options, transports.CreateWorker, () => CreateBundle(config).Trainer, status, cancellationToken).ConfigureAwait(false);
                foreach (Worker edgeWorker in edgesWithRows.EdgeWorkers)
                {
                    await edgeWorker.StartAsync(cancellationToken).ConfigureAwait(false);
                    status($"{edgeWorker.DeviceId}: {edgeWorker.State}{(edgeWorker.StateReason is null ? string.Empty : " (" + edgeWorker.StateReason + ")")}");
                }
            }
            else if (hierarchical)
            {
                bool Trainable(string id) => devices.Any(d => d.Id == id && admitted.Contains(d.Id) && (!autoencoder || d.Train.IndicesWithLabel(0).Count > 0));
                Worker Device(string id, FedEdge.Messaging.IWorkerTransport transport)
                {
                    int index = devices.FindIndex(d => d.Id == id);
                    if (index < 0)
                    {
                        // An intruder: MUD admission at its edge refuses it and it never sees a model.
                        IntruderDevice intruder = config.Intruders.First(i => i.Id == id);
                        var intruderOptions = new WorkerOptions { DeviceId = id, MudUrl = intruder.PresentsMudUrl ? new Uri(ProfileBaseOf(kind) + id + ".json") : null, Task = TaskOf(kind), Model = config.Model };
                        return new Worker(Options.Create(options.ConfigureWorkerLiveness(intruderOptions)), transport, CreateBundle(config).Trainer, new LocalData(devices[0].Test, null));
                    }

                    var d = devices[index];
                    Dataset local = autoencoder ? d.Train.Select(d.Train.IndicesWithLabel(0)) : d.Train;
                    var deviceOptions = new WorkerOptions { DeviceId = d.Id, MudUrl = profiles[d.Id], Task = TaskOf(kind), Model = config.Model, Telemetry = hardware.TelemetryFor(d.Id, index, devices.Count) };
                    return new Worker(
                        Options.Create(options.ConfigureWorkerLiveness(deviceOptions)),
                        transport,
                        hardware.Wrap(d.Id, CreateBundle(config).Trainer),
                        new LocalData(local, autoencoder ? "no benign rows to train the autoencoder on (attack-only device)" : null),
                        hardware.GovernorFor(d.Id));
                }

                hierarchy = await SimulationHierarchy.StartAsync(
                    tree,
                    options,
                    config.EdgeRounds,
                    () => CreateAdmission(config),
                    () => SimulationStrategy.Create(config),
                    () => CreateBundle(config).Trainer,
                    probe.InitialParameters,
                    transports.CreateWorker,
                    Device,
                    edge => tree.First(e => e.Edge == edge).Devices.Count(Trainable),
                    cancellationToken).ConfigureAwait(false);
                workers.AddRange(hierarchy.DeviceWorkers);
                foreach (Worker w in workers)
                {
                    await w.StartAsync(cancellationToken).ConfigureAwait(false);
                    status($"{w.DeviceId}: {w.State}{(w.StateReason is null ? string.Empty : " (" + w.StateReason + ")")}");
                }

                foreach (Worker edgeWorker in hierarchy.EdgeWorkers)
                {
                    await edgeWorker.StartAsync(cancellationToken).ConfigureAwait(false);
                    status($"{edgeWorker.DeviceId}: {edgeWorker.State} ({string.Join(", ", tree.First(e => e.Edge == edgeWorker.DeviceId).Devices)})");
                }
            }

            foreach (var (d, index) in devices.Select((d, i) => (d, i)).Where(_ => !hierarchical))
            {
                ITrainer deviceTrainer = CreateBundle(config).Trainer;
                if (deviceTrainer is MednnCompressionTrainer compression)
                {
                    compressionTrainers[d.Id] = compression;
                }

                Dataset local = autoencoder ? d.Train.Select(d.Train.IndicesWithLabel(0)) : d.Train;
                var workerOptions = new WorkerOptions { DeviceId = d.Id, MudUrl = profiles[d.Id], Task = TaskOf(kind), Model = config.Model, Telemetry = hardware.TelemetryFor(d.Id, index, devices.Count) };
                IUpdateTransform[] transforms = privacy.ConfigureWorker(workerOptions);
                if (config.Attack is { } attack && attackers.Contains(d.Id))
                {
                    deviceTrainer = new AttackingTrainer(deviceTrainer, attack, config.Seed + index);
                }

                var worker = new Worker(
                    Options.Create(options.ConfigureWorkerLiveness(workerOptions)),
                    transports.CreateWorker(d.Id),
                    hardware.Wrap(d.Id, deviceTrainer),
                    new LocalData(local, autoencoder ? "no benign rows to train the autoencoder on (attack-only device)" : null),
                    hardware.GovernorFor(d.Id),
                    privacy.WorkerProtocol,
                    transforms,
                    credentials: transports.CoordinatorCredentials is null ? accountability.WorkerCredentials(d.Id) : transports.WorkerCredentials(d.Id));
                workers.Add(worker);
            }

            foreach (IntruderDevice intruder in config.Intruders.Where(_ => !hierarchical))
            {
                // A device without a valid MUD profile: MUD admission refuses it and it never sees a model.
                Uri? intruderMud = intruder.PresentsMudUrl ? new Uri(ProfileBaseOf(kind) + intruder.Id + ".json") : null;
                var intruderOptions = new WorkerOptions { DeviceId = intruder.Id, MudUrl = intruderMud, Task = TaskOf(kind), Model = config.Model };
                IUpdateTransform[] intruderTransforms = privacy.ConfigureWorker(intruderOptions);
                workers.Add(new Worker(
                    Options.Create(options.ConfigureWorkerLiveness(intruderOptions)),
                    transports.CreateWorker(intruder.Id),
                    CreateBundle(config).Trainer,
                    new LocalData(devices[0].Test, null),
                    roundProtocol: privacy.WorkerProtocol,
                    updateTransforms: intruderTransforms,
                    credentials: transports.CoordinatorCredentials is null ? accountability.WorkerCredentials(intruder.Id) : transports.WorkerCredentials(intruder.Id)));
            }

            foreach (Worker w in workers.Where(_ => !hierarchical))
            {
                await w.StartAsync(cancellationToken).ConfigureAwait(false);
                status($"{w.DeviceId}: {w.State}{(w.StateReason is null ? string.Empty : " (" + w.StateReason + ")")}");
            }

            var rounds = new List<RoundRow>();
            string stop = "round budget reached";
            long resentBefore = 0, lostBefore = 0;
            await foreach (RoundResult r in coordinator.RunAsync(cancellationToken).ConfigureAwait(false))
            {
                long resent = workers.Sum(w => (long)w.UpdateResends);
                long lost = config.Faults?.Counters.Dropped ?? 0;
                double? quality = r.Evaluation.TryGetValue(options.MonitorMetric, out double f) ? f : null;
                IReadOnlyList<DeviceRoundRow> roundDevices = hardware.Account(r, workers, coordinator.Devices)
                    .Select(d => compressionTrainers.TryGetValue(d.Device, out MednnCompressionTrainer? t) && t.TakeTrainMemory() is long bytes ? d with { TrainMemoryBytes = bytes } : d)
                    .ToList();
                var row = new RoundRow(r.Round, r.Participants, r.TrainingLoss, quality, r.BytesUp, r.BytesDown, r.Duration.TotalSeconds, r.Epsilon)
                {
                    Devices = hierarchical ? [] : roundDevices,
                    TrainMemoryBytes = hierarchical || roundDevices.Count == 0 ? null : roundDevices.Max(d => d.TrainMemoryBytes),
                    Tiers = hierarchy?.Account(r),
                    Resends = r.TaskResends + resent - resentBefore,
                    Lost = lost - lostBefore,
                    Failure = r.Completed ? null : r.FailureReason,
                    ModelBytes = config.Compress ? MednnCompressionTrainer.SparseBytes(coordinator.GlobalParameters) : null,
                    Reputation = r.ReputationScores,
                    Quarantined = [.. r.ReputationChanges.Where(c => c.Quarantined).Select(c => c.DeviceId)],
                    Outliers = [.. r.ReputationChanges.Where(c => c.Score < c.PreviousScore).Select(c => c.DeviceId)],
                    Updates = r.Updates,
                    ByzantineCount = r.ByzantineCount,
                    LedgerSize = r.LedgerHead?.Size,
                    Committee = r.Committee,
                    WeightSparsity = config.Compress ? MednnCompressionTrainer.WeightSparsity(coordinator.GlobalParameters) : null,
                };
                resentBefore = resent;
                lostBefore = lost;
                rounds.Add(row);
                config.Monitor?.RecordRound(r, row.Devices.Select(d => new DeviceRoundUsage { DeviceId = d.Device, BytesUp = d.BytesUp, BytesDown = d.BytesDown, TrainingTime = TimeSpan.FromSeconds(d.TrainSeconds), TemperatureCelsius = d.TemperatureCelsius, Throttled = d.Throttled, GovernorNote = d.Note }));
                onRound(row);
                if (!r.Completed)
                {
                    status($"round {r.Round} failed: {r.FailureReason}");
                }

                if (r.IsLast)
                {
                    stop = r.StopReason ?? stop;
                }
            }

            fedClock.Stop();
            ParameterSet federated = coordinator.GlobalParameters.Clone();

            // Centralised baseline: the same model trained on the pooled training data for as many epochs as a device saw.
            status("training the centralised baseline on the pooled training data");
            var centralClock = Stopwatch.StartNew();
            ModelBundle central = CreateBundle(config with { Compress = false });
            Dataset pooledTrain = Dataset.Concat(splits.Select(s => Prepare(centralNormalizer, s.Split.Train, probe)).ToList());
            Dataset centralData = autoencoder ? pooledTrain.Select(pooledTrain.IndicesWithLabel(0)) : pooledTrain;
            TrainingResult centralResult = await central.Trainer.TrainAsync(
                new TrainingRequest
                {
                    GlobalParameters = central.InitialParameters,
                    Data = centralData,
                    HyperParameters = options.HyperParameters with
                    {
                        LocalEpochs = config.Rounds * config.LocalEpochs,
                        LocalIterations = config.LocalSteps is int k ? config.Rounds * k * devices.Count * (hierarchical && !model2 ? config.EdgeRounds : 1) : null,
                    },
                },
                cancellationToken).ConfigureAwait(false);
            centralClock.Stop();

            var scorer = new Scorer(CreateBundle(config).Trainer, autoencoder);
            if (autoencoder)
            {
                // Federated threshold: each device scores its own benign training rows and reports count, sum and sum of squares.
                var errors = new List<ErrorSummary>();
                var secureErrors = new List<(string, float[])>();
                foreach (var d in devices.Where(d => admitted.Contains(d.Id)))
                {
                    Dataset benign = d.Train.Select(d.Train.IndicesWithLabel(0));
                    if (benign.Count > 0)
                    {
                        float[] own = (await scorer.Trainer.EvaluateAsync(federated, benign, cancellationToken).ConfigureAwait(false)).Scores;
                        errors.Add(ErrorSummary.Of(d.Id, own));
                        secureErrors.Add((d.Id, SecureRound0.ErrorInput(own)));
                    }
                }

                scorer.FederatedThreshold = config.SecureAggregation
                    ? SecureRound0.ThresholdFrom(SecureRound0.Sum(secureErrors, clipRange: 1f, round: 2)).Value
                    : FederatedPreprocessing.MergeThreshold(errors).Value;
                Dataset pooledBenign = pooledTrain.Select(pooledTrain.IndicesWithLabel(0));
                scorer.CentralThreshold = AnomalyThreshold.Fit((await scorer.Trainer.EvaluateAsync(centralResult.Parameters, pooledBenign, cancellationToken).ConfigureAwait(false)).Scores).Value;
            }

            MetricSet fedMetrics = await scorer.ScoreAsync(federated, pooledTest, central: false, cancellationToken).ConfigureAwait(false);
            MetricSet centralMetrics = await scorer.ScoreAsync(centralResult.Parameters, pooledCentralTest, central: true, cancellationToken).ConfigureAwait(false);
            var deviceRows = new List<DeviceRow>();
            foreach (var d in devices)
            {
                int attacks = d.Test.IndicesWithLabel(1).Count;
                Worker? w = workers.FirstOrDefault(x => x.DeviceId == d.Id);
                RowUploadRow? upload = edgesWithRows?.Uploads.FirstOrDefault(u => u.Device == d.Id);
                deviceRows.Add(new DeviceRow(
                    d.Id,
                    d.Train.Count,
                    d.Test.Count,
                    attacks,
                    await scorer.ScoreAsync(federated, d.Test, central: false, cancellationToken).ConfigureAwait(false),
                    await scorer.ScoreAsync(centralResult.Parameters, d.CentralTest, central: true, cancellationToken).ConfigureAwait(false),
                    upload is { Accepted: false } ? "rows refused: " + upload.Reason : w?.State == WorkerState.NotReady ? w.StateReason : null));
            }

            MetricSet? evalFed = null, evalCentral = null;
            int evalRows = 0;
            if (config.EvalDirectory is not null)
            {
                status($"scoring the models on every device file in {config.EvalDirectory}");
                Dataset evalRaw = Dataset.Concat(DataSets.ReadDirectory(config.EvalDirectory, kind).Partitions.Select(p => p.Data).ToList());
                evalRows = evalRaw.Count;
                evalFed = await scorer.ScoreAsync(federated, Prepare(normalizer, evalRaw, probe), central: false, cancellationToken).ConfigureAwait(false);
                evalCentral = await scorer.ScoreAsync(centralResult.Parameters, Prepare(centralNormalizer, evalRaw, probe), central: true, cancellationToken).ConfigureAwait(false);
            }

            return new SimulationReport
            {
                Config = config,
                Rounds = rounds,
                Federated = fedMetrics,
                Centralized = centralMetrics,
                Devices = deviceRows,
                Refused = hierarchy is null ? [.. refusedAtHandshake, .. coordinator.RefusedDevices] : [.. refusedAtHandshake, .. hierarchy.Refused],
                Tree = tree,
                RowUploads = edgesWithRows?.Uploads ?? [],
                EvalFederated = evalFed,
                EvalCentralized = evalCentral,
                EvalRows = evalRows,
                FederatedSeconds = fedClock.Elapsed.TotalSeconds,
                CentralizedSeconds = centralClock.Elapsed.TotalSeconds,
                TotalSeconds = total.Elapsed.TotalSeconds,
                FinalHash = federated.ComputeHash(),
                StopReason = stop,
                NormalizerJson = normalizer.ToJson(),
                Round0Devices = summaries.Select(x => x.Device).ToList(),
                Round0Secure = config.SecureAggregation,
                Threshold = scorer.FederatedThreshold,
                Attackers = attackers,
                Ledger = accountability.LedgerDirectory,
                // No device signs in a hierarchy's cloud (its workers are the edges), so there is no CA to check them against.
                // Secure aggregation: devices sign no update (the coordinator never sees one to check), so no --ca.
                LedgerCa = hierarchical || config.SecureAggregation ? null : transports.CoordinatorCredentials is null ? accountability.CaPath : Path.Combine(config.OutDirectory, "pki", "ca.pem"),
                LedgerHead = accountability.Ledger.Head,
                LedgerCommittee = committee?.FilePath,
            };
        }
        finally
        {
            if (hierarchy is not null)
            {
                await hierarchy.DisposeAsync().ConfigureAwait(false);
            }

            if (edgesWithRows is not null)
            {
                await edgesWithRows.DisposeAsync().ConfigureAwait(false);
            }

            foreach (Worker w in workers)
            {
                await w.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public static ModelBundle CreateBundle(SimulationConfig config)
    {
        NetworkSpec spec = DataSetModels.Spec(config.Model, config.DataSet);
        IReadOnlyList<string>? subset = ModelCatalog.FeatureSubsetOf(spec);
        return config.Trainer switch
        {
            "managed" when config.Compress => new ModelBundle(spec, new MednnCompressionTrainer(spec, new ManagedTrainerOptions { Optimizer = Optimizer(config), Momentum = config.Momentum }, config.TrainMemorySaving, pruneFromRound: config.PruneFromRound), spec.InitializeParameters(config.Seed), subset),
            "managed" => new ModelBundle(spec, new ManagedTrainer(spec, new ManagedTrainerOptions { Optimizer = Optimizer(config), Momentum = config.Momentum }), spec.InitializeParameters(config.Seed), subset),
            "torch" when config.Compress => throw new ArgumentException("--compress trains with the managed trainer (weight elimination and masks); drop --trainer torch."),
            "torch" => new ModelBundle(spec, new TorchTrainer(TorchModels.Create(spec), new TorchTrainerOptions { Optimizer = Optimizer(config), Momentum = config.Momentum, Target = TorchModels.TargetOf(spec) }), spec.InitializeParameters(config.Seed), subset),
            _ => throw new ArgumentException($"Unknown trainer '{config.Trainer}'; use managed or torch."),
        };
    }

    /// <summary>RFC 8520 admission: signed MUD files from the MUD folder, verified against its demo CA at the current time.</summary>
    private static FedEdge.Mud.Admission.MudAdmissionPolicy CreateAdmission(SimulationConfig config)
        => FedEdge.Mud.Admission.MudAdmissionPolicy.FromDirectory(config.MudDirectory, config.MudTrustAnchor ?? Path.Combine(config.MudDirectory, "demo-ca.cert.pem"), CoordinatorHost, CoordinatorPort);

    private static OptimizerKind Optimizer(SimulationConfig config) => config.Optimizer switch
    {
        "sgd" => OptimizerKind.Sgd,
        "adam" => OptimizerKind.Adam,
        _ => throw new ArgumentException($"Unknown optimiser '{config.Optimizer}'; use sgd or adam."),
    };

    private static Dataset Prepare(MinMaxNormalizer normalizer, Dataset data, ModelBundle bundle)
    {
        Dataset scaled = normalizer.Transform(data);
        return bundle.FeatureSubset is null ? scaled : scaled.SelectFeatures(bundle.FeatureSubset);
    }

    /// <summary>A device's local rows; refuses to load with a reason when the device cannot train this model.</summary>
    private sealed class LocalData(Dataset data, string? reasonWhenEmpty) : ILocalDataSource
    {
        public ValueTask<Dataset> LoadAsync(CancellationToken cancellationToken = default) =>
            data.Count == 0 && reasonWhenEmpty is not null
                ? throw new InvalidDataException(reasonWhenEmpty)
                : ValueTask.FromResult(data);
    }

    /// <summary>Scores each round's global model on the pooled held-out split.</summary>
    private sealed class PooledEvaluator(ITrainer trainer, Dataset test) : IGlobalModelEvaluator
    {
        public async ValueTask<IReadOnlyDictionary<string, double>> EvaluateAsync(ParameterSet parameters, long round, CancellationToken cancellationToken = default)
        {
            EvaluationResult result = await trainer.EvaluateAsync(parameters, test, cancellationToken).ConfigureAwait(false);
            return result.Metrics;
        }
    }

    /// <summary>Turns scores into classification metrics: probability ≥ 0.5 for classifiers, error above the benign threshold for autoencoders.</summary>
    private sealed class Scorer(ITrainer trainer, bool autoencoder)
    {
        public ITrainer Trainer => trainer;

        /// <summary>The federated model's threshold, merged from per-device error statistics.</summary>
        public double? FederatedThreshold { get; set; }

        /// <summary>The centralised baseline's threshold, fitted on the pooled benign training rows.</summary>
        public double? CentralThreshold { get; set; }

        public async Task<MetricSet> ScoreAsync(ParameterSet parameters, Dataset data, bool central, CancellationToken ct)
        {
            EvaluationResult result = await trainer.EvaluateAsync(parameters, data, ct).ConfigureAwait(false);
            double threshold = autoencoder ? (central ? CentralThreshold : FederatedThreshold) ?? 0.5 : 0.5;
            return MetricSet.From(ClassificationMetrics.Compute(result.Scores, data.Labels, threshold));
        }
    }
}

/// <summary>Liveness settings a worker shares with its coordinator.</summary>
internal static class LivenessSettings
{
    /// <summary>Copies the coordinator's heartbeat interval and re-send delays into <paramref name="worker"/>.</summary>
    public static WorkerOptions ConfigureWorkerLiveness(this CoordinatorOptions coordinator, WorkerOptions worker)
    {
        worker.HeartbeatInterval = coordinator.HeartbeatInterval;
        worker.ResendDelay = coordinator.ResendDelay;
        worker.MaxResendDelay = coordinator.MaxResendDelay;
        return worker;
    }
}
