using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using FedEdge.Testing;

namespace FedEdge.Dashboard.Tests;

/// <summary>The dashboard options of the `fededge` CLI, run as a process.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardCliTests
{
    [Theory]
    [InlineData("simulate", "--dashboard", "5080", "--dashboard-bind", "0.0.0.0")]
    [InlineData("simulate", "--dashboard", "0.0.0.0:5080")]
    [InlineData("coordinator", "--dashboard", "0.0.0.0:5080")]
    public async Task Dashboard_BeyondLoopbackWithoutToken_RefusedWithUsageError(params string[] args)
    {
        CliResult result = await CliRunner.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("beyond loopback: pass --dashboard-token FILE", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--dashboard", "127.0.0.1:99999", "is not [ADDRESS:]PORT")]
    [InlineData("--dashboard", "nohost:80", "is not [ADDRESS:]PORT")]
    [InlineData("--otlp", "ftp://collector", "is not an http:// or https:// URL")]
    [InlineData("--dashboard-token", "/no/such/token", "was not found")]
    public async Task Simulate_BadDashboardOption_OneLineUsageError(string option, string value, string message)
    {
        CliResult result = await CliRunner.RunAsync(["simulate", option, value]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Simulate_DashboardAfterTheRun_StaysUpWithTheFinalState()
    {
        int port = LoopbackPorts.Free();
        string outDir = Directory.CreateTempSubdirectory("fededge-dash-").FullName;
        await using CliProcess sim = CliProcess.Start("simulate", ["simulate", "--dashboard", "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture), "--rounds", "2", "--out", outDir, "--runs", Path.Combine(outDir, "runs")]);
        await sim.WaitForLineAsync(l => l.Contains("the dashboard stays up", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "the run's end");

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using System.Text.Json.JsonDocument snapshot = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/_fededge/snapshot"));
        Assert.Equal(2, snapshot.RootElement.GetProperty("rounds").GetArrayLength());
        Assert.Equal("round budget of 2 reached", snapshot.RootElement.GetProperty("stopReason").GetString());
        Assert.False(sim.HasExited);
    }

    [Fact]
    public async Task Simulate_DashboardWithTokenFile_ServesOnlyWithTheToken()
    {
        string token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        string tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, token);
        int port = LoopbackPorts.Free();
        string outDir = Directory.CreateTempSubdirectory("fededge-dash-").FullName;
        await using CliProcess sim = CliProcess.Start("simulate", ["simulate", "--dashboard", port.ToString(CultureInfo.InvariantCulture), "--dashboard-token", tokenFile, "--rounds", "40", "--faults", "delay=100ms", "--dp-noise", "0.5", "--out", outDir]);
        await sim.WaitForLineAsync(l => l.Contains("round   1", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "round 1");

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using HttpResponseMessage none = await http.GetAsync("/_fededge/snapshot");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Empty(await none.Content.ReadAsByteArrayAsync());
        using HttpResponseMessage wrong = await http.GetAsync("/?access_token=" + token[..^1]);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var good = new HttpRequestMessage(HttpMethod.Get, "/_fededge/snapshot");
        good.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using HttpResponseMessage ok = await http.SendAsync(good);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using System.Text.Json.JsonDocument snapshot = System.Text.Json.JsonDocument.Parse(await ok.Content.ReadAsStringAsync());
        Assert.Equal("nbaiot-simulation", snapshot.RootElement.GetProperty("federation").GetString());
        Assert.True(snapshot.RootElement.GetProperty("epsilon").GetDouble() > 0, "ε is shown when DP is on");
        Assert.True(snapshot.RootElement.GetProperty("rounds")[0].GetProperty("epsilon").GetDouble() > 0);
        using var metrics = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        metrics.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using HttpResponseMessage scraped = await http.SendAsync(metrics);
        Assert.Contains("fededge_round_duration_seconds", await scraped.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
