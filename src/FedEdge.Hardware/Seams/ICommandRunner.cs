using System.ComponentModel;
using System.Diagnostics;

namespace FedEdge.Hardware.Seams;

/// <summary>What happened when a tool was run.</summary>
internal enum CommandState
{
    /// <summary>The tool is not installed (or no canned output exists): the reading is not available.</summary>
    NotFound = 0,

    /// <summary>The tool ran but failed (non-zero exit, timeout, no access to the firmware interface).</summary>
    Failed = 1,

    /// <summary>The tool succeeded; its standard output is available.</summary>
    Succeeded = 2,
}

/// <summary>The outcome of running a tool.</summary>
internal readonly record struct CommandOutput(CommandState State, string? StandardOutput, string? Error)
{
    public static CommandOutput NotFound { get; } = new(CommandState.NotFound, null, null);

    public static CommandOutput Failed(string error) => new(CommandState.Failed, null, error);

    public static CommandOutput Succeeded(string output) => new(CommandState.Succeeded, output, null);
}

/// <summary>The process seam of the probes (<c>vcgencmd</c>).</summary>
internal interface ICommandRunner
{
    /// <summary>Runs <paramref name="command"/> with <paramref name="arguments"/>. Never throws for a missing or failing tool.</summary>
    ValueTask<CommandOutput> RunAsync(string command, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default);
}

/// <summary>Runs real processes, with a timeout; a tool not on the PATH is "not found".</summary>
internal sealed class SystemCommandRunner : ICommandRunner
{
    private readonly TimeSpan _timeout;
    private readonly Func<string, string?> _environment;

    public SystemCommandRunner(TimeSpan timeout, Func<string, string?>? environment = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        _timeout = timeout;
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    public async ValueTask<CommandOutput> RunAsync(string command, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        ArgumentNullException.ThrowIfNull(arguments);
        string? executable = Resolve(command);
        if (executable is null)
        {
            return CommandOutput.NotFound;
        }

        ProcessStartInfo start = new(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = new() { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return CommandOutput.Failed($"could not start '{executable}': {ex.Message}");
        }

        using CancellationTokenSource timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            Task<string> stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            string output = await stdout.ConfigureAwait(false);
            string error = await stderr.ConfigureAwait(false);
            return process.ExitCode == 0
                ? CommandOutput.Succeeded(output)
                : CommandOutput.Failed($"'{command} {string.Join(' ', arguments)}' exited with code {process.ExitCode}: {error.Trim()}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            return CommandOutput.Failed($"'{command} {string.Join(' ', arguments)}' did not finish within {_timeout.TotalSeconds:0.###} s and was killed");
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }

    private string? Resolve(string command)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(command) ? command : null;
        }

        string path = _environment("PATH") ?? string.Empty;
        foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Join(dir, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>
/// Canned tool output: <c>vcgencmd measure_temp</c> reads <c>{directory}/measure_temp.txt</c> (arguments
/// joined by '_'). A missing file means the tool is not available.
/// </summary>
internal sealed class CannedCommandRunner : ICommandRunner
{
    private readonly IFileSystem _files;
    private readonly string _directory;

    /// <param name="files">Where the canned files live.</param>
    /// <param name="directory">The logical folder of the canned outputs, e.g. <c>/vcgencmd</c> under the probe root.</param>
    public CannedCommandRunner(IFileSystem files, string directory)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _files = files;
        _directory = directory.TrimEnd('/');
    }

    public ValueTask<CommandOutput> RunAsync(string command, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        cancellationToken.ThrowIfCancellationRequested();
        string name = arguments.Count == 0 ? Path.GetFileName(command) : string.Join('_', arguments);
        FileContent content = _files.ReadAllText($"{_directory}/{name}.txt");
        return ValueTask.FromResult(content.State switch
        {
            FileState.Read => CommandOutput.Succeeded(content.Text!),
            FileState.Unreadable => CommandOutput.Failed(content.Error ?? "unreadable canned output"),
            _ => CommandOutput.NotFound,
        });
    }
}

/// <summary>Runs the primary runner and, when its tool is not found, the fallback (real vcgencmd first, canned output second).</summary>
internal sealed class FallbackCommandRunner(ICommandRunner primary, ICommandRunner fallback) : ICommandRunner
{
    public async ValueTask<CommandOutput> RunAsync(string command, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        CommandOutput first = await primary.RunAsync(command, arguments, cancellationToken).ConfigureAwait(false);
        return first.State == CommandState.NotFound
            ? await fallback.RunAsync(command, arguments, cancellationToken).ConfigureAwait(false)
            : first;
    }
}
