using FedEdge.Privacy;

namespace FedEdge.Coordination;

/// <summary>
/// Decides when a federation stops. The coordinator asks every rule after each round (and, through
/// <see cref="BeforeRound"/>, before one starts); the first reason given ends the run. The built-in rules
/// (round budget, target metric, patience, failures in a row, privacy budget) come from
/// <see cref="CoordinatorOptions"/> and the registered <see cref="IPrivacyAccountant"/>; register more
/// with <c>services.TryAddEnumerable(ServiceDescriptor.Singleton&lt;IStopRule, MyRule&gt;())</c>.
/// </summary>
public interface IStopRule
{
    /// <summary>A short stable name (e.g. <c>budget</c>).</summary>
    string Name { get; }

    /// <summary>Called before a round with the planned participants; returns why the round must not run (the federation then stops), or null.</summary>
    string? BeforeRound(StopRuleContext context) => null;

    /// <summary>Called after each round; returns why the federation stops now, or null.</summary>
    string? AfterRound(RoundResult result, StopRuleContext context);
}

/// <summary>What a stop rule knows about the federation.</summary>
public readonly record struct StopRuleContext
{
    /// <summary>The last completed round.</summary>
    public required long CompletedRounds { get; init; }

    /// <summary>Rounds in a row that failed (0 after a completed round).</summary>
    public required int ConsecutiveFailures { get; init; }

    /// <summary>Devices taking part in the round being planned (for <see cref="IStopRule.BeforeRound"/>) or that took part (after it).</summary>
    public required int Participants { get; init; }

    /// <summary>Admitted devices (the population the participants were sampled from).</summary>
    public required int Population { get; init; }

    /// <summary>The sampling rate of the round: participants over population, in [0, 1].</summary>
    public double SamplingRate => Math.Clamp((double)Participants / Math.Max(Population, Math.Max(Participants, 1)), 0, 1);
}

/// <summary>The built-in stop rules; the coordinator builds them from its options.</summary>
internal static class BuiltInStopRules
{
    public static List<IStopRule> Create(CoordinatorOptions options, IPrivacyAccountant? accountant, PatienceRule patience)
    {
        var rules = new List<IStopRule>();
        if (accountant is not null && options.DpNoiseMultiplier is double sigma)
        {
            rules.Add(new PrivacyBudgetRule(accountant, sigma));
        }

        rules.Add(new TargetRule(options));
        rules.Add(patience);
        if (options.MaxConsecutiveFailures is int limit)
        {
            rules.Add(new FailuresRule(limit));
        }

        rules.Add(new BudgetRule(options.MaxRounds));
        return rules;
    }
}

/// <summary>Stops at the round budget.</summary>
internal sealed class BudgetRule(int maxRounds) : IStopRule
{
    public string Name => "budget";

    public string? AfterRound(RoundResult result, StopRuleContext context) =>
        context.CompletedRounds >= maxRounds ? $"round budget of {maxRounds} reached" : null;
}

/// <summary>Stops when the monitored metric reaches its target.</summary>
internal sealed class TargetRule(CoordinatorOptions options) : IStopRule
{
    public string Name => "target";

    public string? AfterRound(RoundResult result, StopRuleContext context) =>
        result.Completed && options.TargetMetric is double target && options.MonitorMetric is string name
            && result.Evaluation.TryGetValue(name, out double value)
            && (options.MonitorHigherIsBetter ? value >= target : value <= target)
            ? $"target reached: {name} = {value:0.####}"
            : null;
}

/// <summary>Stops after too many failed rounds in a row.</summary>
internal sealed class FailuresRule(int limit) : IStopRule
{
    public string Name => "failures";

    public string? AfterRound(RoundResult result, StopRuleContext context) =>
        context.ConsecutiveFailures >= limit ? $"{context.ConsecutiveFailures} rounds in a row failed (last: {result.FailureReason})" : null;
}

/// <summary>Tracks the best monitored value and stops after <see cref="CoordinatorOptions.Patience"/> rounds without improvement; its progress is checkpointed.</summary>
internal sealed class PatienceRule(CoordinatorOptions options) : IStopRule
{
    public string Name => "patience";

    public double? Best { get; private set; }

    public int RoundsWithoutImprovement { get; private set; }

    public void Restore(double? best, int roundsWithoutImprovement)
    {
        Best = best;
        RoundsWithoutImprovement = roundsWithoutImprovement;
    }

    /// <summary>Records a completed round's monitored value (the metric, or the training loss without one).</summary>
    public void Observe(IReadOnlyDictionary<string, double> evaluation, double? loss)
    {
        double? value = options.MonitorMetric is null ? loss : evaluation.TryGetValue(options.MonitorMetric, out double v) ? v : null;
        bool higherIsBetter = options.MonitorMetric is not null && options.MonitorHigherIsBetter;
        if (value is not double current)
        {
            return;
        }

        if (Best is not double best || (higherIsBetter ? current > best : current < best))
        {
            Best = current;
            RoundsWithoutImprovement = 0;
        }
        else
        {
            RoundsWithoutImprovement++;
        }
    }

    public string? AfterRound(RoundResult result, StopRuleContext context) =>
        result.Completed && options.Patience is int patience && RoundsWithoutImprovement >= patience ? $"no improvement for {patience} rounds" : null;
}

/// <summary>Stops before a round would exceed the privacy budget, and once it is spent; steps the accountant after each completed round.</summary>
internal sealed class PrivacyBudgetRule(IPrivacyAccountant accountant, double noiseMultiplier) : IStopRule
{
    private string? _stop;

    public string Name => "privacy-budget";

    public IPrivacyAccountant Accountant => accountant;

    public string? BeforeRound(StopRuleContext context)
    {
        PrivacySpent next = accountant.Preview(context.SamplingRate, noiseMultiplier, 1);
        if (next.ExceedsBudget)
        {
            _stop = $"privacy budget reached: another round would spend ε = {next.Epsilon:0.###} > {next.EpsilonBudget:0.###} (spent {accountant.Spent.Epsilon:0.###})";
        }

        return _stop;
    }

    /// <summary>Records a completed round with its actual sampling rate.</summary>
    public PrivacySpent Step(StopRuleContext context)
    {
        PrivacySpent spent = accountant.RecordRound(context.SamplingRate, noiseMultiplier);
        if (accountant.IsExhausted)
        {
            _stop ??= $"privacy budget reached: ε = {spent.Epsilon:0.###} of {spent.EpsilonBudget:0.###} spent";
        }

        return spent;
    }

    public string? AfterRound(RoundResult result, StopRuleContext context) => _stop;
}
