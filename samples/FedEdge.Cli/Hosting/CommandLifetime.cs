using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FedEdge.Cli.Hosting;

/// <summary>
/// The lifetime of a host inside a CLI command: the command owns Ctrl+C and SIGTERM (System.CommandLine cancels its
/// token). The default console lifetime would take SIGTERM over and only ask the host to stop, leaving a command that
/// waits on its own token (a worker retrying a broker that is gone) running until SIGKILL.
/// </summary>
internal sealed class CommandLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Registers <see cref="CommandLifetime"/>.</summary>
internal static class CommandLifetimeExtensions
{
    /// <summary>Leaves Ctrl+C and SIGTERM to the command (see <see cref="CommandLifetime"/>).</summary>
    public static IServiceCollection AddCommandLifetime(this IServiceCollection services) => services.AddSingleton<IHostLifetime, CommandLifetime>();
}
