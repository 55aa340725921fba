namespace FedEdge.Cli.Simulation;

/// <summary>What <c>fededge simulate</c> runs.</summary>
internal sealed record SimulationConfig
{
    public string Transport { get; init; } = "inproc";

    /// <summary>The live dashboard's monitor (<c>--dashboard</c>), or null.</summary>
    public FedEdge.Dashboard.FederationMonitor? Monitor { get; init; }

    /// <summary>The runs store the run is recorded in (<c>--runs</c>).</summary>
    public string RunsStore { get; init; } = Runs.RunRecorder.DefaultStore;

    public Uri? Broker { get; init; }

    /// <summary>
    /// <c>--insecure-plaintext</c>: mqtt and grpc run on plain-text listeners with per-device passwords or tokens instead
    /// of mutual TLS with device certificates (for tests that need it).
    /// </summary>
    public bool PlainText { get; init; }

    public int Rounds { get; init; } = 10;

    public string Strategy { get; init; } = "fedavg";

    /// <summary>The number f of Byzantine devices Krum, Multi-Krum and Bulyan tolerate (<c>--byzantine</c>); see <see cref="SimulationStrategy"/>.</summary>
    public int ByzantineCount { get; init; } = 1;

    /// <summary>Bucketing for the robust strategies (<c>--bucket-size</c>, <see cref="FedEdge.Aggregation.AggregationOptions.BucketSize"/>); 1 is off.</summary>
    public int BucketSize { get; init; } = 1;

    /// <summary>Pre-aggregation for the robust strategies (<c>--mixing nnm</c>, <see cref="FedEdge.Aggregation.AggregationOptions.PreAggregation"/>).</summary>
    public FedEdge.Aggregation.PreAggregation Mixing { get; init; }

    public string Model { get; init; } = "mlp";

    public string Trainer { get; init; } = "managed";

    public int Seed { get; init; } = 42;

    public required string DataDirectory { get; init; }

    /// <summary>The data set of <see cref="DataDirectory"/> (<c>--dataset</c>, or recognised from the headers).</summary>
    public DataSetKind DataSet { get; init; }

    public string OutDirectory { get; init; } = "fededge-out";

    public string? EvalDirectory { get; init; }

    public int LocalEpochs { get; init; } = 1;

    public int? LocalSteps { get; init; } = 20;

    public int BatchSize { get; init; } = 64;

    public float LearningRate { get; init; } = TrainingDefaults.LearningRate;

    public string Optimizer { get; init; } = "sgd";

    public float Momentum { get; init; } = TrainingDefaults.Momentum;

    public double TestFraction { get; init; } = 0.2;

    /// <summary>MEDNN's compression in the rounds (<c>--compress</c>): weight elimination, agreed pruning masks, sparse float16 on the wire.</summary>
    public bool Compress { get; init; }

    /// <summary>The update codec announced in every round task (<c>--codec</c>, normalised: f32, f16, int8, topk:FRACTION), or null for none (float32).</summary>
    public string? Codec { get; init; }

    /// <summary>With <see cref="Compress"/>: float16 training, micro-batches and compact optimiser state (<c>--train-memory saving</c>, the default).</summary>
    public bool TrainMemorySaving { get; init; } = true;

    /// <summary>With <see cref="Compress"/>: the first round whose mask prunes (<c>--prune-from</c>); earlier rounds train dense.</summary>
    public int PruneFromRound { get; init; } = MednnCompressionTrainer.DefaultPruneFromRound;

    /// <summary>With <see cref="Compress"/>: the coordinator's F1 at which the global model counts as learned; pruning starts the round after (<c>--prune-when-f1</c>).</summary>
    public double PruneWhenF1 { get; init; } = MednnCompressionTrainer.DefaultPruneWhenF1;

    /// <summary>Run every round with secure aggregation (<c>--secure-aggregation</c>).</summary>
    public bool SecureAggregation { get; init; }

