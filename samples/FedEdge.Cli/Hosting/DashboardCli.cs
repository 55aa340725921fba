using System.CommandLine;
using System.Globalization;
using System.Net;
using FedEdge.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FedEdge.Cli.Hosting;

/// <summary>Where and how the dashboard listens (from <c>--dashboard</c>, <c>--dashboard-bind</c>, <c>--dashboard-token</c>, <c>--otlp</c>).</summary>
internal sealed record DashboardSettings(IPEndPoint? Endpoint, string? TokenFile, Uri? Otlp);

/// <summary>The dashboard and telemetry options shared by <c>simulate</c> and <c>coordinator</c>, and the web host behind them.</summary>
internal static class DashboardCli
{
    public const int DefaultPort = 5080;

    private sealed record Options(Option<string?> Dashboard, Option<string?> Bind, Option<FileInfo?> Token, Option<string?> Otlp);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Command, Options> Added = [];

    /// <summary>Adds <c>--dashboard [ADDRESS:]PORT</c> (the port optional when <paramref name="portOptional"/>), <c>--dashboard-bind</c>, <c>--dashboard-token</c> and <c>--otlp</c>.</summary>
    public static void AddTo(Command command, bool portOptional)
    {
        var o = new Options(
            new Option<string?>("--dashboard") { Description = $"Serve the live dashboard on [ADDRESS:]PORT (loopback unless --dashboard-bind){(portOptional ? $"; without a value port {DefaultPort}" : string.Empty)}.", HelpName = "[ADDRESS:]PORT", Arity = portOptional ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne },
            new Option<string?>("--dashboard-bind") { Description = "The address the dashboard listens on (default 127.0.0.1); beyond loopback it needs --dashboard-token.", HelpName = "ADDRESS" },
            new Option<FileInfo?>("--dashboard-token") { Description = "A file whose first line is the dashboard's access token (open http://HOST:PORT/?access_token=TOKEN); required beyond loopback.", HelpName = "FILE" },
            new Option<string?>("--otlp") { Description = "Export metrics and traces over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318.", HelpName = "URL" });
        command.Options.Add(o.Dashboard);
        command.Options.Add(o.Bind);
        command.Options.Add(o.Token);
        command.Options.Add(o.Otlp);
        Added.Add(command, o);
    }

    /// <summary>Reads the options; null settings mean neither a dashboard nor export; a problem is a usage error.</summary>
    public static DashboardSettings? Resolve(ParseResult parse, out string? problem)
    {
        problem = null;
        Options o = Added.TryGetValue(parse.CommandResult.Command, out Options? found) ? found : throw new InvalidOperationException("The dashboard options were not added.");
        Uri? otlp = null;
        if (parse.GetValue(o.Otlp) is { } url && (!Uri.TryCreate(url, UriKind.Absolute, out otlp) || (otlp.Scheme != Uri.UriSchemeHttp && otlp.Scheme != Uri.UriSchemeHttps)))
        {
            problem = $"--otlp '{url}' is not an http:// or https:// URL (e.g. http://127.0.0.1:4318).";
            return null;
        }

        string? token = parse.GetValue(o.Token)?.FullName;
        if (token is not null && !File.Exists(token))
        {
            problem = $"--dashboard-token: the file '{token}' was not found.";
            return null;
        }

        IPEndPoint? endpoint = null;
        if (parse.GetResult(o.Dashboard) is not null)
        {
            string spec = parse.GetValue(o.Dashboard) ?? string.Empty;
            IPAddress address = IPAddress.Loopback;
            int port = DefaultPort;
            int colon = spec.LastIndexOf(':');
            string portText = colon >= 0 ? spec[(colon + 1)..] : spec;
            if ((colon >= 0 && !IPAddress.TryParse(spec[..colon].Trim('[', ']'), out address!))
                || (portText.Length > 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)))
            {
                problem = $"--dashboard '{spec}' is not [ADDRESS:]PORT (e.g. 127.0.0.1:5080, port 1-65535).";
                return null;
            }

            if (parse.GetValue(o.Bind) is { } bind && !IPAddress.TryParse(bind, out address!))
            {
                problem = $"--dashboard-bind '{bind}' is not an IP address.";
                return null;
            }

            if (!IPAddress.IsLoopback(address) && token is null)
            {
                problem = $"the dashboard would listen on {address}, beyond loopback: pass --dashboard-token FILE (a file holding a long random access token), or bind 127.0.0.1.";
                return null;
            }

            endpoint = new IPEndPoint(address, port);
        }
        else if (parse.GetValue(o.Bind) is not null || token is not null)
        {
            problem = "--dashboard-bind and --dashboard-token need --dashboard.";
            return null;
        }

        return endpoint is null && otlp is null ? null : new DashboardSettings(endpoint, token, otlp);
    }

    /// <summary>Starts the dashboard's web host (and the OTLP export) for <paramref name="monitor"/>; dispose it to stop.</summary>
    public static async Task<WebApplication> StartAsync(DashboardSettings settings, FederationMonitor monitor, CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(monitor);
        builder.Services.AddFedEdgeDashboard(o =>
        {
            o.RequireToken = settings.TokenFile is not null;
            o.TokenFile = settings.TokenFile;
        });
        builder.Services.AddFedEdgeTelemetry(o =>
        {
            o.OtlpEndpoint = settings.Otlp;
            o.Prometheus = settings.Endpoint is not null;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (settings.Endpoint is { } endpoint)
            {
                k.Listen(endpoint);
            }
        });
        if (settings.Endpoint is null)
        {
            // --otlp alone: no web server, only the export.
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }

        WebApplication app = builder.Build();
        app.MapFedEdgeDashboard();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }
}
