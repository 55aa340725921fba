using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FedEdge.Devices;
using FedEdge.Hardware;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// <c>hardware-probe [--iterations N] [--root DIR]</c>: the cost of one full hardware snapshot on the live system and on
/// the canned Raspberry Pi 4 tree, against a baseline that only reads the same files without parsing, and the cost of one
/// thermal-governor decision between training steps (the per-step overhead a trainer pays).
/// </summary>
internal static class HardwareProbeBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        int iterations = 2000;
        string? cannedRoot = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--iterations" when i + 1 < args.Length:
                    iterations = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--root" when i + 1 < args.Length:
                    cannedRoot = args[++i];
                    break;
                default:
                    await Console.Error.WriteLineAsync($"hardware-probe: unknown argument '{args[i]}'").ConfigureAwait(false);
                    return 2;
            }
        }

        cannedRoot ??= FindCannedPi4();
        Dictionary<string, object?> result = new()
        {
            ["mode"] = "hardware-probe",
            ["iterations"] = iterations,
            ["live"] = await MeasureProbeAsync("/", iterations).ConfigureAwait(false),
            ["liveBaselineRawReads"] = MeasureRawReads("/", iterations),
        };
        if (cannedRoot is not null)
        {
            result["cannedRoot"] = cannedRoot;
            result["cannedPi4"] = await MeasureProbeAsync(cannedRoot, iterations).ConfigureAwait(false);
            result["cannedPi4BaselineRawReads"] = MeasureRawReads(cannedRoot, iterations);
        }

        result["governorDecision"] = await MeasureGovernorAsync(iterations * 50).ConfigureAwait(false);
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private static async Task<Dictionary<string, object?>> MeasureProbeAsync(string root, int iterations)
    {
        IHardwareProbe probe = FedEdgeHardware.CreateProbe(new HardwareOptions { Root = root, VcgencmdPath = "/nonexistent/vcgencmd" });
        HardwareSnapshot first = await probe.ProbeAsync().ConfigureAwait(false);
        for (int i = 0; i < 50; i++)
        {
            await probe.ProbeAsync().ConfigureAwait(false);
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        Stopwatch sw = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            await probe.ProbeAsync().ConfigureAwait(false);
        }

        sw.Stop();
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return new()
        {
            ["meanMicroseconds"] = Math.Round(sw.Elapsed.TotalMicroseconds / iterations, 1),
            ["allocatedBytesPerProbe"] = bytes / iterations,
            ["temperatureCelsius"] = first.TemperatureCelsius,
            ["throttling"] = first.Throttling?.ToString(),
            ["thermalZones"] = first.ThermalZones.Count,
            ["cpus"] = first.CpuFrequencies.Count,
            ["interfaces"] = first.Network.Count,
            ["errors"] = first.Errors.Count,
        };
    }

    private static Dictionary<string, object?> MeasureRawReads(string root, int iterations)
    {
        List<string> files = [];
        void AddIfExists(string logical)
        {
            string physical = root == "/" ? logical : Path.Join(root, logical.TrimStart('/'));
            if (File.Exists(physical))
            {
                files.Add(physical);
            }
        }

        AddIfExists("/proc/meminfo");
        AddIfExists("/proc/loadavg");
        AddIfExists("/proc/net/dev");
        string thermal = root == "/" ? "/sys/class/thermal" : Path.Join(root, "sys/class/thermal");
        if (Directory.Exists(thermal))
        {
            foreach (string zone in Directory.EnumerateDirectories(thermal, "thermal_zone*"))
            {
                files.Add(Path.Join(zone, "temp"));
                files.Add(Path.Join(zone, "type"));
            }
        }

        string cpus = root == "/" ? "/sys/devices/system/cpu" : Path.Join(root, "sys/devices/system/cpu");
        if (Directory.Exists(cpus))
        {
            foreach (string cpu in Directory.EnumerateDirectories(cpus, "cpu*"))
            {
                foreach (string f in new[] { "scaling_cur_freq", "scaling_min_freq", "scaling_max_freq", "cpuinfo_max_freq", "scaling_governor" })
                {
                    string path = Path.Join(cpu, "cpufreq", f);
                    if (File.Exists(path))
                    {
                        files.Add(path);
                    }
                }
            }
        }

        long totalChars = 0;
        Stopwatch sw = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            foreach (string f in files)
            {
                totalChars += File.ReadAllText(f).Length;
            }
        }

        sw.Stop();
        return new()
        {
            ["files"] = files.Count,
            ["meanMicroseconds"] = Math.Round(sw.Elapsed.TotalMicroseconds / iterations, 1),
            ["charsPerRound"] = iterations == 0 ? 0 : totalChars / iterations,
        };
    }

    private static async Task<Dictionary<string, object?>> MeasureGovernorAsync(int decisions)
    {
        FixedTelemetry telemetry = new();
        ITrainingGovernor governor = FedEdgeHardware.CreateThermalGovernor(telemetry, new ThermalGovernorOptions { CheckInterval = TimeSpan.Zero });
        await governor.BeforeTrainingAsync(decisions).ConfigureAwait(false);
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        Stopwatch sw = Stopwatch.StartNew();
        for (int i = 0; i < decisions; i++)
        {
            await governor.DuringTrainingAsync(i, decisions).ConfigureAwait(false);
        }

        sw.Stop();
        return new()
        {
            ["decisions"] = decisions,
            ["meanNanoseconds"] = Math.Round(sw.Elapsed.TotalNanoseconds / decisions, 0),
            ["allocatedBytesPerDecision"] = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / decisions,
            ["telemetryRereadEveryDecision"] = true,
        };
    }

    private static string? FindCannedPi4()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "FedEdge.sln")))
            {
                string canned = Path.Combine(dir, "tests", "FedEdge.Hardware.Tests", "TestData", "rpi4-throttled");
                return Directory.Exists(canned) ? canned : null;
            }
        }

        return null;
    }

    private sealed class FixedTelemetry : ITelemetrySource
    {
        private static readonly DeviceTelemetry Reading = new() { TemperatureCelsius = 58.0, Throttled = false };

        public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(Reading);
    }
}
