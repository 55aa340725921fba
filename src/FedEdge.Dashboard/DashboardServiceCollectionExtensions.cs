using FedEdge.Dashboard;
using FedEdge.Dashboard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers and mounts the FedEdge dashboard and the OpenTelemetry export of FedEdge's meters and activity sources.</summary>
public static class DashboardServiceCollectionExtensions
{
    /// <summary>
    /// Registers the dashboard: a <see cref="FederationMonitor"/> (the host attaches its coordinator and records rounds),
    /// SignalR and the throttled broadcaster. Mount it with <see cref="MapFedEdgeDashboard"/>. Idempotent.
    /// </summary>
    public static FedEdgeDashboardBuilder AddFedEdgeDashboard(this IServiceCollection services, Action<DashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<DashboardOptions> options = services.AddOptions<DashboardOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(DashboardBroadcaster)))
        {
            return new FedEdgeDashboardBuilder(services);
        }

        options.Validate(o =>
        {
            o.Validate();
            return true;
        }).ValidateOnStart();
        services.TryAddSingleton<FederationMonitor>();
        services.AddSignalR();
        services.AddSingleton<DashboardBroadcaster>();
        services.AddHostedService(sp => sp.GetRequiredService<DashboardBroadcaster>());
        return new FedEdgeDashboardBuilder(services);
    }

    /// <summary>
    /// Wires the meters and activity sources of every FedEdge package (<c>FedEdge.*</c>: Core, Transport, Mud, Privacy,
    /// Hardware, Torch) into OpenTelemetry, with an OTLP exporter when <see cref="FedEdgeTelemetryOptions.OtlpEndpoint"/>
    /// is set and a Prometheus exporter (scraped at <c>/metrics</c> by <see cref="MapFedEdgeDashboard"/>) when
    /// <see cref="FedEdgeTelemetryOptions.Prometheus"/> is on. Add more exporters with
    /// <c>services.ConfigureOpenTelemetryMeterProvider(...)</c> / <c>ConfigureOpenTelemetryTracerProvider(...)</c>.
    /// </summary>
    public static IServiceCollection AddFedEdgeTelemetry(this IServiceCollection services, Action<FedEdgeTelemetryOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var settings = new FedEdgeTelemetryOptions();
        configure?.Invoke(settings);
        if (settings.OtlpEndpoint is { } endpoint && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)))
        {
            throw new ArgumentException($"The OTLP endpoint must be an absolute http:// or https:// URL; '{endpoint}' is not.", nameof(configure));
        }

        services.TryAddSingleton(settings);
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName))
            .WithMetrics(m =>
            {
                m.AddMeter(FedEdgeTelemetryOptions.SourcePattern);
                if (settings.Prometheus)
                {
                    m.AddPrometheusExporter();
                }

                if (settings.OtlpEndpoint is { } otlp)
                {
                    m.AddOtlpExporter(e => Otlp(e, otlp, "v1/metrics"));
                }
            })
            .WithTracing(t =>
            {
                t.AddSource(FedEdgeTelemetryOptions.SourcePattern);
                if (settings.OtlpEndpoint is { } otlp)
                {
                    t.AddOtlpExporter(e => Otlp(e, otlp, "v1/traces"));
                }
            });
        return services;
    }

    /// <summary>
    /// Mounts the dashboard under <paramref name="prefix"/> (default the root): pages <c>/</c> (federation),
    /// <c>/devices</c>, <c>/rounds</c> and <c>/rounds/{n}</c>, the SignalR push channel, and <c>/metrics</c> when
    /// <see cref="AddFedEdgeTelemetry"/> enabled Prometheus. Everything is read-only (GET only, no hub methods). With
    /// <see cref="DashboardOptions.RequireToken"/>, every request the application serves must carry the token
    /// (401 and an empty body otherwise). Throws <see cref="DashboardConfigurationException"/> for an unusable token file.
    /// </summary>
    public static IEndpointRouteBuilder MapFedEdgeDashboard(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        string basePath = prefix.TrimEnd('/');
        DashboardOptions options = endpoints.ServiceProvider.GetRequiredService<IOptions<DashboardOptions>>().Value;
        options.Validate();
        if (options.RequireToken)
        {
            TokenGate gate = TokenGate.FromFile(options.TokenFile!);
            if (endpoints is not IApplicationBuilder app)
            {
                throw new DashboardConfigurationException("A token-protected dashboard must be mounted on the WebApplication itself, so the token check runs before anything is served.");
            }

            app.Use(next => context => gate.InvokeAsync(context, next));
        }

        RouteGroupBuilder group = endpoints.MapGroup(basePath);
        group.MapGet("/", () => DashboardPages.Page(basePath, "federation", "Federation"));
        group.MapGet("/devices", () => DashboardPages.Page(basePath, "devices", "Devices"));
        group.MapGet("/rounds", () => DashboardPages.Page(basePath, "rounds", "Rounds"));
        group.MapGet("/rounds/{round:long}", (long round) => DashboardPages.Page(basePath, "round", "Round " + round, round));
        group.MapGet("/_fededge/snapshot", (DashboardBroadcaster b) => Results.Content(b.Current(), "application/json"));
        group.MapGet("/_fededge/dashboard.js", () => DashboardPages.Asset("dashboard.js", "text/javascript"));
        group.MapGet("/_fededge/dashboard.css", () => DashboardPages.Asset("dashboard.css", "text/css"));
        group.MapGet("/_fededge/signalr.min.js", () => DashboardPages.Asset("signalr.min.js", "text/javascript"));
        group.MapGet("/_fededge/signalr.LICENSE.txt", () => DashboardPages.Asset("signalr.LICENSE.txt", "text/plain"));
        endpoints.MapHub<DashboardHub>(basePath + "/_fededge/hub");
        if (endpoints.ServiceProvider.GetService<FedEdgeTelemetryOptions>() is { Prometheus: true })
        {
            endpoints.MapPrometheusScrapingEndpoint(basePath + "/metrics");
        }

        return endpoints;
    }

    private static void Otlp(OpenTelemetry.Exporter.OtlpExporterOptions exporter, Uri endpoint, string signal)
    {
        // OTLP over HTTP/protobuf: the base URL plus the signal's path (the collector's port 4318 convention).
        exporter.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
        exporter.Endpoint = new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signal);
    }
}

/// <summary>Returned by <see cref="DashboardServiceCollectionExtensions.AddFedEdgeDashboard"/>.</summary>
public sealed class FedEdgeDashboardBuilder
{
    internal FedEdgeDashboardBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }
}

/// <summary>What <see cref="DashboardServiceCollectionExtensions.AddFedEdgeTelemetry"/> exports.</summary>
public sealed class FedEdgeTelemetryOptions
{
    /// <summary>The meter and activity source names wired: every FedEdge package's (<c>FedEdge.Core</c>, <c>FedEdge.Hardware</c>, ...).</summary>
    public const string SourcePattern = "FedEdge.*";

    /// <summary>The OTLP/HTTP collector base URL (e.g. <c>http://127.0.0.1:4318</c>); metrics go to <c>/v1/metrics</c>, traces to <c>/v1/traces</c>. Null exports no OTLP.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>Expose metrics for Prometheus at <c>/metrics</c> on the dashboard host. Default on.</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>The <c>service.name</c> resource attribute. Default <c>fededge</c>.</summary>
    public string ServiceName { get; set; } = "fededge";
}
