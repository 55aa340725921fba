using System.Security.Cryptography;
using FedEdge.Reputation;
using FedEdge.Transparency;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers accountability for the coordinator: the transparency log and the reputation policy.</summary>
public static class AccountabilityServiceCollectionExtensions
{
    /// <summary>
    /// Registers the file-backed transparency log in <paramref name="directory"/>, its heads and receipts signed with
    /// <paramref name="signingKey"/> (ECDSA P-256, e.g. the coordinator certificate's key; the caller keeps ownership).
    /// The coordinator appends every round to it. Calling it twice registers once.
    /// </summary>
    public static FedEdgeCoordinationBuilder AddTransparencyLog(this FedEdgeCoordinationBuilder builder, string directory, ECDsa signingKey)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(signingKey);
        builder.Services.TryAddSingleton<ITransparencyLog>(sp => new FileTransparencyLog(directory, signingKey, sp.GetService<TimeProvider>()));
        return builder;
    }

    /// <summary>Registers the built-in reputation policy (<see cref="ReputationPolicies.RobustDistance"/>). Calling it twice registers once.</summary>
    public static FedEdgeCoordinationBuilder AddReputation(this FedEdgeCoordinationBuilder builder, Action<ReputationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new ReputationOptions();
        configure?.Invoke(options);
        options.Validate();
        builder.Services.TryAddSingleton(ReputationPolicies.RobustDistance(options));
        return builder;
    }
}
