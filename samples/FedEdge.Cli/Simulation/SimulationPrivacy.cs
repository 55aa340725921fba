using FedEdge.Coordination;
using FedEdge.Privacy;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;
using Microsoft.Extensions.DependencyInjection;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// Turns the simulate command's privacy flags into engine settings. Differential privacy: every worker
/// clips its delta to <c>--dp-clip</c>; without secure aggregation the coordinator adds central Gaussian
/// noise σ·C/n to the mean (σ = <c>--dp-noise</c>), with secure aggregation each worker adds its share
/// N(0, (σC)²/n) before masking (distributed DP), so the coordinator never holds a noiseless value. An RDP
/// accountant (δ = 1e-5) is stepped every round and stops training at <c>--dp-target-epsilon</c>.
/// </summary>
internal sealed class SimulationPrivacy : IDisposable
{
    /// <summary>The δ of the reported (ε, δ).</summary>
    public const double Delta = 1e-5;

    private readonly SimulationConfig _config;
    private readonly ServiceProvider? _secureServices;

    public SimulationPrivacy(SimulationConfig config, int deviceCount, long maxDeviceRows)
    {
        _config = config;
        DeviceCount = Math.Max(1, deviceCount);
        if (config.SecureAggregation)
        {
            // Inputs are Δ·n (n = the device's rows), n, and loss·n: the clip range covers |Δ| up to 64 per coordinate.
            float clipRange = (float)Math.Max(1024, maxDeviceRows * 64.0);
            _secureServices = new ServiceCollection()
                .AddSecureAggregation(o =>
                {
                    o.Threshold = Math.Max(2, (DeviceCount / 2) + 1);
                    o.ClipRange = clipRange;
                })
                .BuildServiceProvider();
        }
    }

    private int DeviceCount { get; }

    private bool Dp => _config.DpNoise is > 0 || _config.DpClip is not null;

    private double Clip => _config.DpClip ?? 1.0;

    /// <summary>Adds the coordinator's privacy settings.</summary>
    public void ConfigureCoordinator(CoordinatorOptions options)
    {
        if (_secureServices is not null)
        {
            options.SecureAggregation = _secureServices.GetRequiredService<ISecureAggregationCoordinator>();
            options.RoundTimeout = TimeSpan.FromMinutes(5);
        }

        if (_config.DpNoise is double sigma && sigma > 0)
        {
            if (!_config.SecureAggregation)
            {
                options.AggregateTransforms.Add(new GaussianAggregateNoise(sigma, Clip));
            }

            options.PrivacyAccountant = new RdpAccountant(Delta, _config.DpTargetEpsilon);
            options.DpNoiseMultiplier = sigma;
        }
    }

    /// <summary>Adds a worker's privacy settings.</summary>
    public WorkerOptions ConfigureWorker(WorkerOptions options)
    {
        if (_secureServices is not null)
        {
            options.SecureAggregation = _secureServices.GetRequiredService<ISecureAggregationWorker>();
        }

        if (Dp)
        {
            // DP assumes a uniform mean: sample-count weights would change the mechanism's sensitivity.
            options.UniformAggregationWeight = _config.DpNoise is > 0;
            options.UpdateTransforms.Add(new DpUpdateTransform(new DifferentialPrivacyOptions
            {
                ClipNorm = Clip,
                NoiseMultiplier = _config.DpNoise ?? 0,
                Placement = _config.SecureAggregation ? NoisePlacement.Distributed : NoisePlacement.Central,
                ExpectedClientsPerRound = DeviceCount,
            }));
        }

        return options;
    }

    public void Dispose() => _secureServices?.Dispose();
}
