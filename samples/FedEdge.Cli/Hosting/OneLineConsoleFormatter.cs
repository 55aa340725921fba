using System.CommandLine;
using FedEdge.Coordination;
using FedEdge.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli.Hosting;

/// <summary>Writes each log entry as one line (level, category, event id, message, and an error's type and message): never a stack trace.</summary>
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
        string eventId = logEntry.EventId.Id != 0 ? $"[{logEntry.EventId.Id}]" : string.Empty;
        textWriter.WriteLine($"{level}: {category}{eventId}: {message.ReplaceLineEndings(" ")}{error}");
    }
}

/// <summary>Console logging for the CLI hosts: one line per entry, on standard error (standard output carries the results).</summary>
internal static class CliLogging
{
    /// <summary>The names <c>--log-level</c> accepts.</summary>
    public static readonly string[] LevelNames = ["trace", "debug", "information", "warning", "error"];

    /// <summary>The <c>--log-level</c> option of a host command.</summary>
    public static Option<string?> CreateLevelOption()
    {
        Option<string?> option = new("--log-level") { Description = "Minimum level of the log lines on standard error (default: warning; --verbose means information).", HelpName = "LEVEL" };
        option.AcceptOnlyFromAmong(LevelNames);
        return option;
    }

    /// <summary>The minimum level: <paramref name="level"/> (a <see cref="LevelNames"/> entry) if given, else information with <paramref name="verbose"/>, else warning.</summary>
    public static LogLevel MinimumLevel(string? level, bool verbose) => level?.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" => LogLevel.Information,
        "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        null => verbose ? LogLevel.Information : LogLevel.Warning,
        _ => throw new ArgumentException($"--log-level '{level}' is unknown; use one of {string.Join(", ", LevelNames)}.", nameof(level)),
    };

    public static ILoggingBuilder AddCliConsole(this ILoggingBuilder logging, LogLevel minimumLevel)
    {
        logging.ClearProviders();
        logging.AddConsole(o =>
        {
            o.FormatterName = OneLineConsoleFormatter.FormatterName;
            o.LogToStandardErrorThreshold = LogLevel.Trace;
        });
        logging.AddConsoleFormatter<OneLineConsoleFormatter, ConsoleFormatterOptions>();
        logging.SetMinimumLevel(minimumLevel);

        // The host's own start-up failures reach the user as the command's one-line error instead.
        logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        return logging;
    }
}

/// <summary>Runs a CLI host: starts it, runs the command's body, and always stops and disposes it.</summary>
internal static class CliHost
{
    /// <summary>
    /// Starts <paramref name="host"/> (validating its options), runs <paramref name="body"/> and returns its exit code;
    /// a setting or composition that cannot work is one line on <paramref name="err"/> and exit code 2, never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(IHost host, string command, TextWriter err, Func<IServiceProvider, Task<int>> body, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return await body(host.Services).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OptionsValidationException or CoordinatorConfigurationException or FedEdge.Dashboard.DashboardConfigurationException or ProtocolMessagesNotSupportedException or ArgumentException or OverflowException)
        {
            await err.WriteLineAsync($"fededge {command}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);
        }
    }
}