    /// <summary>The Gaussian noise multiplier σ (<c>--dp-noise</c>), or null for no noise.</summary>
    public double? DpNoise { get; init; }

    /// <summary>The L2 clipping norm of each update's delta (<c>--dp-clip</c>), or null (1.0 when noise is on).</summary>
    public double? DpClip { get; init; }

    /// <summary>The ε budget at which training stops (<c>--dp-target-epsilon</c>), or null.</summary>
    public double? DpTargetEpsilon { get; init; }

    /// <summary>The folder of signed MUD files (<c>*.json</c> + <c>*.p7s</c>) used for admission (<c>--mud</c>).</summary>
    public required string MudDirectory { get; init; }

    /// <summary>The PEM trust anchors for MUD signatures (default: <c>demo-ca.cert.pem</c> in <see cref="MudDirectory"/>).</summary>
    public string? MudTrustAnchor { get; init; }

    /// <summary>Extra devices that try to join without a valid MUD profile (shown as refused with MUD's reasons).</summary>
    public IReadOnlyList<IntruderDevice> Intruders { get; init; } = [new("Unprofiled_IP_Camera", PresentsMudUrl: false), new("Tampered_Baby_Monitor", PresentsMudUrl: true)];

    /// <summary>Where each device's telemetry comes from (<c>--thermal</c>): host (this machine's sensors), simulated (a thermal model and governor per device) or off.</summary>
    public string Thermal { get; init; } = "host";

    /// <summary>flat (devices train, one coordinator aggregates), hierfavg (devices under edges, the cloud aggregates the edges) or model2 (trusted devices upload rows, edges train on them).</summary>
    public string Topology { get; init; } = "flat";

    /// <summary>Edges of a hierarchical topology.</summary>
    public int Edges { get; init; } = 2;

    /// <summary>With <c>--topology model2</c>: the devices marked trusted to upload their rows to their edge (<c>--trusted-device</c>); null trusts every device of the data folder (never the intruders).</summary>
    public IReadOnlyList<string>? TrustedDevices { get; init; }

    /// <summary>HierFAVG's k2: edge rounds per cloud round.</summary>
    public int EdgeRounds { get; init; } = 2;

    /// <summary>Faults injected on every link (<c>--faults</c>), or null for a loss-free network.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public FedEdge.Transport.Faults.FaultOptions? Faults { get; init; }

    /// <summary>The malicious behaviour of the attackers (<c>--attack</c>), or null for an attack-free run.</summary>
    public AttackSpec? Attack { get; init; }

    /// <summary>How many devices attack (<c>--attackers</c>).</summary>
    public int Attackers { get; init; }

    /// <summary>Each device file becomes this many virtual devices (<c>--split-devices</c>).</summary>
    public int SplitDevices { get; init; } = 1;

    /// <summary>The Dirichlet α of the split (<c>--split dirichlet:ALPHA</c>), or null for IID.</summary>
    public double? SplitAlpha { get; init; }

    /// <summary>The number of in-process validators co-signing each head (<c>--committee N</c>, 3f + 1); 0 for none.</summary>
    public int CommitteeSize { get; init; }

    /// <summary>Make the last validator <c>down</c> or <c>lying</c> (<c>--faulty-validator</c>), or null.</summary>
    public string? FaultyValidator { get; init; }

    /// <summary>Score devices, weigh and quarantine them by reputation (<c>--reputation</c>; on by default with <c>--attack</c>).</summary>
    public bool Reputation { get; init; }

    /// <summary>The fault spec as given, for the report.</summary>
    public string? FaultSpec => Faults?.ToString();
}

/// <summary>A device that tries to join the simulated federation and should be refused.</summary>
/// <param name="Id">Its device id.</param>
/// <param name="PresentsMudUrl">Whether it presents a MUD URL (its file is looked up in the MUD folder like any other).</param>
internal sealed record IntruderDevice(string Id, bool PresentsMudUrl);
