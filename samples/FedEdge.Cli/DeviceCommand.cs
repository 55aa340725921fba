using System.CommandLine;
using System.Globalization;
using FedEdge.Hardware;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli;

/// <summary><c>fededge device probe [--root DIR] [--json]</c>: every hardware reading of this device (or of a canned tree).</summary>
internal static class DeviceCommand
{
    public static Command Create()
    {
        Option<DirectoryInfo?> root = new Option<DirectoryInfo?>("--root")
        {
            Description = "Read a copy of /sys and /proc laid out under DIR (and canned vcgencmd output from DIR/vcgencmd/measure_temp.txt and get_throttled.txt when vcgencmd is absent) instead of the live system.",
            HelpName = "DIR",
        }.ExistingDirectory();
        Option<bool> json = new("--json") { Description = "Print the readings as JSON (each throttling flag named with a boolean)." };

        Command probe = new("probe", "Print every hardware reading: thermal zones, Raspberry Pi vcgencmd temperature and throttling flags, CPU frequency, memory, load and network counters.");
        probe.Options.Add(root);
        probe.Options.Add(json);
        probe.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            HardwareOptions options = new() { Root = parse.GetValue(root)?.FullName ?? "/" };
            IHardwareProbe hardware;
            try
            {
                hardware = FedEdgeHardware.CreateProbe(options);
            }
            catch (OptionsValidationException ex)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"fededge device probe: {string.Join(" ", ex.Failures)}").ConfigureAwait(false);
                return 2;
            }

            HardwareSnapshot snapshot = await hardware.ProbeAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(HardwareSnapshotJson.ToJson(snapshot)).ConfigureAwait(false);
            }
            else
            {
                WriteText(output, snapshot, options.Root);
            }

            return 0;
        });

        Command device = new("device", "Device hardware: probes for Linux and Raspberry Pi.");
        device.Subcommands.Add(probe);
        return device;
    }

    private static void WriteText(TextWriter o, HardwareSnapshot s, string root)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        static string Celsius(double? t) => t is double v ? v.ToString("0.0", CultureInfo.InvariantCulture) + " °C" : "n/a";
        static string Mib(long? bytes) => bytes is long b ? (b / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : "n/a";
        static string Khz(long? khz) => khz?.ToString(CultureInfo.InvariantCulture) ?? "n/a";

        o.WriteLine($"{"root",-28} {root}");
        o.WriteLine($"{"time",-28} {s.Timestamp.ToString("O", c)}");
        o.WriteLine($"{"temperature",-28} {Celsius(s.TemperatureCelsius)}{(s.TemperatureSource is null ? string.Empty : $" ({s.TemperatureSource})")}");
        o.WriteLine($"{"throttled now",-28} {(s.Throttled is bool t ? (t ? "yes" : "no") : "n/a")}");
        if (s.ThermalZones.Count == 0)
        {
            o.WriteLine($"{"thermal zones",-28} n/a");
        }

        foreach (ThermalZoneReading zone in s.ThermalZones)
        {
            o.WriteLine($"{zone.Zone,-28} {Celsius(zone.TemperatureCelsius),-10} {zone.Type ?? "n/a"}");
        }

        o.WriteLine($"{"vcgencmd measure_temp",-28} {Celsius(s.VcgencmdTemperatureCelsius)}");
        if (s.Throttling is ThrottlingStatus status)
        {
            o.WriteLine($"{"vcgencmd get_throttled",-28} {status}");
            foreach (KeyValuePair<string, bool> flag in status.NamedFlags)
            {
                o.WriteLine($"  {flag.Key,-30} {(flag.Value ? "yes" : "no")}");
            }

            if (status.UnknownBits != 0)
            {
                o.WriteLine($"  {"undocumented bits",-30} 0x{status.UnknownBits.ToString("x", c)}");
            }
        }
        else
        {
            o.WriteLine($"{"vcgencmd get_throttled",-28} n/a");
        }

        if (s.CpuFrequencies.Count == 0)
        {
            o.WriteLine($"{"cpufreq",-28} n/a");
        }

        foreach (CpuFrequencyReading cpu in s.CpuFrequencies)
        {
            o.WriteLine($"{"cpu" + cpu.Cpu.ToString(c),-28} {Khz(cpu.CurrentKHz)} kHz (min {Khz(cpu.MinimumKHz)}, max {Khz(cpu.MaximumKHz)}, hardware max {Khz(cpu.HardwareMaximumKHz)}, {cpu.Governor ?? "n/a"})");
        }

        o.WriteLine(s.Memory is { } m
            ? $"{"memory",-28} total {Mib(m.TotalBytes)}, available {Mib(m.AvailableBytes)}, free {Mib(m.FreeBytes)}, swap free {Mib(m.SwapFreeBytes)} of {Mib(m.SwapTotalBytes)}"
            : $"{"memory",-28} n/a");
        o.WriteLine(s.LoadAverage is { } l
            ? string.Create(c, $"{"load average",-28} {l.OneMinute:0.00} {l.FiveMinutes:0.00} {l.FifteenMinutes:0.00} ({l.RunnableTasks}/{l.TotalTasks} tasks)")
            : $"{"load average",-28} n/a");
        if (s.Network.Count == 0)
        {
            o.WriteLine($"{"network",-28} n/a");
        }

        foreach (NetworkInterfaceReading nic in s.Network)
        {
            o.WriteLine(string.Create(c, $"{"net " + nic.Name,-28} received {nic.BytesReceived} B / {nic.PacketsReceived} packets, sent {nic.BytesSent} B / {nic.PacketsSent} packets"));
        }

        o.WriteLine(string.Create(c, $"{"network total (no lo)",-28} received {s.BytesReceived?.ToString(c) ?? "n/a"} B, sent {s.BytesSent?.ToString(c) ?? "n/a"} B"));
        foreach (ProbeError error in s.Errors)
        {
            o.WriteLine($"{"error",-28} {error.Source}: {error.Kind}: {error.Message}");
        }
    }
}
