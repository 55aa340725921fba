using System.Globalization;

namespace FedEdge.Hardware;

/// <summary>
/// Parsers for the kernel and firmware text formats the probes read. Each names its source in the
/// <see cref="ProbeDataException"/> it throws for malformed contents.
/// </summary>
public static class ProbeParsers
{
    /// <summary>Parses a thermal zone's <c>temp</c> (integer millidegrees Celsius, e.g. <c>48312</c>) to °C.</summary>
    public static double ParseMillidegrees(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (!long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long milli))
        {
            throw new ProbeDataException(sourceName, $"expected an integer in millidegrees Celsius, found '{Excerpt(trimmed)}'");
        }

        double celsius = milli / 1000.0;
        if (celsius is < -273.15 or > 1000)
        {
            throw new ProbeDataException(sourceName, $"temperature {celsius.ToString(CultureInfo.InvariantCulture)} °C is not physical");
        }

        return celsius;
    }

    /// <summary>Parses a non-negative integer attribute such as <c>scaling_cur_freq</c> (kHz).</summary>
    public static long ParseNonNegativeInteger(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (!long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            throw new ProbeDataException(sourceName, $"expected a non-negative integer, found '{Excerpt(trimmed)}'");
        }

        return value;
    }

    /// <summary>Parses <c>vcgencmd measure_temp</c> output, e.g. <c>temp=49.4'C</c>, to °C.</summary>
    public static double ParseMeasureTemp(string text, string sourceName = "vcgencmd measure_temp")
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        const string Prefix = "temp=";
        if (!trimmed.StartsWith(Prefix, StringComparison.Ordinal) || !trimmed.EndsWith("'C", StringComparison.Ordinal))
        {
            throw new ProbeDataException(sourceName, $"expected \"temp=<degrees>'C\", found '{Excerpt(trimmed)}'");
        }

        string number = trimmed[Prefix.Length..^2];
        if (!double.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double celsius)
            || celsius is < -273.15 or > 1000)
        {
            throw new ProbeDataException(sourceName, $"'{Excerpt(number)}' is not a temperature in °C");
        }

        return celsius;
    }

    /// <summary>Parses <c>vcgencmd get_throttled</c> output, e.g. <c>throttled=0x50005</c>.</summary>
    public static ThrottlingStatus ParseThrottled(string text, string sourceName = "vcgencmd get_throttled")
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        const string Prefix = "throttled=0x";
        if (!trimmed.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase)
            || trimmed.Length == Prefix.Length
            || trimmed.Length > Prefix.Length + 8
            || !uint.TryParse(trimmed.AsSpan(Prefix.Length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint raw))
        {
            throw new ProbeDataException(sourceName, $"expected \"throttled=0x<hex>\" (at most 8 hex digits), found '{Excerpt(trimmed)}'");
        }

        return new ThrottlingStatus(raw);
    }

    /// <summary>Parses <c>/proc/meminfo</c> (lines <c>Name:   value kB</c>); <c>MemTotal</c> and <c>MemFree</c> are required.</summary>
    public static MemoryReading ParseMemInfo(string text, string sourceName = "/proc/meminfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        Dictionary<string, long> values = new(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = rawLine.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ProbeDataException(sourceName, $"line {lineNumber} has no 'Name:' field: '{Excerpt(line)}'");
            }

            string name = line[..colon];
            string[] parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is < 1 or > 2
                || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long value)
                || (parts.Length == 2 && parts[1] != "kB"))
            {
                throw new ProbeDataException(sourceName, $"line {lineNumber} ('{name}') is not '<number> [kB]': '{Excerpt(line)}'");
            }

            if (parts.Length == 2)
            {
                if (value > long.MaxValue / 1024)
                {
                    throw new ProbeDataException(sourceName, $"line {lineNumber} ('{name}') overflows");
                }

                value *= 1024;
            }

            values[name] = value;
        }

        long Required(string name) => values.TryGetValue(name, out long v)
            ? v
            : throw new ProbeDataException(sourceName, $"the '{name}' line is missing");
        long? Optional(string name) => values.TryGetValue(name, out long v) ? v : null;

        return new MemoryReading
        {
            TotalBytes = Required("MemTotal"),
            FreeBytes = Required("MemFree"),
            AvailableBytes = Optional("MemAvailable"),
            SwapTotalBytes = Optional("SwapTotal"),
            SwapFreeBytes = Optional("SwapFree"),
        };
    }

    /// <summary>Parses <c>/proc/loadavg</c>, e.g. <c>0.52 0.58 0.59 1/180 1234</c>.</summary>
    public static LoadAverageReading ParseLoadAverage(string text, string sourceName = "/proc/loadavg")
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        string[] parts = trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 5)
        {
            throw new ProbeDataException(sourceName, $"expected 5 fields ('1m 5m 15m runnable/total lastpid'), found {parts.Length}: '{Excerpt(trimmed)}'");
        }

        double Load(string s, string what) => double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new ProbeDataException(sourceName, $"the {what} load average '{Excerpt(s)}' is not a number");

        string[] tasks = parts[3].Split('/');
        if (tasks.Length != 2
            || !int.TryParse(tasks[0], NumberStyles.None, CultureInfo.InvariantCulture, out int runnable)
            || !int.TryParse(tasks[1], NumberStyles.None, CultureInfo.InvariantCulture, out int total))
        {
            throw new ProbeDataException(sourceName, $"the task field '{Excerpt(parts[3])}' is not 'runnable/total'");
        }

        return new LoadAverageReading
        {
            OneMinute = Load(parts[0], "1-minute"),
            FiveMinutes = Load(parts[1], "5-minute"),
            FifteenMinutes = Load(parts[2], "15-minute"),
            RunnableTasks = runnable,
            TotalTasks = total,
        };
    }

    /// <summary>Parses <c>/proc/net/dev</c> (two header lines, then <c>iface: 8 receive and 8 transmit counters</c>).</summary>
    public static IReadOnlyList<NetworkInterfaceReading> ParseNetDev(string text, string sourceName = "/proc/net/dev")
    {
        ArgumentNullException.ThrowIfNull(text);
        List<NetworkInterfaceReading> result = [];
        int lineNumber = 0;
        bool sawHeader = false;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = rawLine.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.Contains('|', StringComparison.Ordinal))
            {
                sawHeader = true;
                continue;
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ProbeDataException(sourceName, $"line {lineNumber} has no 'interface:' prefix: '{Excerpt(line)}'");
            }

            string name = line[..colon].Trim();
            string[] fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 16)
            {
                throw new ProbeDataException(sourceName, $"line {lineNumber} ('{name}') has {fields.Length} counters, expected 16");
            }

            long[] counters = new long[16];
            for (int i = 0; i < 16; i++)
            {
                if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out counters[i]))
                {
                    throw new ProbeDataException(sourceName, $"line {lineNumber} ('{name}') counter {i + 1} '{Excerpt(fields[i])}' is not a non-negative integer");
                }
            }

            result.Add(new NetworkInterfaceReading
            {
                Name = name,
                BytesReceived = counters[0],
                PacketsReceived = counters[1],
                ReceiveErrors = counters[2],
                ReceiveDrops = counters[3],
                BytesSent = counters[8],
                PacketsSent = counters[9],
                SendErrors = counters[10],
                SendDrops = counters[11],
            });
        }

        if (!sawHeader)
        {
            throw new ProbeDataException(sourceName, "the 'Inter-|   Receive ... | Transmit' header is missing");
        }

        return result;
    }

    private static string Excerpt(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
