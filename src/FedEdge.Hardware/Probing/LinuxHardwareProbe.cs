using System.Collections.Concurrent;
using System.Globalization;
using FedEdge.Hardware.Seams;
using Microsoft.Extensions.Logging;

namespace FedEdge.Hardware.Probing;

/// <summary>The Linux / Raspberry Pi probe, reading through the file-system and process seams.</summary>
internal sealed class LinuxHardwareProbe : IHardwareProbe
{
    private const string ThermalRoot = "/sys/class/thermal";
    private const string CpuRoot = "/sys/devices/system/cpu";

    private readonly IFileSystem _files;
    private readonly ICommandRunner? _commands;
    private readonly string _vcgencmd;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, byte> _warned = new(StringComparer.Ordinal);

    /// <param name="files">The file-system seam.</param>
    /// <param name="commands">The process seam, or null to skip <c>vcgencmd</c>.</param>
    /// <param name="vcgencmd">The vcgencmd executable.</param>
    /// <param name="time">The clock for snapshot timestamps.</param>
    /// <param name="logger">The logger.</param>
    public LinuxHardwareProbe(IFileSystem files, ICommandRunner? commands, string vcgencmd, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _files = files;
        _commands = commands;
        _vcgencmd = vcgencmd;
        _time = time;
        _logger = logger;
    }

    public async ValueTask<HardwareSnapshot> ProbeAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        DateTimeOffset timestamp = _time.GetUtcNow();
        List<ProbeError> errors = [];

        IReadOnlyList<ThermalZoneReading> zones = ReadThermalZones(errors);
        IReadOnlyList<CpuFrequencyReading> cpus = ReadCpuFrequencies(errors);
        MemoryReading? memory = ReadParsed("/proc/meminfo", errors, static (t, s) => ProbeParsers.ParseMemInfo(t, s));
        LoadAverageReading? load = ReadParsed("/proc/loadavg", errors, static (t, s) => ProbeParsers.ParseLoadAverage(t, s));
        IReadOnlyList<NetworkInterfaceReading> network = ReadParsed("/proc/net/dev", errors, static (t, s) => ProbeParsers.ParseNetDev(t, s)) ?? [];

        double? vcTemp = null;
        ThrottlingStatus? throttling = null;
        if (_commands is not null)
        {
            vcTemp = await RunParsedAsync<double>("measure_temp", errors, static (t, s) => ProbeParsers.ParseMeasureTemp(t, s), cancellationToken).ConfigureAwait(false);
            throttling = await RunParsedAsync<ThrottlingStatus>("get_throttled", errors, static (t, s) => ProbeParsers.ParseThrottled(t, s), cancellationToken).ConfigureAwait(false);
        }

