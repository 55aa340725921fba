using System.Collections.Concurrent;
using System.Net;
using System.Text;
using FedEdge.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FedEdge.Dashboard.Tests;

/// <summary>`fededge simulate --otlp URL` (the CLI as a process) against an in-process OTLP/HTTP receiver on loopback.</summary>
[Collection(DashboardCollection.Name)]
public sealed class OtlpExportCliTests
{
    [Fact]
    public async Task Simulate_Otlp_MetricsAndRoundTracesReachTheCollector()
    {
        var received = new ConcurrentDictionary<string, ConcurrentBag<byte[]>>(StringComparer.Ordinal);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using WebApplication collector = builder.Build();
        collector.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            if (request.ContentType != "application/x-protobuf")
            {
                return Results.StatusCode(415);
            }

            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.GetOrAdd(signal, _ => []).Add(body.ToArray());
            return Results.Ok();
        });
        await collector.StartAsync();
        string url = collector.Urls.First();

        string outDir = Directory.CreateTempSubdirectory("fededge-otlp-").FullName;
        CliResult run = await CliRunner.RunAsync(["simulate", "--rounds", "2", "--otlp", url, "--out", outDir, "--runs", Path.Combine(outDir, "runs")], outDir);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);

        Assert.True(received.ContainsKey("metrics"), "no OTLP metrics arrived; signals: " + string.Join(", ", received.Keys));
        string metrics = Encoding.UTF8.GetString([.. received["metrics"].SelectMany(b => b)]);
        foreach (string instrument in new[] { "fededge.round.duration", "fededge.round.participants", "fededge.transport.bytes", "fededge.mud.admissions" })
        {
            Assert.Contains(instrument, metrics, StringComparison.Ordinal);
        }

        Assert.True(received.ContainsKey("traces"), "no OTLP traces arrived");
        string traces = Encoding.UTF8.GetString([.. received["traces"].SelectMany(b => b)]);
        foreach (string span in new[] { "fededge.round", "fededge.round.window", "fededge.round.train", "fededge.round.aggregate", "fededge.round.publish" })
        {
            Assert.Contains(span, traces, StringComparison.Ordinal);
        }

        Assert.Contains("fededge", traces, StringComparison.Ordinal);
    }
}
