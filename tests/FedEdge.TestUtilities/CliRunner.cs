using System.Diagnostics;

namespace FedEdge.Testing;

/// <summary>Runs the built <c>fededge</c> sample app as a separate process.</summary>
public static class CliRunner
{
    /// <summary>The path of the built <c>fededge.dll</c> for the configuration the tests were built with.</summary>
    public static string CliDll
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release";
            string path = Path.Combine(RepoPaths.Root, "samples", "FedEdge.Cli", "bin", configuration, "net10.0", "fededge.dll");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException("The fededge sample app is not built; build the solution first.", path);
            }

            return path;
        }
    }

    /// <summary>Runs <c>fededge</c> with <paramref name="arguments"/> and returns its exit code and output.</summary>
    public static async Task<CliResult> RunAsync(IEnumerable<string> arguments, string? workingDirectory = null, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? launcher = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : "dotnet")
        {
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (string part in launcher.Skip(1))
            {
                start.ArgumentList.Add(part);
            }

            start.ArgumentList.Add("dotnet");
        }

        start.ArgumentList.Add(CliDll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (KeyValuePair<string, string> pair in environment)
            {
                start.Environment[pair.Key] = pair.Value;
            }
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fededge {string.Join(' ', start.ArgumentList.Skip(1))} did not finish in time.\n{await stdout.ConfigureAwait(false)}\n{await stderr.ConfigureAwait(false)}");
        }

        return new CliResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}

/// <summary>Ways to start <c>fededge</c> with fewer rights than the test process.</summary>
public static class CliLaunchers
{
    /// <summary>
    /// As root (CI), a launcher that drops the capabilities that let root read any file (<c>setpriv</c> from
    /// util-linux), so that a mode-000 file is unreadable to the CLI; null when not root or setpriv is missing.
    /// </summary>
    public static IReadOnlyList<string>? WithoutReadOverride =>
        string.Equals(Environment.UserName, "root", StringComparison.Ordinal) && File.Exists("/usr/bin/setpriv")
            ? ["/usr/bin/setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
            : null;
}

/// <summary>The outcome of one <c>fededge</c> run.</summary>
/// <param name="ExitCode">The process exit code.</param>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error.</param>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);
