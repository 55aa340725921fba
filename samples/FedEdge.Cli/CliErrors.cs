using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace FedEdge.Cli;

/// <summary>
/// The CLI's error contract: every error is one line on standard error, exit code 2 for a usage error (a bad
/// command, option or value) and 1 for a runtime failure; never a stack trace.
/// </summary>
internal static class CliErrors
{
    public const int Runtime = 1;
    public const int Usage = 2;

    /// <summary>Exit code of a command cancelled by Ctrl+C (128 + SIGINT), as System.CommandLine returns.</summary>
    public const int Cancelled = 130;

    /// <summary>
    /// Runs <paramref name="parse"/>: parse errors (unless the command handles them itself) become one line and exit
    /// code 2; an exception no command expected becomes one line (<c>fededge: Type: message</c>) and exit code 1.
    /// </summary>
    public static async Task<int> InvokeAsync(ParseResult parse, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(error);
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
        {
            await error.WriteLineAsync(UsageLine(parse)).ConfigureAwait(false);
            return Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return Cancelled;
        }
        catch (Exception ex)
        {
            // The safety net: whatever a command did not expect still ends as one line, never a stack trace.
            await error.WriteLineAsync(RuntimeLine(ex)).ConfigureAwait(false);
            return Runtime;
        }
    }

    /// <summary>One line for the parse errors: the first error, how many more, and where help is.</summary>
    public static string UsageLine(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        string command = CommandPath(parse.CommandResult.Command);
        string more = parse.Errors.Count > 1 ? $" ({parse.Errors.Count - 1} more)" : string.Empty;

        // "Required command was not provided" follows from an unrecognised one; the latter says what went wrong.
        ParseError first = parse.Errors.FirstOrDefault(e => parse.UnmatchedTokens.Any(t => e.Message.Contains(t, StringComparison.Ordinal))) ?? parse.Errors[0];
        return $"{command}: {OneLine(first.Message)}{more} See '{command} --help'.";
    }

    /// <summary>One line for an unexpected exception: its type and message, and those of its innermost cause.</summary>
    public static string RuntimeLine(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Exception root = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        Exception inner = root.GetBaseException();
        string cause = ReferenceEquals(inner, root) || root.Message.Contains(inner.Message, StringComparison.Ordinal) ? string.Empty : $" ({inner.GetType().Name}: {OneLine(inner.Message)})";
        return $"fededge: {root.GetType().Name}: {OneLine(root.Message)}{cause}";
    }

    private static string OneLine(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Symbol? symbol = command; symbol is Command c; symbol = c.Parents.FirstOrDefault())
        {
            names.Insert(0, c is RootCommand ? "fededge" : c.Name);
        }

        return string.Join(' ', names);
    }
}
