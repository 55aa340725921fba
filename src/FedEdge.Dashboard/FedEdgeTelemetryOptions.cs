namespace FedEdge.Dashboard;

/// <summary>What <c>services.AddFedEdgeTelemetry()</c> exports.</summary>
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
