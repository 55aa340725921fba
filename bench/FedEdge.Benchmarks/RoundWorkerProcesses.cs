using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Coordination;
using FedEdge.Messaging;
using FedEdge.Training;
using FedEdge.Transport.Grpc;
using FedEdge.Transport.Mqtt;

namespace FedEdge.Benchmarks;

/// <summary>What one worker process reported when it stopped.</summary>
/// <param name="Index">The process's number (0..P-1).</param>
/// <param name="Workers">The workers it hosted.</param>
/// <param name="PeakRssBytes">Its peak resident set (VmHWM).</param>
/// <param name="CpuSeconds">Its CPU time, start to stop.</param>
/// <param name="UpdateResends">Its workers' update re-sends, summed.</param>
/// <param name="Trainings">Its workers' trainer calls, summed.</param>
/// <param name="ExitCode">The process's exit code; null when it had to be killed.</param>
internal sealed record WorkerProcessStats(int Index, int Workers, long? PeakRssBytes, double? CpuSeconds, long? UpdateResends, long? Trainings, int? ExitCode);

/// <summary>
/// The hidden <c>round-workers</c> verb: hosts a slice of a <c>bench round --worker-processes P</c> federation's no-op
/// workers over the real transport, in a process of its own. It prints one <c>ready</c> line once its workers have
/// started, keeps them running until it reads <c>stop</c> or the end of its standard input (the bench closed it, or
/// died: no orphan outlives the bench), then disposes them and prints its figures as one JSON line.
/// </summary>
internal static class RoundWorkerHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? transport = null;
        Uri? endpoint = null;
        string? federation = null;
        int first = 0;
        int count = 0;
        int parameters = 0;
        int heartbeatMs = 250;
        int resendMs = 150;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string value = args[i + 1];
            switch (args[i])
            {
                case "--transport": transport = value; break;
                case "--endpoint": endpoint = new Uri(value); break;
                case "--federation": federation = value; break;
                case "--first": first = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--count": count = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--params": parameters = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--heartbeat-ms": heartbeatMs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--resend-ms": resendMs = int.Parse(value, CultureInfo.InvariantCulture); break;
                default:
                    await Console.Error.WriteLineAsync($"round-workers: unknown argument '{args[i]}'.").ConfigureAwait(false);
                    return 2;
            }
        }

        if (transport is not ("mqtt" or "mosquitto" or "grpc") || endpoint is null || federation is null || count < 1 || parameters < 1 || heartbeatMs < 1 || resendMs < 1)
        {
            await Console.Error.WriteLineAsync("round-workers: started by `bench round --worker-processes P`; needs --transport mqtt|mosquitto|grpc --endpoint URI --federation F --first I --count N --params N.").ConfigureAwait(false);
            return 2;
        }

        var layout = new ParameterLayout(new TensorSpec("w", parameters));
        var clock = new TrainingClock();
        var started = new Worker?[count];
        long trainings = 0;
        try
        {
            // A few connects at a time: hundreds at once from one process on a loaded machine run into the MQTT client's
            // 10 s connect timeout, which the transport reports as a refusal (the worker does not retry those).
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (k, _) =>
            {
                string device = $"w{first + k}";
                for (int attempt = 1; ; attempt++)
                {
                    Worker worker = RoundBenchFederation.CreateWorker(device, WorkerTransport(transport, endpoint, federation, device), layout, clock, TimeSpan.FromMilliseconds(heartbeatMs), TimeSpan.FromMilliseconds(resendMs), credentials: null);
                    try
                    {
                        await worker.StartAsync().ConfigureAwait(false);
                        started[k] = worker;
                        return;
                    }
                    catch (FedEdge.Transport.TransportException ex) when (attempt < 5)
                    {
                        await Console.Error.WriteLineAsync($"round-workers: {device} attempt {attempt}: {ex.Message}").ConfigureAwait(false);
                        await worker.DisposeAsync().ConfigureAwait(false);
                        await Task.Delay(TimeSpan.FromSeconds(attempt)).ConfigureAwait(false);
                    }
                }
            }).ConfigureAwait(false);
            Console.WriteLine("ready");

            // Until the bench says stop, or its end of the pipe is gone.
            string? line;
            while ((line = await Console.In.ReadLineAsync().ConfigureAwait(false)) is not null && line != "stop")
            {
            }
        }
        catch (Exception ex) when (ex is FedEdge.Transport.TransportException or IOException or InvalidOperationException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"round-workers: workers w{first}..w{first + count - 1} could not start: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            foreach (Worker worker in started.OfType<Worker>())
            {
                await worker.DisposeAsync().ConfigureAwait(false);
            }

            trainings = clock.Drain().Trainings;
        }

        using Process self = Process.GetCurrentProcess();
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["peak_rss_bytes"] = self.PeakWorkingSet64,
            ["cpu_seconds"] = self.TotalProcessorTime.TotalSeconds,
            ["update_resends"] = started.OfType<Worker>().Sum(w => (long)w.UpdateResends),
            ["trainings"] = trainings,
        }));
        return 0;
    }

    /// <summary>A worker's transport to the bench coordinator, with the credentials the bench registered for it.</summary>
    private static IWorkerTransport WorkerTransport(string transport, Uri endpoint, string federation, string device) => transport switch
    {
        "mqtt" => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, Password = "pw-" + device, BrokerUri = endpoint }),
        "mosquitto" => new MqttWorkerTransport(new MqttWorkerOptions { Federation = federation, DeviceId = device, BrokerUri = endpoint }),
        _ => new GrpcWorkerTransport(new GrpcWorkerOptions { Address = endpoint, DeviceId = device, Token = "tok-" + device, CallDeadline = TimeSpan.FromSeconds(120) }),
    };
}

