using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace FedEdge.Cli.Hosting;

/// <summary>Writes each log entry as one line (time, level, category, message, and an error's type and message): never a stack trace.</summary>
internal sealed class OneLineConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "fededge-one-line";

    public override void Write<TState>(in LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        string level = logEntry.LogLevel switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
        string category = logEntry.Category.StartsWith("FedEdge.", StringComparison.Ordinal) ? logEntry.Category["FedEdge.".Length..] : logEntry.Category;
        string error = logEntry.Exception is { } ex ? $" ({ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")})" : string.Empty;
        textWriter.WriteLine($"{level}: {category}: {message.ReplaceLineEndings(" ")}{error}");
    }
}

/// <summary>Console logging for the CLI hosts: one line per entry, on standard error (standard output carries the results).</summary>
internal static class CliLogging
{
    public static ILoggingBuilder AddCliConsole(this ILoggingBuilder logging, bool verbose)
    {
        logging.ClearProviders();
        logging.AddConsole(o =>
        {
            o.FormatterName = OneLineConsoleFormatter.FormatterName;
            o.LogToStandardErrorThreshold = LogLevel.Trace;
        });
        logging.AddConsoleFormatter<OneLineConsoleFormatter, ConsoleFormatterOptions>();
        logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);

        // The host's own start-up failures reach the user as the command's one-line error instead.
        logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        return logging;
    }
}