        HardwareSnapshot snapshot = new()
        {
            Timestamp = timestamp,
            ThermalZones = zones,
            VcgencmdTemperatureCelsius = vcTemp,
            Throttling = throttling,
            CpuFrequencies = cpus,
            Memory = memory,
            LoadAverage = load,
            Network = network,
            Errors = errors,
        };
        Log.Sampled(_logger, snapshot);
        return snapshot;
    }

    private List<ThermalZoneReading> ReadThermalZones(List<ProbeError> errors)
    {
        List<(int Index, ThermalZoneReading Reading)> zones = [];
        foreach (string dir in _files.GetDirectories(ThermalRoot, "thermal_zone*"))
        {
            string name = dir[(dir.LastIndexOf('/') + 1)..];
            if (!int.TryParse(name.AsSpan("thermal_zone".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            {
                continue;
            }

            string? type = ReadText(dir + "/type", errors)?.Trim();
            double? temp = ReadValue<double>(dir + "/temp", errors, static (t, s) => ProbeParsers.ParseMillidegrees(t, s));
            zones.Add((index, new ThermalZoneReading { Zone = name, Type = type, TemperatureCelsius = temp }));
        }

        zones.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        return zones.ConvertAll(static z => z.Reading);
    }

    private List<CpuFrequencyReading> ReadCpuFrequencies(List<ProbeError> errors)
    {
        List<CpuFrequencyReading> cpus = [];
        foreach (string dir in _files.GetDirectories(CpuRoot, "cpu*"))
        {
            string name = dir[(dir.LastIndexOf('/') + 1)..];
            if (!int.TryParse(name.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int cpu))
            {
                continue;
            }

            string freq = dir + "/cpufreq";
            if (_files.GetDirectories(dir, "cpufreq").Count == 0)
            {
                continue;
            }

            long? Khz(string file) => ReadValue<long>(freq + "/" + file, errors, static (t, s) => ProbeParsers.ParseNonNegativeInteger(t, s));
            CpuFrequencyReading reading = new()
            {
                Cpu = cpu,
                CurrentKHz = Khz("scaling_cur_freq"),
                MinimumKHz = Khz("scaling_min_freq"),
                MaximumKHz = Khz("scaling_max_freq"),
                HardwareMaximumKHz = Khz("cpuinfo_max_freq"),
                Governor = ReadText(freq + "/scaling_governor", errors)?.Trim(),
            };
            if (reading.CurrentKHz is not null || reading.MaximumKHz is not null || reading.HardwareMaximumKHz is not null || reading.Governor is not null)
            {
                cpus.Add(reading);
            }
        }

        cpus.Sort(static (a, b) => a.Cpu.CompareTo(b.Cpu));
        return cpus;
    }

    private string? ReadText(string path, List<ProbeError> errors)
    {
        FileContent content = _files.ReadAllText(path);
        switch (content.State)
        {
            case FileState.Read:
                return content.Text;
            case FileState.Unreadable:
                Unavailable(path, content.Error ?? "unreadable", errors);
                return null;
            default:
                return null;
        }
    }

    private T? ReadParsed<T>(string path, List<ProbeError> errors, Func<string, string, T> parse)
        where T : class
    {
        string? text = ReadText(path, errors);
        if (text is null)
        {
            return null;
        }

        try
        {
            return parse(text, path);
        }
        catch (ProbeDataException ex)
        {
            BadData(ex, errors);
            return null;
        }
    }

    private T? ReadValue<T>(string path, List<ProbeError> errors, Func<string, string, T> parse)
        where T : struct
    {
        string? text = ReadText(path, errors);
        if (text is null)
        {
            return null;
        }

        try
        {
            return parse(text, path);
        }
        catch (ProbeDataException ex)
        {
            BadData(ex, errors);
            return null;
        }
    }

    private async ValueTask<T?> RunParsedAsync<T>(string argument, List<ProbeError> errors, Func<string, string, T> parse, CancellationToken cancellationToken)
        where T : struct
    {
        string source = $"vcgencmd {argument}";
        CommandOutput output = await _commands!.RunAsync(_vcgencmd, [argument], cancellationToken).ConfigureAwait(false);
        switch (output.State)
        {
            case CommandState.Succeeded:
                try
                {
                    return parse(output.StandardOutput!, source);
                }
                catch (ProbeDataException ex)
                {
                    BadData(ex, errors);
                    return null;
                }

            case CommandState.Failed:
                Unavailable(source, output.Error ?? "failed", errors);
                return null;
            default:
                return null;
        }
    }

    private void Unavailable(string source, string error, List<ProbeError> errors)
    {
        errors.Add(new ProbeError(source, ProbeErrorKind.Unavailable, error));
        if (_warned.TryAdd(source, 0))
        {
            Log.ProbeUnavailable(_logger, source, error);
        }
        else
        {
            // A sampler probes every few seconds: warn once per source, then keep the repeats at debug level.
            Log.ProbeStillFailing(_logger, source, error);
        }
    }

    private void BadData(ProbeDataException ex, List<ProbeError> errors)
    {
        errors.Add(new ProbeError(ex.SourceName, ProbeErrorKind.BadData, ex.Detail));
        if (_warned.TryAdd(ex.SourceName, 0))
        {
            Log.ProbeBadData(_logger, ex.SourceName, ex.Detail);
        }
        else
        {
            Log.ProbeStillFailing(_logger, ex.SourceName, ex.Detail);
        }
    }
}
