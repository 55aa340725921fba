using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// MEDNN's method inside the federation (<c>--model mednn --compress</c>). Each round, every device derives the pruning
/// mask from the global model it received and the round's number. Both are the same for every device, so the masks
/// agree without being sent. Rounds before <see cref="PruneFromRound"/> prune nothing: the model first learns dense
/// (pruning the random initial weights left a random tenth of the network to learn from, and the model learned late).
/// From that round the mask prunes the smallest-magnitude weights up to a sparsity that grows by
/// <see cref="StepPerRound"/> each round (computed from the global model's own zeros) until it reaches
/// <see cref="TargetSparsity"/>. A pruned weight is 0 in the global model, so it stays the smallest and stays pruned;
/// the coordinator enforces the same mask on updates and on the aggregate (<see cref="PrunedWeightsTransform"/>).
/// The device trains only the surviving weights, with Weigend's weight-elimination penalty (from that round) pushing the
/// small ones towards zero. Updates and global models travel as sparse float16 (bitmap of survivors plus their float16
/// values). With <c>saveMemory</c> (simulate's <c>--train-memory saving</c>, the default) the device trains with
/// float16 parameters and gradients (float32 arithmetic), in micro-batches of <see cref="MicroBatchRows"/> rows, and
/// keeps optimiser state for the surviving weights only.
/// </summary>
internal sealed class MednnCompressionTrainer(NetworkSpec spec, ManagedTrainerOptions options, bool saveMemory = false, double targetSparsity = 0.95, double stepPerRound = 0.3, long pruneFromRound = 3) : ITrainer
{
    /// <summary>The first round that prunes, unless the constructor is given another.</summary>
    public const int DefaultPruneFromRound = 3; // the constructor's default too

    /// <summary>The coordinator's F1 at which the global model counts as learned and pruning may start (simulate's <c>--prune-when-f1</c> default).</summary>
    public const double DefaultPruneWhenF1 = 0.95;

    /// <summary>Rows per micro-batch when saving memory.</summary>
    public const int MicroBatchRows = 8;

    private readonly ManagedTrainer _evaluator = new(spec, options);
    private long _lastTrainMemory = -1;

    /// <summary>The trainer's memory in the last training since the previous call (weights, gradients, state, activations), or null.</summary>
    public long? TakeTrainMemory()
    {
        long bytes = Interlocked.Exchange(ref _lastTrainMemory, -1);
        return bytes < 0 ? null : bytes;
    }

    /// <summary>The weight sparsity the schedule ends at.</summary>
    public double TargetSparsity => targetSparsity;

    /// <summary>How much the sparsity grows per round.</summary>
    public double StepPerRound => stepPerRound;

    /// <summary>The first round whose mask prunes; earlier rounds train dense.</summary>
    public long PruneFromRound => pruneFromRound;

    public ParameterLayout Layout => _evaluator.Layout;

    /// <summary>The fraction of weight values (tensors <c>*.weight</c>) that are exactly zero.</summary>
    public static double WeightSparsity(ParameterSet parameters)
    {
        long zeros = 0, total = 0;
        for (int t = 0; t < parameters.Layout.Tensors.Count; t++)
        {
            if (!parameters.Layout.Tensors[t].Name.EndsWith(".weight", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (float v in parameters.GetTensor(t))
            {
                total++;
                zeros += v == 0 ? 1 : 0;
            }
        }

        return total == 0 ? 0 : (double)zeros / total;
    }

    /// <summary>The size of <paramref name="parameters"/> as sparse float16: a bitmap of ⌈n / 8⌉ bytes plus 2 bytes per non-zero value.</summary>
    public static long SparseBytes(ParameterSet parameters)
    {
        long nonZero = 0;
        foreach (float v in parameters.Values)
        {
            nonZero += v != 0 ? 1 : 0;
        }

        return ((parameters.Length + 7) / 8) + (2 * nonZero);
    }

    /// <summary>
    /// The round task's configuration key by which the coordinator announces the first pruning round: a round number,
    /// or <see cref="NotYet"/> while the global model has not learned. Every device of a round reads the same value,
    /// so the masks agree.
    /// </summary>
    public const string PruneFromKey = "mednn.prune_from";

    /// <summary>The <see cref="PruneFromKey"/> value meaning "do not prune yet".</summary>
    public const string NotYet = "not-yet";

    /// <summary>
    /// Whether round <paramref name="round"/> prunes: as the coordinator announced in <paramref name="config"/>
    /// (<see cref="PruneFromKey"/>), or, when it announced nothing, from <see cref="PruneFromRound"/>; without a round
    /// number (outside a federation) always.
    /// </summary>
    public bool Prunes(long? round, IReadOnlyDictionary<string, string>? config)
    {
        if (round is not long r)
        {
            return true;
        }

        if (config is not null && config.TryGetValue(PruneFromKey, out string? announced))
        {
            return long.TryParse(announced, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long from) && r >= from;
        }

        return r >= pruneFromRound;
    }

    /// <summary>
    /// The mask a device uses in round <paramref name="round"/> whose global model is <paramref name="global"/>: nothing
    /// pruned while <see cref="Prunes"/> says no; otherwise the growing schedule.
    /// </summary>
    public PruningMask MaskFor(ParameterSet global, long? round, IReadOnlyDictionary<string, string>? config = null)
    {
        ArgumentNullException.ThrowIfNull(global);
        if (!Prunes(round, config))
        {
            return PruningMask.FromSmallestWeights(global, 0);
        }

        double next = Math.Min(targetSparsity, WeightSparsity(global) + stepPerRound);
        return PruningMask.FromSmallestWeights(global, Math.Min(next, 0.999));
    }

    public async ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        PruningMask mask = MaskFor(request.GlobalParameters, request.Round, request.Config);
        ParameterSet start = request.GlobalParameters.Clone();
        mask.Apply(start);
        bool pruning = Prunes(request.Round, request.Config);
        ManagedTrainerOptions local = options with { Mask = mask, WeightElimination = pruning ? new WeightEliminationOptions() : null };
        TrainingRequest run = request with { GlobalParameters = start };
        if (saveMemory)
        {
            local = local with { Precision = ParameterPrecision.Float16, CompactOptimizerState = true };
            TrainingHyperParameters hp = request.HyperParameters;
            run = run with { HyperParameters = hp with { MicroBatchSize = Math.Min(hp.MicroBatchSize ?? MicroBatchRows, MicroBatchRows) } };
        }

        TrainingResult result = await new ManagedTrainer(spec, local).TrainAsync(run, cancellationToken).ConfigureAwait(false);
        if (result.Metrics.TryGetValue("buffer_bytes", out double bytes))
        {
            Interlocked.Exchange(ref _lastTrainMemory, (long)bytes);
        }

        var metrics = new Dictionary<string, double>(result.Metrics) { ["weight_sparsity"] = mask.Sparsity };
        return result with { Metrics = metrics };
    }

    public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, Dataset data, CancellationToken cancellationToken = default) =>
        _evaluator.EvaluateAsync(parameters, data, cancellationToken);
}

