using Microsoft.AspNetCore.SignalR;

namespace FedEdge.Dashboard.Hosting;

/// <summary>The push channel: read-only, browsers can call nothing; the broadcaster sends <c>snapshot</c> messages.</summary>
internal sealed class DashboardHub : Hub
{
}
