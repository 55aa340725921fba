using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FedEdge.Dashboard.Hosting;

/// <summary>
/// Builds at most one snapshot per push interval, and only when the monitor changed; serialises it once and sends
/// the same text to every browser, so the cost does not grow with the number of browsers beyond the send.
/// </summary>
internal sealed class DashboardBroadcaster(FederationMonitor monitor, IHubContext<DashboardHub> hub, IOptions<DashboardOptions> options, TimeProvider? time = null) : BackgroundService
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly Lock _gate = new();
    private string? _json;
    private long _version = -1;

    /// <summary>The latest snapshot as JSON, rebuilt when the monitor has changed since.</summary>
    public string Current()
    {
        lock (_gate)
        {
            if (_json is null || _version != monitor.Version)
            {
                DashboardSnapshot snapshot = monitor.BuildSnapshot();
                _json = JsonSerializer.Serialize(snapshot, Json);
                _version = snapshot.Version;
            }

            return _json;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PushInterval, time ?? TimeProvider.System);
        long sent = -1;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (monitor.Version == sent)
                {
                    continue;
                }

                sent = monitor.Version;
                await hub.Clients.All.SendAsync("snapshot", Current(), stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host stopping.
        }
    }
}
