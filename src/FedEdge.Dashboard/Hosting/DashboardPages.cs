using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace FedEdge.Dashboard.Hosting;

/// <summary>The page shell and the embedded static files (script, styles, the vendored SignalR client).</summary>
internal static class DashboardPages
{
    public static IResult Page(string basePath, string page, string title, long? round = null)
    {
        string b = System.Net.WebUtility.HtmlEncode(basePath);
        string html = $$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>FedEdge · {{System.Net.WebUtility.HtmlEncode(title)}}</title>
            <link rel="stylesheet" href="{{b}}/_fededge/dashboard.css"></head>
            <body data-page="{{page}}" data-base="{{b}}" data-round="{{round}}">
            <header><strong>FedEdge</strong> <span id="federation"></span>
            <nav><a href="{{b}}/">Federation</a> <a href="{{b}}/devices">Devices</a> <a href="{{b}}/rounds">Rounds</a></nav>
            <span id="live" class="status">connecting…</span></header>
            <section class="summary">round <span id="round">–</span> · phase <span id="phase">–</span> · participants <span id="participants">–</span> <span id="epsilon-box" hidden>· ε <span id="epsilon"></span></span> <span id="stop"></span></section>
            <main id="content"></main>
            <script src="{{b}}/_fededge/signalr.min.js"></script>
            <script src="{{b}}/_fededge/dashboard.js"></script>
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }

    public static IResult Asset(string name, string contentType)
    {
        using Stream? stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("FedEdge.Dashboard." + name);
        if (stream is null)
        {
            return Results.NotFound();
        }

        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Results.Content(reader.ReadToEnd(), contentType);
    }
}