/// <summary>
/// The P child processes of <c>bench round --worker-processes P</c>: this bench executable again, with the hidden
/// <c>round-workers</c> verb, each hosting workers/P workers. Started after the coordinator, stopped after its rounds;
/// disposing the pool kills (with their process trees) any child still running, so a failed or cancelled bench leaves
/// none behind. A child whose bench dies sees its standard input end and stops by itself.
/// </summary>
internal sealed class WorkerProcessPool : IAsyncDisposable
{
    private readonly List<Child> _children = [];
    private readonly CancellationTokenSource _exitedEarly = new();
    private volatile bool _stopping;

    private WorkerProcessPool()
    {
    }

    /// <summary>Cancelled when a child exits before <see cref="StopAsync"/>: its workers are gone and the rounds cannot complete.</summary>
    public CancellationToken ExitedEarly => _exitedEarly.Token;

    /// <summary>Why <see cref="ExitedEarly"/> was cancelled.</summary>
    public string? EarlyExitReason { get; private set; }

    public static WorkerProcessPool Start(RoundBenchSettings settings, string federation, Uri endpoint)
    {
        var pool = new WorkerProcessPool();
        try
        {
            int processes = settings.WorkerProcesses;
            for (int p = 0; p < processes; p++)
            {
                int first = (int)((long)p * settings.Workers / processes);
                int next = (int)((long)(p + 1) * settings.Workers / processes);
                pool.StartChild(p, first, next - first, settings, federation, endpoint);
            }
        }
        catch
        {
            pool.KillAll();
            throw;
        }

        return pool;
    }

    private void StartChild(int index, int first, int count, RoundBenchSettings settings, string federation, Uri endpoint)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("The bench's own executable path is unknown.");
        var start = new ProcessStartInfo(host)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(WorkerProcessPool).Assembly.Location);
        }

        foreach (string arg in (string[])[
            "round-workers", "--transport", settings.Transport, "--endpoint", endpoint.ToString(), "--federation", federation,
            "--first", first.ToString(CultureInfo.InvariantCulture), "--count", count.ToString(CultureInfo.InvariantCulture),
            "--params", settings.Layout.TotalLength.ToString(CultureInfo.InvariantCulture),
            "--heartbeat-ms", ((int)settings.Heartbeat.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--resend-ms", ((int)settings.ResendDelay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)])
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("A worker process did not start.");
        var child = new Child(index, count, process);
        _children.Add(child);
        child.Output = Task.Run(async () =>
        {
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync().ConfigureAwait(false)) is not null)
            {
                if (line.StartsWith('{'))
                {
                    child.Report = line;
                }
            }
        });
        _ = process.WaitForExitAsync().ContinueWith(
            _ =>
            {
                if (!_stopping)
                {
                    EarlyExitReason ??= $"worker process {index} exited early with code {process.ExitCode}";
                    _exitedEarly.Cancel();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>The CPU time of the children still running, summed (exited ones are no longer readable and count 0).</summary>
    public TimeSpan CpuTime()
    {
        TimeSpan total = TimeSpan.Zero;
        foreach (Child child in _children)
        {
            try
            {
                child.Process.Refresh();
                child.LastCpu = child.Process.TotalProcessorTime;
            }
            catch (InvalidOperationException)
            {
                // Exited: keep the last reading.
            }

            total += child.LastCpu;
        }

        return total;
    }

    /// <summary>Asks every child to stop, waits up to a minute for each to report and exit, and kills the rest.</summary>
    public async Task<IReadOnlyList<WorkerProcessStats>> StopAsync()
    {
        _stopping = true;
        foreach (Child child in _children)
        {
            try
            {
                await child.Process.StandardInput.WriteLineAsync("stop").ConfigureAwait(false);
                child.Process.StandardInput.Close();
            }
            catch (IOException)
            {
                // Already gone.
            }
        }

        var stats = new List<WorkerProcessStats>();
        foreach (Child child in _children)
        {
            using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            int? exitCode;
            try
            {
                await child.Process.WaitForExitAsync(patience.Token).ConfigureAwait(false);
                await child.Output!.ConfigureAwait(false);
                exitCode = child.Process.ExitCode;
            }
            catch (OperationCanceledException)
            {
                child.Process.Kill(entireProcessTree: true);
                exitCode = null;
            }

            JsonElement? report = child.Report is null ? null : JsonSerializer.Deserialize<JsonElement>(child.Report);
            stats.Add(new WorkerProcessStats(
                child.Index,
                child.Workers,
                report?.GetProperty("peak_rss_bytes").GetInt64(),
                report?.GetProperty("cpu_seconds").GetDouble(),
                report?.GetProperty("update_resends").GetInt64(),
                report?.GetProperty("trainings").GetInt64(),
                exitCode));
        }

        return stats;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        KillAll();
        foreach (Child child in _children)
        {
            await child.Process.WaitForExitAsync().ConfigureAwait(false);
            child.Process.Dispose();
        }

        _exitedEarly.Dispose();
    }

    private void KillAll()
    {
        _stopping = true;
        foreach (Child child in _children)
        {
            try
            {
                if (!child.Process.HasExited)
                {
                    child.Process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }
    }

    private sealed class Child(int index, int workers, Process process)
    {
        public int Index { get; } = index;

        public int Workers { get; } = workers;

        public Process Process { get; } = process;

        public Task? Output { get; set; }

        public string? Report { get; set; }

        public TimeSpan LastCpu { get; set; }
    }
}
