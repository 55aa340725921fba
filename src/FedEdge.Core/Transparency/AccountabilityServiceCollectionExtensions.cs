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

    /// <summary>
    /// Registers the committee of 3f + 1 witnesses (<paramref name="members"/>, each with the key its co-signatures must
    /// verify with) that co-signs every head of the transparency log: a round's model is published only with 2f + 1
    /// co-signatures. Needs <see cref="AddTransparencyLog"/>. Calling it twice registers once.
    /// </summary>
    /// <exception cref="ArgumentException">The members are not 3f + 1, repeat a name, or carry an unreadable key.</exception>
    public static FedEdgeCoordinationBuilder AddCommittee(this FedEdgeCoordinationBuilder builder, IEnumerable<CommitteeMember> members, Action<CommitteeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(members);
        var options = new CommitteeOptions();
        configure?.Invoke(options);
        var committee = new TreeHeadCommittee(members, options);
        builder.Services.TryAddSingleton(sp => new TreeHeadCommittee(committee.Members, options, sp.GetService<TimeProvider>()));
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
