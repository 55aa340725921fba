using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FedEdge.Coordination;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FedEdge.Dashboard.Tests;

/// <summary>The dashboard mounted in a host application exactly as the package README shows, on a loopback port.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardHostTests
{
    private const string Token = "a-long-random-dashboard-token-0123456789";

    [Fact]
    public async Task MapFedEdgeDashboard_TokenRequired_AbsentOrBadTokenGets401AndNothingServed()
    {
        string tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, Token + "\n");
        await using WebApplication app = await StartAsync(o =>
        {
            o.RequireToken = true;
            o.TokenFile = tokenFile;
        });
        using var http = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = new Uri(app.Urls.First()) };

        foreach (string path in new[] { "/", "/devices", "/rounds/1", "/_fededge/snapshot", "/_fededge/dashboard.js", "/metrics", "/_fededge/hub/negotiate?negotiateVersion=1", "/no-such-page" })
        {
            using HttpResponseMessage none = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Empty(await none.Content.ReadAsByteArrayAsync());

            using var bad = new HttpRequestMessage(HttpMethod.Get, path);
            bad.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
            using HttpResponseMessage badResponse = await http.SendAsync(bad);
            Assert.Equal(HttpStatusCode.Unauthorized, badResponse.StatusCode);
            Assert.Empty(await badResponse.Content.ReadAsByteArrayAsync());
        }

        using var good = new HttpRequestMessage(HttpMethod.Get, "/devices");
        good.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using HttpResponseMessage ok = await http.SendAsync(good);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("data-page=\"devices\"", await ok.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A valid query token (the link an operator opens) sets the cookie the page's scripts and SignalR then use.
        using HttpResponseMessage viaQuery = await http.GetAsync("/?access_token=" + Token);
        Assert.Equal(HttpStatusCode.OK, viaQuery.StatusCode);
        string cookie = Assert.Single(viaQuery.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        using var withCookie = new HttpRequestMessage(HttpMethod.Get, "/_fededge/snapshot");
        withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
        using HttpResponseMessage snapshot = await http.SendAsync(withCookie);
        Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);
    }

    [Fact]
    public async Task AddFedEdgeDashboard_TokenRequiredWithoutTokenFile_HostRefusesToStart()
    {
        Exception ex = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(o => o.RequireToken = true));
        Assert.True(ex is DashboardConfigurationException or OptionsValidationException, ex.ToString());
        Assert.Contains("TokenFile", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapFedEdgeDashboard_TokenFileTooShort_RefusedWithReason()
    {
        string tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, "short");
        var ex = await Assert.ThrowsAsync<DashboardConfigurationException>(() => StartAsync(o =>
        {
            o.RequireToken = true;
            o.TokenFile = tokenFile;
        }));
        Assert.Contains("shorter than 16", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_RealFederation_ShowsRoundsAcceptedUpdatesDevicesAndTheRefusalReason()
    {
        await using WebApplication app = await StartAsync(o => o.PushInterval = TimeSpan.FromMilliseconds(100));
        FederationMonitor monitor = app.Services.GetRequiredService<FederationMonitor>();
        await using (SmallFederation federation = await SmallFederation.StartAsync(rounds: 2))
        {
            using IDisposable watching = monitor.Attach(federation.Coordinator);
            await foreach (RoundResult r in federation.Coordinator.RunAsync())
            {
                monitor.RecordRound(r);
            }

            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
            using JsonDocument json = JsonDocument.Parse(await http.GetStringAsync("/_fededge/snapshot"));
            JsonElement root = json.RootElement;
            Assert.Equal(2, root.GetProperty("round").GetInt64());
            Assert.Equal(nameof(RoundPhase.Idle), root.GetProperty("phase").GetString());
            JsonElement[] rounds = [.. root.GetProperty("rounds").EnumerateArray()];
            Assert.Equal([1L, 2L], rounds.Select(r => r.GetProperty("round").GetInt64()));
            Assert.All(rounds, r => Assert.Equal(2, r.GetProperty("accepted").GetArrayLength()));
            JsonElement[] devices = [.. root.GetProperty("devices").EnumerateArray()];
            Assert.Equal(3, devices.Length);
            JsonElement refused = Assert.Single(devices, d => d.GetProperty("state").GetString() == "Refused");
            Assert.Equal(SmallFederation.Intruder, refused.GetProperty("id").GetString());
            Assert.Contains("not on the allow list", refused.GetProperty("refusalReason").GetString(), StringComparison.Ordinal);

            // The host recorded no per-device figures (as `fededge coordinator` does not): the bytes are the transport's count per device.
            JsonElement[] admitted = [.. devices.Where(d => d.GetProperty("state").GetString() != "Refused")];
            Assert.Equal(2, admitted.Length);
            Assert.All(admitted, d => Assert.True(d.GetProperty("bytesUp").GetInt64() > 0 && d.GetProperty("bytesDown").GetInt64() > 0, d.ToString()));
            foreach (JsonElement d in admitted)
            {
                // Heartbeats go on after the snapshot: the count can only have grown since.
                Assert.InRange(d.GetProperty("bytesUp").GetInt64(), 1, federation.Coordinator.TransportStatistics.PerDevice[d.GetProperty("id").GetString()!].BytesReceived);
            }
            Assert.Contains("<svg", root.GetProperty("qualityChart").GetString(), StringComparison.Ordinal);

            string page = await http.GetStringAsync("/rounds/2");
            Assert.Contains("data-round=\"2\"", page, StringComparison.Ordinal);
            Assert.Contains("_fededge/signalr.min.js", page, StringComparison.Ordinal);
            Assert.Contains("MIT", await http.GetStringAsync("/_fededge/signalr.LICENSE.txt"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Snapshot_EdgeAttached_DevicesFollowTheirEdgeInTheTree()
    {
        var monitor = new FederationMonitor();
        await using SmallFederation edge = await SmallFederation.StartAsync(rounds: 1);
        using IDisposable watching = monitor.AttachEdge("edge-7", edge.Coordinator);
        await foreach (RoundResult r in edge.Coordinator.RunAsync())
        {
            Assert.True(r.Completed, r.FailureReason);
        }

        DashboardSnapshot snapshot = monitor.BuildSnapshot();

        Assert.Equal("edge-7", snapshot.Devices[0].Id);
        Assert.Equal("Edge", snapshot.Devices[0].State);
        Assert.Null(snapshot.Devices[0].Edge);
        Assert.Equal(3, snapshot.Devices.Count(d => d.Edge == "edge-7"));
        Assert.Equal("Refused", snapshot.Devices[^1].State);
        Assert.Equal(SmallFederation.Intruder, snapshot.Devices[^1].Id);
    }

    private static async Task<WebApplication> StartAsync(Action<DashboardOptions> configure)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddFedEdgeDashboard(configure);
        builder.Services.AddFedEdgeTelemetry();
        WebApplication app = builder.Build();
        try
        {
            app.MapFedEdgeDashboard();
            await app.StartAsync();
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }
}
