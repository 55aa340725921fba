using FedEdge.Coordination;
using FedEdge.Privacy;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;
using FedEdge.Rounds;
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

    /// <summary>The coordinator's round protocol: secure aggregation from <c>AddSecureAggregation()</c>, or null for plaintext rounds.</summary>
    public IRoundProtocol? RoundProtocol => _secureServices?.GetRequiredService<IRoundProtocol>();

    /// <summary>The workers' round protocol: secure aggregation's masked inputs, or null for plaintext updates.</summary>
    public IWorkerRoundProtocol? WorkerProtocol => _secureServices?.GetRequiredService<IWorkerRoundProtocol>();

    /// <summary>The privacy accountant (with <c>--dp-noise</c>), or null.</summary>
    public IPrivacyAccountant? Accountant { get; private set; }

    /// <summary>Central Gaussian noise on the aggregate (DP without secure aggregation).</summary>
    public IReadOnlyList<IAggregateTransform> AggregateTransforms { get; private set; } = [];

    /// <summary>Adds the coordinator's privacy settings and creates its privacy ports.</summary>
    public void ConfigureCoordinator(CoordinatorOptions options)
    {
        if (_secureServices is not null)
        {
            options.RoundTimeout = TimeSpan.FromMinutes(5);
        }

        if (_config.DpNoise is double sigma && sigma > 0)
        {
            if (!_config.SecureAggregation)
            {
                AggregateTransforms = [new GaussianAggregateNoise(sigma, Clip)];
            }

            Accountant = new RdpAccountant(Delta, _config.DpTargetEpsilon);
            options.DpNoiseMultiplier = sigma;
        }
    }

    /// <summary>A worker's update transforms (clipping and, with noise, its share of Gaussian noise); sets its DP settings.</summary>
    public IUpdateTransform[] ConfigureWorker(WorkerOptions options)
    {
        if (!Dp)
        {
            return [];
        }

        // DP assumes a uniform mean: sample-count weights would change the mechanism's sensitivity.
        options.UniformAggregationWeight = _config.DpNoise is > 0;
        return
        [
            new DpUpdateTransform(new DifferentialPrivacyOptions
            {
                ClipNorm = Clip,
                NoiseMultiplier = _config.DpNoise ?? 0,
                Placement = _config.SecureAggregation ? NoisePlacement.Distributed : NoisePlacement.Central,
                ExpectedClientsPerRound = DeviceCount,
            }),
        ];
    }

    public void Dispose() => _secureServices?.Dispose();
}
