using System.Globalization;
using FedEdge.Coordination;
using FedEdge.Devices;

namespace FedEdge.Hierarchy;

/// <summary>
/// An edge's devices in aggregate, as the edge reports them upwards: how many, in which state, how hot, and the
/// bytes the edge exchanged with them. The cloud sees this instead of every device.
/// </summary>
public sealed record EdgeDeviceSummary
{
    /// <summary>Metric name prefix of the summary in an edge's update (<c>edge.devices</c>, <c>edge.training</c>, ...).</summary>
    public const string MetricPrefix = "edge.";

    /// <summary>Admitted devices.</summary>
    public int Devices { get; init; }

    /// <summary>Devices that announced they want to train.</summary>
    public int Training { get; init; }

    /// <summary>Devices that announced inference.</summary>
    public int Inference { get; init; }

    /// <summary>Devices that announced they are not ready.</summary>
    public int NotReady { get; init; }

    /// <summary>Devices refused at admission.</summary>
    public int Refused { get; init; }

    /// <summary>The hottest device's temperature (°C), or null when none reports one.</summary>
    public double? MaxTemperatureCelsius { get; init; }

    /// <summary>The devices' mean temperature (°C), or null when none reports one.</summary>
    public double? MeanTemperatureCelsius { get; init; }

    /// <summary>Devices that report throttling now.</summary>
    public int Throttled { get; init; }

    /// <summary>Bytes the edge sent to its devices since it started.</summary>
    public long BytesToDevices { get; init; }

    /// <summary>Bytes the edge received from its devices since it started.</summary>
    public long BytesFromDevices { get; init; }

    /// <summary>Summarises the devices of an edge coordinator.</summary>
    public static EdgeDeviceSummary Of(Coordinator edge)
    {
        ArgumentNullException.ThrowIfNull(edge);
        IReadOnlyList<DeviceStatus> devices = edge.Devices;
        double[] temperatures = [.. devices.Select(d => d.Telemetry.TemperatureCelsius).OfType<double>().Where(double.IsFinite)];
        return new EdgeDeviceSummary
        {
            Devices = devices.Count,
            Training = devices.Count(d => d.Intent == DeviceIntent.Training),
            Inference = devices.Count(d => d.Intent == DeviceIntent.Inference),
            NotReady = devices.Count(d => d.Intent == DeviceIntent.NotReady),
            Refused = edge.RefusedDevices.Count,
            MaxTemperatureCelsius = temperatures.Length == 0 ? null : temperatures.Max(),
            MeanTemperatureCelsius = temperatures.Length == 0 ? null : temperatures.Average(),
            Throttled = devices.Count(d => d.Telemetry.Throttled == true),
            BytesToDevices = edge.TransportStatistics.BytesSent,
            BytesFromDevices = edge.TransportStatistics.BytesReceived,
        };
    }

    /// <summary>The summary as update metrics (<see cref="MetricPrefix"/> + name); a temperature nobody reports is left out.</summary>
    public IReadOnlyDictionary<string, double> ToMetrics()
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [MetricPrefix + "devices"] = Devices,
            [MetricPrefix + "training"] = Training,
            [MetricPrefix + "inference"] = Inference,
            [MetricPrefix + "not_ready"] = NotReady,
            [MetricPrefix + "refused"] = Refused,
            [MetricPrefix + "throttled"] = Throttled,
            [MetricPrefix + "bytes_to_devices"] = BytesToDevices,
            [MetricPrefix + "bytes_from_devices"] = BytesFromDevices,
        };
        if (MaxTemperatureCelsius is double max)
        {
            metrics[MetricPrefix + "temperature_max_c"] = max;
        }

        if (MeanTemperatureCelsius is double mean)
        {
            metrics[MetricPrefix + "temperature_mean_c"] = mean;
        }

        return metrics;
    }

    /// <summary>Reads a summary back from an edge's update metrics; null when they hold none (the sender is not an edge).</summary>
    public static EdgeDeviceSummary? FromMetrics(IReadOnlyDictionary<string, double> metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        if (!metrics.TryGetValue(MetricPrefix + "devices", out double devices))
        {
            return null;
        }

        int Count(string name) => metrics.TryGetValue(MetricPrefix + name, out double v) && double.IsFinite(v) && v >= 0 && v <= int.MaxValue ? (int)v : 0;
        long Bytes(string name) => metrics.TryGetValue(MetricPrefix + name, out double v) && double.IsFinite(v) && v >= 0 && v <= long.MaxValue ? (long)v : 0;
        double? Temperature(string name) => metrics.TryGetValue(MetricPrefix + name, out double v) && double.IsFinite(v) ? v : null;
        return new EdgeDeviceSummary
        {
            Devices = double.IsFinite(devices) && devices >= 0 && devices <= int.MaxValue ? (int)devices : 0,
            Training = Count("training"),
            Inference = Count("inference"),
            NotReady = Count("not_ready"),
            Refused = Count("refused"),
            Throttled = Count("throttled"),
            BytesToDevices = Bytes("bytes_to_devices"),
            BytesFromDevices = Bytes("bytes_from_devices"),
            MaxTemperatureCelsius = Temperature("temperature_max_c"),
            MeanTemperatureCelsius = Temperature("temperature_mean_c"),
        };
    }

    /// <summary>One line for logs and the CLI: <c>devices 2 (training 2, not ready 0, refused 0), max 51.2 °C, bytes to/from devices 1,234/5,678</c>.</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"devices {Devices} (training {Training}, inference {Inference}, not ready {NotReady}, refused {Refused}, throttled {Throttled}), max temperature {(MaxTemperatureCelsius is double t ? t.ToString("0.0", CultureInfo.InvariantCulture) + " °C" : "n/a")}, bytes to/from devices {BytesToDevices:N0}/{BytesFromDevices:N0}");
}

/// <summary>
/// The telemetry an edge announces to the cloud in its heartbeats: its devices' hottest temperature, whether any
/// is throttled, and the bytes it exchanged with them. Set it as the edge worker's <see cref="WorkerOptions.Telemetry"/>.
/// </summary>
public sealed class EdgeTelemetrySource : ITelemetrySource
{
    private readonly Coordinator _edge;

    /// <summary>Reads the devices of <paramref name="edge"/>.</summary>
    public EdgeTelemetrySource(Coordinator edge)
    {
        ArgumentNullException.ThrowIfNull(edge);
        _edge = edge;
    }

    /// <inheritdoc />
    public ValueTask<DeviceTelemetry> ReadAsync(CancellationToken cancellationToken = default)
    {
        EdgeDeviceSummary summary = EdgeDeviceSummary.Of(_edge);
        return ValueTask.FromResult(new DeviceTelemetry
        {
            TemperatureCelsius = summary.MaxTemperatureCelsius,
            Throttled = summary.Devices == 0 ? null : summary.Throttled > 0,
            BytesSent = summary.BytesToDevices,
            BytesReceived = summary.BytesFromDevices,
        });
    }
}
