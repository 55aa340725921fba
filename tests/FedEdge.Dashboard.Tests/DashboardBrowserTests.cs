using System.Net;
using System.Net.Sockets;
using FedEdge.Testing;
using Microsoft.Playwright;

namespace FedEdge.Dashboard.Tests;

/// <summary>
/// The dashboard from the README's command (`fededge simulate --dashboard PORT`, the CLI as a process) in Debian's
/// Chromium driven by Playwright, while the federation runs.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task SimulateDashboard_InChromium_RoundAdvancesLiveAndRefusalsAndTemperaturesShow()
    {
        if (!File.Exists(Chromium))
        {
            Assert.False(RepoPaths.IsCi, "Debian's chromium is not installed; .ci/run installs it (apt-get install chromium).");
            return;
        }

        int port = LoopbackPorts.Free();
        string outDir = Directory.CreateTempSubdirectory("fededge-dash-").FullName;

        // A slow enough run to watch: every message is delayed, so a round takes a good fraction of a second.
        await using CliProcess sim = CliProcess.Start("simulate", ["simulate", "--dashboard", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--thermal", "simulated", "--reputation", "--committee", "4", "--faulty-validator", "down", "--rounds", "60", "--faults", "delay=150ms", "--out", outDir]);
        await sim.WaitForLineAsync(l => l.Contains("round   2", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "round 2");

        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await LaunchAsync(playwright);
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout(60_000);
        string url = $"http://127.0.0.1:{port}";

        // Federation page: the round number advances without a reload (SignalR push).
        await page.GotoAsync(url + "/");
        await page.WaitForFunctionAsync("() => document.getElementById('live').textContent === 'live'");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('round').textContent) > 0");
        long first = long.Parse(await page.Locator("#round").TextContentAsync() ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        await page.EvaluateAsync("() => { window.__notReloaded = true; }");
        await page.WaitForFunctionAsync($"() => Number(document.getElementById('round').textContent) >= {first + 2}", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.__notReloaded === true"), "the page reloaded");
        Assert.True(await page.Locator("#rounds tr").CountAsync() > 2);
        Assert.True(await page.Locator(".charts svg polyline.series-F1").CountAsync() == 1);
        string screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "federation.png"), FullPage = true });

        // Devices page: the demo's two MUD refusals with their reasons, and simulated temperatures.
        await page.GotoAsync(url + "/devices");
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#devices tr.refused').length >= 2");
        string devices = await page.Locator("#devices").InnerTextAsync();
        Assert.Contains("Unprofiled_IP_Camera", devices, StringComparison.Ordinal);
        Assert.Contains("The device presented no MUD URL.", devices, StringComparison.Ordinal);
        Assert.Contains("Tampered_Baby_Monitor", devices, StringComparison.Ordinal);
        Assert.Contains("MUD signature invalid", devices, StringComparison.Ordinal);
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#devices td.temp')].some(td => /^\\d+\\.\\d °C$/.test(td.textContent))");
        Assert.Matches(@"Danmini_Doorbell\s+Training\s+[\d.]+ s ago\s+\d+\.\d °C", devices.Replace("ReadyForLearning", "Training", StringComparison.Ordinal));

        // Reputation (--reputation): every admitted device shows its score.
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#devices td.reputation')].some(td => /^\\d\\.\\d\\d$/.test(td.textContent))");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "devices.png"), FullPage = true });

        // Round detail: accepted updates listed by device.
        await page.GotoAsync(url + "/rounds/1");
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#accepted tr').length > 1");
        Assert.Contains("Danmini_Doorbell", await page.Locator("#accepted").InnerTextAsync(), StringComparison.Ordinal);

        // ... and the transparency log's signed head after the round (simulate keeps a log in OUT/ledger).
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#ledger tr').length > 1");
        Assert.Matches(@"\d+\s+[0-9a-f]{64}\s+\S+", await page.Locator("#ledger").InnerTextAsync());

        // ... and the committee's co-signatures on that head (--committee 4 with the last validator down).
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#committee tr').length === 5");
        string committee = await page.Locator("#committee").InnerTextAsync();
        Assert.Matches(@"validator-0\s+yes\s+\S{80,}", committee);
        Assert.Matches(@"validator-3\s+no\s+down: validator-3 is down", committee);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, "round.png"), FullPage = true });
    }

    [Fact]
    public async Task TokenProtectedDashboard_InChromium_401WithoutTokenAndLiveWithIt()
    {
        if (!File.Exists(Chromium))
        {
            Assert.False(RepoPaths.IsCi, "Debian's chromium is not installed; .ci/run installs it (apt-get install chromium).");
            return;
        }

        // The policy beyond loopback (a token from a file), exercised on loopback: tests bind only 127.0.0.1.
        string token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
        string tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, token + "\n");
        int port = LoopbackPorts.Free();
        string outDir = Directory.CreateTempSubdirectory("fededge-dash-").FullName;
        await using CliProcess sim = CliProcess.Start("simulate", ["simulate", "--dashboard", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dashboard-token", tokenFile, "--rounds", "60", "--faults", "delay=150ms", "--out", outDir]);
        await sim.WaitForLineAsync(l => l.Contains("round   1", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "round 1");

        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await LaunchAsync(playwright);
        IPage page = await browser.NewPageAsync();
        page.SetDefaultTimeout(60_000);
        string url = $"http://127.0.0.1:{port}";
        // Chromium shows its own error page for a 401 with an empty body; read the responses through the page's request context.
        IAPIResponse refused = await page.APIRequest.GetAsync(url + "/");
        Assert.Equal(401, refused.Status);
        Assert.Empty(await refused.BodyAsync());
        IAPIResponse wrong = await page.APIRequest.GetAsync(url + "/?access_token=" + token[..^2]);
        Assert.Equal(401, wrong.Status);
        var blocked = await Assert.ThrowsAsync<PlaywrightException>(() => page.GotoAsync(url + "/devices"));
        Assert.Contains("ERR_HTTP_RESPONSE_CODE_FAILURE", blocked.Message, StringComparison.Ordinal);

        // The refused navigation leaves that page on Chromium's error page, which can interrupt the next navigation:
        // the token link opens in a fresh page.
        await page.CloseAsync();
        page = await browser.NewPageAsync();
        page.SetDefaultTimeout(60_000);
        IResponse? allowed = await page.GotoAsync(url + "/?access_token=" + token);
        Assert.Equal(200, allowed!.Status);
        await page.WaitForFunctionAsync("() => document.getElementById('live').textContent === 'live'");
        await page.WaitForFunctionAsync("() => Number(document.getElementById('round').textContent) > 0");
        long first = long.Parse(await page.Locator("#round").TextContentAsync() ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        await page.WaitForFunctionAsync($"() => Number(document.getElementById('round').textContent) > {first}", null, new PageWaitForFunctionOptions { Timeout = 60_000 });

        // The cookie the token link set carries the next pages; a fresh browser context without it gets 401 again.
        IResponse? devices = await page.GotoAsync(url + "/devices");
        Assert.Equal(200, devices!.Status);
        await using IBrowserContext stranger = await browser.NewContextAsync();
        Assert.Equal(401, (await stranger.APIRequest.GetAsync(url + "/devices")).Status);
        Assert.Equal(200, (await page.APIRequest.GetAsync(url + "/_fededge/snapshot")).Status);
    }

    private static Task<IBrowser> LaunchAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = Chromium,
        Headless = true,
        Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}
