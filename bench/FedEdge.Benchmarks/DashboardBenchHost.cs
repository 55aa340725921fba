using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FedEdge.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>round --dashboard</c>: the dashboard host as <c>fededge simulate --dashboard</c> runs it (SignalR push every
/// 500 ms, Prometheus exporter), with one connected client that speaks SignalR's JSON protocol over a WebSocket
/// like the browser does, and scrapes <c>/metrics</c> once a second.
/// </summary>
internal sealed class DashboardBenchHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _client;
    private readonly Task _scraper;
    private int _snapshots;
    private long _snapshotBytes;
    private int _scrapes;

    private DashboardBenchHost(WebApplication app, Uri baseUri)
    {
        _app = app;
        Monitor = app.Services.GetRequiredService<FederationMonitor>();
        _client = Task.Run(() => ListenAsync(baseUri, _stop.Token));
        _scraper = Task.Run(() => ScrapeAsync(baseUri, _stop.Token));
    }

    public FederationMonitor Monitor { get; }

    public static async Task<DashboardBenchHost> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddFedEdgeDashboard();
        builder.Services.AddFedEdgeTelemetry();
        WebApplication app = builder.Build();
        app.MapFedEdgeDashboard();
        await app.StartAsync().ConfigureAwait(false);
        return new DashboardBenchHost(app, new Uri(app.Urls.First()));
    }

    public Dictionary<string, object?> Describe() => new()
    {
        ["snapshots_received"] = _snapshots,
        ["snapshot_bytes_mean"] = _snapshots == 0 ? 0 : Interlocked.Read(ref _snapshotBytes) / _snapshots,
        ["metrics_scrapes"] = _scrapes,
        ["client_error"] = _client.IsFaulted ? _client.Exception?.GetBaseException().Message : null,
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_client, _scraper).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task ListenAsync(Uri baseUri, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = baseUri };
        using HttpResponseMessage negotiate = await http.PostAsync("/_fededge/hub/negotiate?negotiateVersion=1", null, ct).ConfigureAwait(false);
        negotiate.EnsureSuccessStatusCode();
        using JsonDocument json = JsonDocument.Parse(await negotiate.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        string token = json.RootElement.GetProperty("connectionToken").GetString()!;
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{baseUri.Authority}/_fededge/hub?id={Uri.EscapeDataString(token)}"), ct).ConfigureAwait(false);
        await socket.SendAsync(Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e"), WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        byte[] buffer = new byte[1 << 20];
        var message = new MemoryStream();
        while (!ct.IsCancellationRequested)
        {
            WebSocketReceiveResult result = await socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                string text = Encoding.UTF8.GetString(message.ToArray());
                foreach (string frame in text.Split('\u001e', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (frame.Contains("\"target\":\"snapshot\"", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _snapshots);
                        Interlocked.Add(ref _snapshotBytes, frame.Length);
                    }
                }

                message.SetLength(0);
            }
        }
    }

    private async Task ScrapeAsync(Uri baseUri, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = baseUri };
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            _ = await http.GetStringAsync("/metrics", ct).ConfigureAwait(false);
            Interlocked.Increment(ref _scrapes);
        }
    }
}
