using System.CommandLine;
using System.Globalization;
using FedEdge.Aggregation;
using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;

namespace FedEdge.Cli;

/// <summary>
/// Secure aggregation in the process deployment: <c>fededge coordinator --secure-aggregation [--secagg-threshold T]</c>
/// and <c>fededge worker --secure-aggregation</c>. The coordinator names the protocol in every round task
/// (<see cref="TaskKey"/>), so a worker whose setting differs stops with one line at its first round task instead of
/// taking part in rounds that cannot use its update.
/// </summary>
internal static class SecureAggregationCli
{
    /// <summary>The key of <see cref="TrainingHyperParameters.Extra"/> that names the coordinator's round protocol.</summary>
    public const string TaskKey = "round_protocol";

    /// <summary>The value of <see cref="TaskKey"/> in a secure-aggregation federation.</summary>
    public const string SecAgg = "secagg";

    /// <summary>Exit code of a worker whose round protocol differs from the coordinator's (as a refused admission).</summary>
    public const int ProtocolMismatch = 3;

    /// <summary>The coordinator's default clip range: inputs are Δ·n (n = the device's training rows), so 2^20 covers |Δ| ≤ 64 for 16 384 rows.</summary>
    public const float DefaultClipRange = 1 << 20;

    public static Option<bool> CoordinatorFlag() => new("--secure-aggregation")
    {
        Description = "Aggregate with secure aggregation (SecAgg): the coordinator learns only the sum of the devices' masked updates, and dropouts after key sharing are unmasked with --secagg-threshold shares. Workers need --secure-aggregation too (every round task names the protocol). Only sum-based strategies (fedavg, fedavgm, fedadam, ...; not median, krum or the other robust rules). With --committee, validators check each round's transcript (roster, threshold, the unmasked sum's hash).",
    };

    public static Option<int?> ThresholdOption() => new Option<int?>("--secagg-threshold")
    {
        Description = "With --secure-aggregation: the Shamir threshold t, shares needed to unmask a device (and the fewest devices a round continues with). Between 2 and --min-devices; default max(2, --min-devices / 2 + 1).",
        HelpName = "T",
    };

    public static Option<float?> ClipRangeOption() => new Option<float?>("--secagg-clip-range")
    {
        Description = "With --secure-aggregation: each masked value (update change × the device's sample count) is clipped to ±R before quantisation (default 1048576).",
        HelpName = "R",
    };

    public static Option<double?> PhaseTimeoutOption() => new Option<double?>("--secagg-timeout")
    {
        Description = "With --secure-aggregation: seconds each phase (keys, shares, masked input — which includes local training —, unmasking) waits for devices before it goes on with those that answered; a device that drops after sharing its keys is unmasked then. Default 30, and 120 for the masked input.",
        HelpName = "SECONDS",
    }.Seconds();

    /// <summary>The round deadline with secure aggregation when --round-timeout is not given: room for the four phases.</summary>
    public static TimeSpan RoundTimeout(double? phaseSeconds) => phaseSeconds is double t ? TimeSpan.FromSeconds((4 * t) + 30) : TimeSpan.FromMinutes(5);

    public static Option<bool> WorkerFlag() => new("--secure-aggregation")
    {
        Description = "Join a secure-aggregation coordinator (`fededge coordinator --secure-aggregation`): send masked inputs over the protocol channel instead of a plaintext update. A worker whose setting differs from the coordinator's stops with exit code 3 at the first round task.",
    };

