using FedEdge.Admission;
using FedEdge.Mud.Admission;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The builder returned by <see cref="MudServiceCollectionExtensions.AddMudAdmission"/>.</summary>
/// <param name="Services">The service collection.</param>
public sealed record MudAdmissionBuilder(IServiceCollection Services);

/// <summary>Registers FedEdge.Mud services.</summary>
public static class MudServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="MudAdmissionPolicy"/> as an <see cref="IAdmissionPolicy"/>, with a directory-backed
    /// <see cref="IMudFileSource"/> (from <see cref="MudAdmissionOptions.MudDirectory"/>) and an in-memory
    /// <see cref="IMudQuarantine"/> unless others are registered. Options are validated when the host starts.
    /// Idempotent.
    /// </summary>
    public static MudAdmissionBuilder AddMudAdmission(this IServiceCollection services, Action<MudAdmissionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<MudAdmissionOptions>()
            .Configure(configure)
            .Validate(o => o.Problems().Count == 0, "Invalid MUD admission options (CoordinatorHost, port, protocol, trust anchors or approvals, MudDirectory).")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MudQuarantineList>();
        services.TryAddSingleton<IMudQuarantine>(sp => sp.GetRequiredService<MudQuarantineList>());
        services.TryAddSingleton<IMudFileSource>(sp =>
        {
            MudAdmissionOptions o = sp.GetRequiredService<IOptions<MudAdmissionOptions>>().Value;
            return o.MudDirectory is null
                ? throw new InvalidOperationException("Register an IMudFileSource or set MudAdmissionOptions.MudDirectory.")
                : MudFileSources.FromDirectory(o.MudDirectory);
        });
        services.TryAddSingleton(sp => new MudAdmissionPolicy(
            sp.GetRequiredService<IOptions<MudAdmissionOptions>>().Value,
            sp.GetRequiredService<IMudFileSource>(),
            sp.GetRequiredService<IMudQuarantine>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<MudAdmissionPolicy>>(),
            sp.GetService<FedEdge.Mud.PolicyServer.UserPolicyServer>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdmissionPolicy, MudAdmissionPolicy>(sp => sp.GetRequiredService<MudAdmissionPolicy>()));
        return new MudAdmissionBuilder(services);
    }

    /// <summary>
    /// Adds the User Policy Server over a JSON file store at <paramref name="storePath"/>; the admission policy then
    /// merges administrator overlays before checking the coordinator endpoint. Idempotent.
    /// </summary>
    public static MudAdmissionBuilder AddUserPolicyServer(this MudAdmissionBuilder builder, string storePath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(storePath);
        builder.Services.TryAddSingleton(_ => new FedEdge.Mud.PolicyServer.UserPolicyServer(FedEdge.Mud.PolicyServer.UserPolicyStores.File(storePath)));
        return builder;
    }
}
