using FedEdge.Aggregation;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers FedEdge aggregation.</summary>
public static class AggregationServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="AggregationOptions"/> (validated when the host starts) and an
    /// <see cref="IAggregationStrategy"/> singleton created by name from <see cref="AggregationOptions.Strategy"/>.
    /// Idempotent; a strategy registered before this call (a third party's) is kept.
    /// </summary>
    public static FedEdgeAggregationBuilder AddFedEdgeAggregation(this IServiceCollection services, Action<AggregationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<AggregationOptions> options = services.AddOptions<AggregationOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AggregationOptions>, AggregationOptionsValidator>());
        services.TryAddSingleton<IAggregationStrategy>(sp =>
        {
            AggregationOptions value = sp.GetRequiredService<IOptions<AggregationOptions>>().Value;
            return AggregationStrategies.Create(value.Strategy, value);
        });
        return new FedEdgeAggregationBuilder(services);
    }

    private sealed class AggregationOptionsValidator : IValidateOptions<AggregationOptions>
    {
        public ValidateOptionsResult Validate(string? name, AggregationOptions options)
        {
            IReadOnlyList<string> errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

/// <summary>Returned by <see cref="AggregationServiceCollectionExtensions.AddFedEdgeAggregation"/> for further configuration.</summary>
public sealed class FedEdgeAggregationBuilder
{
    /// <summary>Creates the builder.</summary>
    public FedEdgeAggregationBuilder(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        Services = services;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }
}
