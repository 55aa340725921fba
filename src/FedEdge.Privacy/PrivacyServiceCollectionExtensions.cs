using FedEdge.Coordination;
using FedEdge.Privacy;
using FedEdge.Rounds;
using FedEdge.Privacy.DifferentialPrivacy;
using FedEdge.Privacy.SecureAggregation;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge.Privacy's secure aggregation and differential privacy behind Core's ports.</summary>
public static class PrivacyServiceCollectionExtensions
{
    /// <summary>
    /// Registers secure aggregation (SecAgg, or SecAgg+ when <see cref="SecureAggregationOptions.NeighbourCount"/> &gt; 0)
    /// as the engines' round protocol: an <see cref="IRoundProtocol"/> the coordinator runs and an
    /// <see cref="IWorkerRoundProtocol"/> the worker runs, over the transport's protocol channel (MQTT, gRPC and
    /// in-process all carry it). The coordinator then refuses strategies that need individual updates. Idempotent.
    /// </summary>
    public static IServiceCollection AddSecureAggregation(this IServiceCollection services, Action<SecureAggregationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<SecureAggregationOptions> options = services.AddOptions<SecureAggregationOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SecureAggregationOptions>, SecureAggregationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ISecureAggregationCoordinator>(sp => new SecureAggregationCoordinator(
            sp.GetRequiredService<IOptions<SecureAggregationOptions>>(), sp.GetService<TimeProvider>(), sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton<ISecureAggregationWorker, SecureAggregationWorker>();

        // The engines take these through their constructors: a coordinator runs secure rounds, a worker masks its input.
        services.TryAddSingleton<IRoundProtocol>(sp => new SecureAggregationRound(sp.GetRequiredService<ISecureAggregationCoordinator>()));
        services.TryAddSingleton<IWorkerRoundProtocol>(sp => new SecureAggregationParticipant(sp.GetRequiredService<ISecureAggregationWorker>(), sp.GetService<ILoggerFactory>()));
        return services;
    }

    /// <summary>
    /// Worker side of differential privacy: registers an <see cref="IUpdateTransform"/> that clips each
    /// update to <see cref="DifferentialPrivacyOptions.ClipNorm"/> and, for local or distributed
    /// placement, adds the device's share of Gaussian noise. Idempotent.
    /// </summary>
    public static IServiceCollection AddDifferentialPrivacyWorker(this IServiceCollection services, Action<DifferentialPrivacyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddDpOptions(services, configure);
        services.TryAddSingleton(sp => new DpUpdateTransform(sp.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IUpdateTransform, DpUpdateTransform>(sp => sp.GetRequiredService<DpUpdateTransform>()));

        // With noise, DP assumes a uniform mean: sample-count weights would change the mechanism's sensitivity.
        services.AddOptions<WorkerOptions>().PostConfigure<IOptions<DifferentialPrivacyOptions>>((worker, dp) => worker.UniformAggregationWeight |= dp.Value.NoiseMultiplier > 0);
        return services;
    }

    /// <summary>
    /// Coordinator side of differential privacy: an <see cref="IPrivacyAccountant"/> (RDP, stops at
    /// <see cref="DifferentialPrivacyOptions.TargetEpsilon"/>); for central placement also a clipping
    /// <see cref="IUpdateTransform"/> for each received update and a noising <see cref="IAggregateTransform"/>;
    /// with adaptive clipping an <see cref="AdaptiveClipNorm"/>. Idempotent.
    /// </summary>
    public static IServiceCollection AddDifferentialPrivacyCoordinator(this IServiceCollection services, Action<DifferentialPrivacyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddDpOptions(services, configure);
        services.TryAddSingleton<IPrivacyAccountant>(sp =>
        {
            DifferentialPrivacyOptions o = sp.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value;
            return new RdpAccountant(o.TargetDelta, o.TargetEpsilon, logger: sp.GetService<ILoggerFactory>()?.CreateLogger("FedEdge.Privacy.DifferentialPrivacy"));
        });
        services.TryAddSingleton(sp =>
        {
            DifferentialPrivacyOptions o = sp.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value;
            return new AdaptiveClipNorm(o.ClipNorm, o.TargetUnclippedQuantile, o.ClipLearningRate, o.AdaptiveClipping ? o.ClipCountNoiseStdDev ?? (o.ExpectedClientsPerRound / 20.0) : 0);
        });
        services.TryAddSingleton(sp =>
        {
            DifferentialPrivacyOptions o = sp.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value;
            return new GaussianAggregateNoise(o.Placement == NoisePlacement.Central ? o.NoiseMultiplier : 0, o.ClipNorm);
        });
        services.TryAddSingleton(sp =>
        {
            DifferentialPrivacyOptions o = sp.GetRequiredService<IOptions<DifferentialPrivacyOptions>>().Value;
            return new DpUpdateTransform(new DifferentialPrivacyOptions { ClipNorm = o.ClipNorm, NoiseMultiplier = o.NoiseMultiplier, Placement = NoisePlacement.Central, ExpectedClientsPerRound = o.ExpectedClientsPerRound });
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAggregateTransform, GaussianAggregateNoise>(sp => sp.GetRequiredService<GaussianAggregateNoise>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IUpdateTransform, DpUpdateTransform>(sp => sp.GetRequiredService<DpUpdateTransform>()));

        // The accountant needs each round's noise multiplier.
        services.AddOptions<CoordinatorOptions>().PostConfigure<IOptions<DifferentialPrivacyOptions>>((coordinator, dp) => coordinator.DpNoiseMultiplier ??= dp.Value.NoiseMultiplier > 0 ? dp.Value.NoiseMultiplier : null);
        return services;
    }

    private static void AddDpOptions(IServiceCollection services, Action<DifferentialPrivacyOptions>? configure)
    {
        OptionsBuilder<DifferentialPrivacyOptions> options = services.AddOptions<DifferentialPrivacyOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DifferentialPrivacyOptions>, DifferentialPrivacyOptionsValidator>());
    }
}
