using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FedEdge.Privacy.DifferentialPrivacy;

/// <summary>How Rényi DP is converted to (ε, δ).</summary>
public enum RdpConversion
{
    /// <summary>ε = RDP(α) + log(1/δ)/(α − 1) (Mironov, CSF 2017, Prop. 3); what Abadi et al. era tools report.</summary>
    Classic = 0,

    /// <summary>ε = RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1) (Balle et al. 2020; Canonne, Kamath, Steinke 2020); tighter, used by TF-Privacy today.</summary>
    Improved = 1,
}

/// <summary>
/// A Rényi-DP accountant for the subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019) at
/// integer orders, where RDP(α) = log A_α / (α − 1) with the exact binomial expansion
/// A_α = Σ_{k=0..α} C(α, k) (1 − q)^(α−k) q^k exp((k² − k) / (2σ²)). Rounds compose by adding RDP
/// per order; ε is minimised over the orders.
/// </summary>
public sealed class RdpAccountant : IPrivacyAccountant
{
    /// <summary>The default orders: 2..64 and 80, 96, 128, 256, 512.</summary>
    public static readonly IReadOnlyList<int> DefaultOrders = [.. Enumerable.Range(2, 63), 80, 96, 128, 256, 512];

    private readonly int[] _orders;
    private readonly double[] _rdp;
    private readonly double _delta;
    private readonly double? _budget;
    private readonly RdpConversion _conversion;
    private readonly ILogger _logger;
    private (double Q, double Sigma)? _last;

    /// <summary>Creates an accountant.</summary>
    /// <param name="targetDelta">δ of the reported guarantee.</param>
    /// <param name="epsilonBudget">Stop when ε would exceed this; null for no budget.</param>
    /// <param name="orders">Integer Rényi orders ≥ 2 (default <see cref="DefaultOrders"/>).</param>
    /// <param name="conversion">The RDP → (ε, δ) conversion (default improved).</param>
    /// <param name="logger">Where to log ε after each round.</param>
    public RdpAccountant(double targetDelta, double? epsilonBudget = null, IEnumerable<int>? orders = null, RdpConversion conversion = RdpConversion.Improved, ILogger? logger = null)
    {
        if (!(targetDelta > 0 && targetDelta < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(targetDelta), targetDelta, "δ must be in (0, 1).");
        }

        if (epsilonBudget is { } b && !(b > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilonBudget), b, "The ε budget must be positive.");
        }

        _orders = (orders ?? DefaultOrders).Distinct().Order().ToArray();
        if (_orders.Length == 0 || _orders[0] < 2)
        {
            throw new ArgumentException("Orders must be integers of at least 2.", nameof(orders));
        }

