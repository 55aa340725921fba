using System.Diagnostics;

namespace FedEdge.Testing;

/// <summary>
/// A long-running <c>fededge</c> process (coordinator or worker) a test drives: its standard output and error are
/// captured line by line as they arrive, a test waits for a line with a bounded deadline, and can
/// <see cref="Kill"/> it (SIGKILL on Linux). Disposing kills whatever still runs, so no process outlives its test.
/// </summary>
public sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    /// <summary>A name for messages (e.g. "coordinator", "doorbell").</summary>
    public string Name { get; }

    /// <summary>Whether the process has exited (or was killed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The lines written to standard output so far.</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _stdout];
            }
        }
    }

    /// <summary>The lines written to standard error so far.</summary>
    public IReadOnlyList<string> StderrLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _stderr];
            }
        }
    }

    /// <summary>Standard output so far.</summary>
    public string Stdout => string.Join('\n', StdoutLines);

    /// <summary>Standard error so far.</summary>
    public string Stderr => string.Join('\n', StderrLines);

    /// <summary>Starts <c>dotnet fededge.dll</c> with <paramref name="arguments"/>.</summary>
    public static CliProcess Start(string name, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetTempPath(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliRunner.CliDll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        var process = new Process { StartInfo = start };
        var cli = new CliProcess(name, process);
        process.OutputDataReceived += (_, e) => cli.OnLine(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => cli.OnLine(e.Data, stdout: false);
        if (!process.Start())
        {
            process.Dispose();
            throw new InvalidOperationException("could not start dotnet");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>
    /// Waits until a standard-output line (standard error with <paramref name="stderr"/>) satisfies
    /// <paramref name="match"/> and returns it; fails the test if the process exits first or
    /// <paramref name="timeout"/> passes (a generous bound, not a measurement).
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what, bool stderr = false)
    {
        ArgumentNullException.ThrowIfNull(match);
        using var cts = new CancellationTokenSource(timeout);
        int seen = 0;
        while (true)
        {
            bool exited = _process.HasExited && _stdoutClosed.Task.IsCompleted && _stderrClosed.Task.IsCompleted;
            IReadOnlyList<string> lines = stderr ? StderrLines : StdoutLines;
            for (; seen < lines.Count; seen++)
            {
                if (match(lines[seen]))
                {
                    return lines[seen];
                }
            }

            if (exited)
            {
                Xunit.Assert.Fail($"{Name} exited ({_process.ExitCode}) before {what}.\n{Describe()}");
            }

            if (cts.IsCancellationRequested)
            {
                Xunit.Assert.Fail($"{Name}: no {what} within {timeout}.\n{Describe()}");
            }

            try
            {
                await Task.Delay(50, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The deadline passed: the loop checks the lines once more, then fails.
            }
        }
    }

    /// <summary>Waits (bounded) for the process to exit and returns its exit code with all its output read.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Xunit.Assert.Fail($"{Name} did not exit within {timeout}.\n{Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process and its children at once (SIGKILL on Linux: no clean-up runs) and waits until it is gone.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    /// <summary>Asks the process to stop with SIGTERM (as systemd or Kubernetes do), through the system's <c>kill</c>; it does not wait.</summary>
    public void Terminate()
    {
        if (_process.HasExited)
        {
            return;
        }

        using Process kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("could not run kill");
        kill.WaitForExit();
    }

    /// <summary>The process's output, for assertion messages.</summary>
    public string Describe() => $"--- {Name} stdout ---\n{Stdout}\n--- {Name} stderr ---\n{Stderr}";

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped: nothing left to kill.
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            (stdout ? _stdoutClosed : _stderrClosed).TrySetResult();
            return;
        }

        lock (_gate)
        {
            if (stdout)
            {
                _stdout.Add(line);
            }
            else
            {
                _stderr.Add(line);
            }
        }
    }
}