    /// <summary>The threshold to use, or a one-line problem (exit code 2).</summary>
    public static int? Threshold(int? given, int minDevices, out string? problem)
    {
        problem = null;
        int threshold = given ?? Math.Max(2, (minDevices / 2) + 1);
        if (threshold < 2)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"--secagg-threshold {threshold} is too low: secure aggregation needs a threshold of at least 2.");
            return null;
        }

        if (threshold > minDevices)
        {
            problem = given is null
                ? string.Create(CultureInfo.InvariantCulture, $"--secure-aggregation needs at least 2 devices per round: --min-devices {minDevices} is too few.")
                : string.Create(CultureInfo.InvariantCulture, $"--secagg-threshold {threshold} exceeds --min-devices {minDevices}: a round could never gather the shares to unmask; use a threshold between 2 and {minDevices}.");
            return null;
        }

        return threshold;
    }

    /// <summary>Why <paramref name="strategy"/> cannot run under secure aggregation, or null.</summary>
    public static string? StrategyProblem(IAggregationStrategy strategy) => strategy.Requirements.NeedsIndividualUpdates
        ? $"--strategy {strategy.Name} needs each device's update, but --secure-aggregation reveals only their sum; use a sum-based strategy ({string.Join(", ", SumBasedStrategies())})."
        : null;

    /// <summary>The strategies that fold only a sum, so they run under secure aggregation.</summary>
    private static IEnumerable<string> SumBasedStrategies() =>
        AggregationStrategies.Names.Where(n => !AggregationStrategies.Create(n, new AggregationOptions()).Requirements.NeedsIndividualUpdates);

    /// <summary>Registers secure aggregation on the coordinator and names it in every round task.</summary>
    public static void AddToCoordinator(IServiceCollection services, int threshold, float clipRange, double? phaseSeconds)
    {
        services.AddSecureAggregation(o =>
        {
            o.Threshold = threshold;
            o.ClipRange = clipRange;
            if (phaseSeconds is double t)
            {
                TimeSpan phase = TimeSpan.FromSeconds(t);
                (o.AdvertiseKeysTimeout, o.ShareKeysTimeout, o.MaskedInputTimeout, o.UnmaskingTimeout) = (phase, phase, phase, phase);
            }
        });
    }

    /// <summary>The hyper-parameters' extras with the round protocol named.</summary>
    public static Dictionary<string, string> NameProtocol(Dictionary<string, string> extra, bool secure)
    {
        if (secure)
        {
            extra[TaskKey] = SecAgg;
        }

        return extra;
    }

    /// <summary>
    /// Registers the worker's side (secure aggregation's participant, or nothing: Core's plaintext protocol) and a check
    /// that the coordinator's round tasks name the same protocol; returns the check for the command to watch.
    /// </summary>
    public static RoundProtocolCheck AddToWorker(IServiceCollection services, ITrainer trainer, bool secure)
    {
        if (secure)
        {
            services.AddSecureAggregation();
        }

        // The check sees each round's hyper-parameters as local training starts: it decorates the trainer, so the
        // round protocols stay the ones Core and FedEdge.Privacy register (the plaintext one encodes updates itself).
        var check = new RoundProtocolCheck(secure);
        services.AddSingleton<ITrainer>(check.Wrap(trainer));
        return check;
    }
}

/// <summary>
/// Watches the round tasks a worker trains for: the coordinator names its round protocol in each task's hyper-parameters
/// (or none: plaintext). When it differs from this worker's, <see cref="Mismatch"/> says so in one line and the command
/// stops; the round itself goes on without this device.
/// </summary>
internal sealed class RoundProtocolCheck(bool secure)
{
    private volatile string? _mismatch;

    /// <summary>Why this worker cannot take part (its protocol differs from the coordinator's), or null.</summary>
    public string? Mismatch => _mismatch;

    public ITrainer Wrap(ITrainer inner) => new Checked(inner, this);

    private void Observe(TrainingHyperParameters hyperParameters, long? round)
    {
        bool coordinatorSecure = hyperParameters.Extra.TryGetValue(SecureAggregationCli.TaskKey, out string? name) && string.Equals(name, SecureAggregationCli.SecAgg, StringComparison.Ordinal);
        if (coordinatorSecure == secure || _mismatch is not null)
        {
            return;
        }

        string task = round is long r ? string.Create(CultureInfo.InvariantCulture, $"round {r} task") : "round task";
        _mismatch = secure
            ? $"the coordinator's {task} does not ask for secure aggregation; start this worker without --secure-aggregation (or the coordinator with it)."
            : $"the coordinator runs secure aggregation ({task}) and would refuse this worker's plaintext update; start the worker with --secure-aggregation.";
    }

    /// <summary>The worker's trainer, observing each round's hyper-parameters before it trains.</summary>
    private sealed class Checked(ITrainer inner, RoundProtocolCheck check) : ITrainer
    {
        public ParameterLayout Layout => inner.Layout;

        public ValueTask<TrainingResult> TrainAsync(TrainingRequest request, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            check.Observe(request.HyperParameters, request.Round);
            return inner.TrainAsync(request, cancellationToken);
        }

        public ValueTask<EvaluationResult> EvaluateAsync(ParameterSet parameters, FedEdge.Data.Dataset data, CancellationToken cancellationToken = default) =>
            inner.EvaluateAsync(parameters, data, cancellationToken);
    }
}