        _rdp = new double[_orders.Length];
        _delta = targetDelta;
        _budget = epsilonBudget;
        _conversion = conversion;
        _logger = logger ?? NullLogger.Instance;
        Spent = new PrivacySpent(0, targetDelta, 0, epsilonBudget, null);
    }

    /// <inheritdoc />
    public PrivacySpent Spent { get; private set; }

    /// <inheritdoc />
    public bool IsExhausted
    {
        get
        {
            if (_budget is null)
            {
                return false;
            }

            if (Spent.Epsilon >= _budget)
            {
                return true;
            }

            return _last is { } last && Preview(last.Q, last.Sigma, 1).ExceedsBudget;
        }
    }

    /// <summary>The RDP of one step of the subsampled Gaussian mechanism at integer order <paramref name="order"/>.</summary>
    /// <param name="samplingRate">q in [0, 1].</param>
    /// <param name="noiseMultiplier">σ (noise standard deviation over sensitivity), &gt; 0.</param>
    /// <param name="order">α ≥ 2.</param>
    public static double SubsampledGaussianRdp(double samplingRate, double noiseMultiplier, int order)
    {
        if (!(samplingRate >= 0 && samplingRate <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(samplingRate), samplingRate, "q must be in [0, 1].");
        }

        if (!(noiseMultiplier > 0) || double.IsInfinity(noiseMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "σ must be positive and finite; σ = 0 gives no privacy.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(order, 2);
        if (samplingRate == 0)
        {
            return 0;
        }

        double sigma2 = noiseMultiplier * noiseMultiplier;
        if (samplingRate == 1)
        {
            return order / (2 * sigma2);
        }

        double logQ = Math.Log(samplingRate);
        double log1mQ = double.LogP1(-samplingRate);
        double logBinomial = 0; // log C(α, 0)
        double max = double.NegativeInfinity;
        double[] terms = new double[order + 1];
        for (int k = 0; k <= order; k++)
        {
            if (k > 0)
            {
                logBinomial += Math.Log(order - k + 1) - Math.Log(k);
            }

            terms[k] = logBinomial + ((order - k) * log1mQ) + (k * logQ) + (((double)k * k) - k) / (2 * sigma2);
            max = Math.Max(max, terms[k]);
        }

        double sum = 0;
        foreach (double t in terms)
        {
            sum += Math.Exp(t - max);
        }

        double logA = max + Math.Log(sum);
        return Math.Max(0, logA / (order - 1));
    }

    /// <summary>Converts per-order RDP to the smallest ε for δ, with the order that achieved it.</summary>
    public static (double Epsilon, int Order) ToEpsilon(IReadOnlyList<int> orders, IReadOnlyList<double> rdp, double delta, RdpConversion conversion = RdpConversion.Improved)
    {
        ArgumentNullException.ThrowIfNull(orders);
        ArgumentNullException.ThrowIfNull(rdp);
        if (orders.Count != rdp.Count || orders.Count == 0)
        {
            throw new ArgumentException("Orders and RDP values must be non-empty and of equal length.", nameof(rdp));
        }

        double best = double.PositiveInfinity;
        int bestOrder = orders[0];
        double logDelta = Math.Log(delta);
        for (int i = 0; i < orders.Count; i++)
        {
            double a = orders[i];
            double eps = conversion == RdpConversion.Classic
                ? rdp[i] - (logDelta / (a - 1))
                : rdp[i] + Math.Log((a - 1) / a) - ((logDelta + Math.Log(a)) / (a - 1));
            if (eps < best)
            {
                best = eps;
                bestOrder = orders[i];
            }
        }

        return (Math.Max(0, best), bestOrder);
    }

    /// <inheritdoc />
    public PrivacySpent RecordRound(double samplingRate, double noiseMultiplier) => RecordSteps(samplingRate, noiseMultiplier, 1);

    /// <summary>Records <paramref name="steps"/> identical steps at once (e.g. DP-SGD epochs).</summary>
    public PrivacySpent RecordSteps(double samplingRate, double noiseMultiplier, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        for (int i = 0; i < _orders.Length; i++)
        {
            _rdp[i] += steps * SubsampledGaussianRdp(samplingRate, noiseMultiplier, _orders[i]);
        }

        _last = (samplingRate, noiseMultiplier);
        (double eps, int order) = ToEpsilon(_orders, _rdp, _delta, _conversion);
        Spent = new PrivacySpent(eps, _delta, Spent.Rounds + steps, _budget, order);
        PrivacyTelemetry.Epsilon.Record(eps);
        Log.PrivacySpent(_logger, eps, _delta, Spent.Rounds);
        return Spent;
    }

    /// <inheritdoc />
    public PrivacySpent Preview(double samplingRate, double noiseMultiplier, int additionalRounds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(additionalRounds);
        double[] rdp = new double[_orders.Length];
        for (int i = 0; i < _orders.Length; i++)
        {
            rdp[i] = _rdp[i] + (additionalRounds == 0 ? 0 : additionalRounds * SubsampledGaussianRdp(samplingRate, noiseMultiplier, _orders[i]));
        }

        (double eps, int order) = ToEpsilon(_orders, rdp, _delta, _conversion);
        return new PrivacySpent(eps, _delta, Spent.Rounds + additionalRounds, _budget, order);
    }
}
