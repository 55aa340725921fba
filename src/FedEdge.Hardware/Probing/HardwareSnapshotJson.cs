using System.Text;
using System.Text.Json;

namespace FedEdge.Hardware;

/// <summary>Writes a <see cref="HardwareSnapshot"/> as JSON (camelCase; every throttling flag named with a boolean; unavailable readings as null).</summary>
public static class HardwareSnapshotJson
{
    /// <summary>Returns the snapshot as a JSON document.</summary>
    public static string ToJson(HardwareSnapshot snapshot, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        using MemoryStream stream = new();
        using (Utf8JsonWriter writer = new(stream, new JsonWriterOptions { Indented = indented }))
        {
            Write(writer, snapshot);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes the snapshot as one JSON object.</summary>
    public static void Write(Utf8JsonWriter writer, HardwareSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(snapshot);
        writer.WriteStartObject();
        writer.WriteString("timestamp", snapshot.Timestamp);
        WriteNumber(writer, "temperatureCelsius", snapshot.TemperatureCelsius);
        WriteString(writer, "temperatureSource", snapshot.TemperatureSource);
        WriteBool(writer, "throttled", snapshot.Throttled);

        writer.WriteStartArray("thermalZones");
        foreach (ThermalZoneReading zone in snapshot.ThermalZones)
        {
            writer.WriteStartObject();
            writer.WriteString("zone", zone.Zone);
            WriteString(writer, "type", zone.Type);
            WriteNumber(writer, "temperatureCelsius", zone.TemperatureCelsius);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();

        writer.WriteStartObject("vcgencmd");
        WriteNumber(writer, "temperatureCelsius", snapshot.VcgencmdTemperatureCelsius);
        if (snapshot.Throttling is ThrottlingStatus throttling)
        {
            writer.WriteStartObject("throttling");
            writer.WriteString("raw", throttling.ToString());
            foreach (KeyValuePair<string, bool> flag in throttling.NamedFlags)
            {
                writer.WriteBoolean(flag.Key, flag.Value);
            }

            writer.WriteBoolean("throttledNow", throttling.IsThrottledNow);
            writer.WriteNumber("unknownBits", throttling.UnknownBits);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("throttling");
        }

        writer.WriteEndObject();

        writer.WriteStartArray("cpuFrequencies");
        foreach (CpuFrequencyReading cpu in snapshot.CpuFrequencies)
        {
            writer.WriteStartObject();
            writer.WriteNumber("cpu", cpu.Cpu);
            WriteNumber(writer, "currentKHz", cpu.CurrentKHz);
            WriteNumber(writer, "minimumKHz", cpu.MinimumKHz);
            WriteNumber(writer, "maximumKHz", cpu.MaximumKHz);
            WriteNumber(writer, "hardwareMaximumKHz", cpu.HardwareMaximumKHz);
            WriteString(writer, "governor", cpu.Governor);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();

        if (snapshot.Memory is { } memory)
        {
            writer.WriteStartObject("memory");
            writer.WriteNumber("totalBytes", memory.TotalBytes);
            writer.WriteNumber("freeBytes", memory.FreeBytes);
            WriteNumber(writer, "availableBytes", memory.AvailableBytes);
            WriteNumber(writer, "swapTotalBytes", memory.SwapTotalBytes);
            WriteNumber(writer, "swapFreeBytes", memory.SwapFreeBytes);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("memory");
        }

        if (snapshot.LoadAverage is { } load)
        {
            writer.WriteStartObject("loadAverage");
            writer.WriteNumber("oneMinute", load.OneMinute);
            writer.WriteNumber("fiveMinutes", load.FiveMinutes);
            writer.WriteNumber("fifteenMinutes", load.FifteenMinutes);
            writer.WriteNumber("runnableTasks", load.RunnableTasks);
            writer.WriteNumber("totalTasks", load.TotalTasks);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("loadAverage");
        }

        writer.WriteStartObject("network");
        WriteNumber(writer, "bytesSent", snapshot.BytesSent);
        WriteNumber(writer, "bytesReceived", snapshot.BytesReceived);
        writer.WriteStartArray("interfaces");
        foreach (NetworkInterfaceReading nic in snapshot.Network)
        {
            writer.WriteStartObject();
            writer.WriteString("name", nic.Name);
            writer.WriteNumber("bytesReceived", nic.BytesReceived);
            writer.WriteNumber("packetsReceived", nic.PacketsReceived);
            writer.WriteNumber("receiveErrors", nic.ReceiveErrors);
            writer.WriteNumber("receiveDrops", nic.ReceiveDrops);
            writer.WriteNumber("bytesSent", nic.BytesSent);
            writer.WriteNumber("packetsSent", nic.PacketsSent);
            writer.WriteNumber("sendErrors", nic.SendErrors);
            writer.WriteNumber("sendDrops", nic.SendDrops);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();

        writer.WriteStartArray("errors");
        foreach (ProbeError error in snapshot.Errors)
        {
            writer.WriteStartObject();
            writer.WriteString("source", error.Source);
            writer.WriteString("kind", error.Kind == ProbeErrorKind.BadData ? "badData" : "unavailable");
            writer.WriteString("message", error.Message);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteNumber(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is double v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteNumber(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is long v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteString(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteBool(Utf8JsonWriter writer, string name, bool? value)
    {
        if (value is bool v)
        {
            writer.WriteBoolean(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
