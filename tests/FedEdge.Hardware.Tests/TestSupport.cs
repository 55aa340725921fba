using System.Diagnostics.Metrics;
using FedEdge.Devices;
using FedEdge.Hardware.Seams;

namespace FedEdge.Hardware.Tests;

/// <summary>Canned trees under TestData (copied to the output folder).</summary>
internal static class Canned
{
    public static string Root(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", name);
        Assert.True(Directory.Exists(path), $"canned tree {path} is missing");
        return path;
    }

    /// <summary>Options that read the canned tree and its canned vcgencmd output, never a real vcgencmd.</summary>
    public static HardwareOptions Options(string name) => new()
    {
        Root = Root(name),
        VcgencmdPath = "/nonexistent/fededge-test/vcgencmd",
    };

    public static IHardwareProbe Probe(string name, TimeProvider? time = null) => FedEdgeHardware.CreateProbe(Options(name), time);
}

/// <summary>A file system of in-memory files, with some marked unreadable.</summary>
internal sealed class DictionaryFileSystem : IFileSystem
{
    public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Unreadable { get; } = new(StringComparer.Ordinal);

    public FileContent ReadAllText(string path) =>
        Unreadable.TryGetValue(path, out string? error) ? FileContent.Unreadable(error)
        : Files.TryGetValue(path, out string? text) ? FileContent.Of(text)
        : FileContent.Missing;

    public IReadOnlyList<string> GetDirectories(string path, string searchPattern)
    {
        string prefix = path.TrimEnd('/') + "/";
        string stem = searchPattern.TrimEnd('*');
        return Files.Keys.Concat(Unreadable.Keys)
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..].Split('/')[0])
            .Where(n => n.StartsWith(stem, StringComparison.Ordinal) && !k_IsFile(prefix + n))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .Select(n => prefix + n)
            .ToList();

        bool k_IsFile(string p) => Files.ContainsKey(p) || Unreadable.ContainsKey(p);
    }
}

/// <summary>A command runner with fixed answers.</summary>
internal sealed class FixedCommandRunner(Func<IReadOnlyList<string>, CommandOutput> answer) : ICommandRunner
{
    public int Calls { get; private set; }

    public ValueTask<CommandOutput> RunAsync(string command, IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        Calls++;
        return ValueTask.FromResult(answer(arguments));
    }
}

/// <summary>Counts probes and delegates.</summary>
internal sealed class CountingProbe(IHardwareProbe inner) : IHardwareProbe
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public ValueTask<HardwareSnapshot> ProbeAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return inner.ProbeAsync(cancellationToken);
    }
}

/// <summary>A telemetry source whose readings the test sets.</summary>
internal sealed class SettableTelemetry : ITelemetrySource
{
    public double? Temperature { get; set; }

    public bool? Throttled { get; set; }

    public int Reads { get; private set; }

    public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
    {
        Reads++;
        return ValueTask.FromResult(new DeviceTelemetry { TemperatureCelsius = Temperature, Throttled = Throttled });
    }
}

/// <summary>A meter factory whose meters carry it as scope, so a listener sees only this test's instruments.</summary>
internal sealed class ScopedMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        Meter meter = new(options.Name, options.Version, options.Tags, scope: this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose()
    {
        foreach (Meter meter in _meters)
        {
            meter.Dispose();
        }
    }
}

/// <summary>Collects log entries.</summary>
internal sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
{
    public List<(Microsoft.Extensions.Logging.LogLevel Level, int EventId, string Message)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Add((logLevel, eventId.Id, formatter(state, exception)));
}
