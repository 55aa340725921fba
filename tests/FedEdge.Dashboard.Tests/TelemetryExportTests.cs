using System.Diagnostics;
using FedEdge.Coordination;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace FedEdge.Dashboard.Tests;

/// <summary>AddFedEdgeTelemetry composed as the README shows, with OpenTelemetry's in-memory exporters, over a real federation.</summary>
[Collection(DashboardCollection.Name)]
public sealed class TelemetryExportTests
{
    [Fact]
    public async Task AddFedEdgeTelemetry_RealRounds_ExportsFedEdgeInstrumentsAndOneTracePerRound()
    {
        var metrics = new List<Metric>();
        var activities = new List<Activity>();
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddFedEdgeTelemetry(o => o.Prometheus = false);
        services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(metrics));
        services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(activities));
        await using ServiceProvider provider = services.BuildServiceProvider();
        MeterProvider meters = provider.GetRequiredService<MeterProvider>();
        TracerProvider tracer = provider.GetRequiredService<TracerProvider>();

        await using (SmallFederation federation = await SmallFederation.StartAsync(rounds: 2, provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()))
        {
            await foreach (RoundResult r in federation.Coordinator.RunAsync())
            {
                Assert.True(r.Completed, r.FailureReason);
            }
        }

        Assert.True(meters.ForceFlush());
        Assert.True(tracer.ForceFlush());
        string[] names = [.. metrics.Select(m => m.Name).Distinct()];
        Assert.Contains("fededge.round.duration", names);
        Assert.Contains("fededge.round.participants", names);
        Assert.Contains("fededge.transport.bytes", names);
        Assert.Equal("s", metrics.First(m => m.Name == "fededge.round.duration").Unit);

        Activity[] rounds = [.. activities.Where(a => a.OperationName == "fededge.round")];
        Assert.Equal(2, rounds.Length);
        foreach (Activity round in rounds)
        {
            foreach (string child in new[] { "fededge.round.window", "fededge.round.aggregate", "fededge.round.publish" })
            {
                Assert.Single(activities, a => a.OperationName == child && a.ParentSpanId == round.SpanId);
            }

            // Worker side: one train activity per device, in the round's trace through the task's traceparent.
            Activity[] trains = [.. activities.Where(a => a.OperationName == "fededge.round.train" && a.ParentSpanId == round.SpanId)];
            Assert.Equal(2, trains.Length);
            Assert.All(trains, t => Assert.Equal(round.TraceId, t.TraceId));
        }
    }
}