/// <summary>
/// The coordinator's side of MEDNN's pruning schedule: pruning starts in the round after the coordinator's evaluation
/// of the global model first reaches <paramref name="learnedF1"/> (the model has learned), and not before
/// <paramref name="earliest"/>. The decision travels in every round task (<see cref="MednnCompressionTrainer.PruneFromKey"/>),
/// and the coordinator's own mask enforcement reads what it announced for that round, so devices and coordinator agree.
/// </summary>
internal sealed class PruningSchedule(long earliest, double learnedF1)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<long, string> _announced = [];
    private long? _start;

    /// <summary>The first pruning round, once decided.</summary>
    public long? StartRound
    {
        get
        {
            lock (_gate)
            {
                return _start;
            }
        }
    }

    /// <summary>The F1 on the coordinator's evaluation that counts as "learned".</summary>
    public double LearnedF1 => learnedF1;

    /// <summary>Takes the coordinator's evaluation of round <paramref name="round"/>'s new global model.</summary>
    public void Observe(long round, IReadOnlyDictionary<string, double> metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        lock (_gate)
        {
            if (_start is null && metrics.TryGetValue("f1", out double f1) && f1 >= learnedF1)
            {
                _start = Math.Max(round + 1, earliest);
            }
        }
    }

    /// <summary>The round task's entries for round <paramref name="round"/> (what the coordinator announces), recorded.</summary>
    public IReadOnlyDictionary<string, string> TaskConfig(long round)
    {
        lock (_gate)
        {
            string value = _start is long s ? s.ToString(System.Globalization.CultureInfo.InvariantCulture) : MednnCompressionTrainer.NotYet;
            _announced[round] = value;
            return new Dictionary<string, string>(StringComparer.Ordinal) { [MednnCompressionTrainer.PruneFromKey] = value };
        }
    }

    /// <summary>What was announced for round <paramref name="round"/> (the same entries its devices trained with).</summary>
    public IReadOnlyDictionary<string, string> Announced(long round)
    {
        lock (_gate)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal) { [MednnCompressionTrainer.PruneFromKey] = _announced.GetValueOrDefault(round, MednnCompressionTrainer.NotYet) };
        }
    }
}

/// <summary>The coordinator's evaluator, also telling the pruning schedule how far the global model has learned.</summary>
internal sealed class SchedulingEvaluator(FedEdge.Coordination.IGlobalModelEvaluator inner, PruningSchedule schedule) : FedEdge.Coordination.IGlobalModelEvaluator
{
    public async ValueTask<IReadOnlyDictionary<string, double>> EvaluateAsync(ParameterSet parameters, long round, CancellationToken cancellationToken = default)
    {
        IReadOnlyDictionary<string, double> metrics = await inner.EvaluateAsync(parameters, round, cancellationToken).ConfigureAwait(false);
        schedule.Observe(round, metrics);
        return metrics;
    }
}

/// <summary>The simulate command's <c>--compress</c> rules, kept out of the option parsing.</summary>
internal static class CompressionOptions
{
    /// <summary>The transport to use: <c>--compress</c> without <c>--transport</c> means mqtt, whose byte counts are of the encoded messages.</summary>
    public static string? Transport(string? transport, bool compress) => compress && transport is null ? "mqtt" : transport;

    /// <summary>Why the flags do not fit together, or null.</summary>
    public static string? Problem(bool compress, string transport, string trainer) =>
        !compress ? null
        : transport == "inproc" ? "--compress measures the encoded bytes on the wire; use --transport mqtt or grpc (inproc does not encode)."
        : trainer != "managed" ? "--compress trains with the managed trainer (weight elimination and masks); drop --trainer torch."
        : null;

    /// <summary>The round line's compression part: the global model's sparse size and weight sparsity.</summary>
    public static string Describe(RoundRow r) => r.ModelBytes is long bytes && r.WeightSparsity is double sparsity
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"  model {bytes:N0} B, {sparsity * 100:0.0} % pruned{(r.TrainMemoryBytes is long m ? $", train mem {m:N0} B" : string.Empty)}")
        : string.Empty;
}
