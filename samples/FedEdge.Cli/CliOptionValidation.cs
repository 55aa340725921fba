using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using FedEdge.Training;

namespace FedEdge.Cli;

/// <summary>
/// Checks of option values at parse time: a value that cannot work (a port out of range, zero rounds, a URL that is
/// not one, a file that is missing or unreadable) is a parse error, which <c>Program</c> reports as one line and exit code 2.
/// </summary>
internal static class CliOptionValidation
{
    /// <summary>The longest interval a timer accepts (<see cref="Task.Delay(int)"/> counts milliseconds in an int).</summary>
    public const double MaxSeconds = int.MaxValue / 1000;

    /// <summary>Adds a check: <paramref name="problem"/> returns why an explicitly given value cannot work, or null.</summary>
    public static Option<T> Check<T>(this Option<T> option, Func<T, string?> problem)
    {
        ArgumentNullException.ThrowIfNull(option);
        ArgumentNullException.ThrowIfNull(problem);
        option.Validators.Add(result =>
        {
            // Defaults are trusted; a token that does not convert already carries the parser's own error.
            if (result.Implicit || result.Errors.Any())
            {
                return;
            }

            T? value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                // The conversion failed: System.CommandLine reports that error itself.
                return;
            }

            if (value is not null && problem(value) is string why)
            {
                result.AddError($"{option.Name} {why} (got '{string.Join(' ', result.Tokens.Select(t => t.Value))}').");
            }
        });
        return option;
    }

    /// <summary>The <c>--codec</c> option of simulate and coordinator: f32, f16, int8 or topk:FRACTION, checked at parse time.</summary>
    public static Option<string?> CodecOption() => new Option<string?>("--codec")
    {
        Description = "How workers encode their updates, announced in every round task: f32 (exact, default), f16, int8 (per-tensor 8-bit) or topk:FRACTION (the largest FRACTION of the delta, e.g. topk:0.01, with error feedback on the worker). Updates stay signed: the signature covers the encoded bytes.",
        HelpName = "f32|f16|int8|topk:FRACTION",
    }.Check(v => FedEdge.Messaging.UpdateCodecSpec.TryParse(v, out _, out _, out string error) ? null : "is not a codec: " + error.TrimEnd('.'));

    public static Option<int> Between(this Option<int> option, int min, int max) =>
        option.Check(v => v < min || v > max ? string.Create(CultureInfo.InvariantCulture, $"must be between {min} and {max}") : null);

    public static Option<int> AtLeast(this Option<int> option, int min) =>
        option.Check(v => v < min ? string.Create(CultureInfo.InvariantCulture, $"must be at least {min}") : null);

    public static Option<int?> AtLeast(this Option<int?> option, int min) =>
        option.Check(v => v < min ? string.Create(CultureInfo.InvariantCulture, $"must be at least {min}") : null);

    public static Option<float> Positive(this Option<float> option) =>
        option.Check(v => v > 0 && float.IsFinite(v) ? null : "must be a positive finite number");

    /// <summary>A momentum-like factor: 0 or more and below 1.</summary>
    public static Option<float> Fraction(this Option<float> option) =>
        option.Check(v => v >= 0 && v < 1 ? null : "must be at least 0 and below 1");

    /// <summary>A duration in seconds: positive, finite, and short enough for a timer.</summary>
    public static Option<double> Seconds(this Option<double> option) =>
        option.Check(v => v > 0 && v <= MaxSeconds ? null : string.Create(CultureInfo.InvariantCulture, $"must be a positive number of seconds, at most {MaxSeconds}"));

    /// <summary>An optional duration in seconds: when given, positive, finite, and short enough for a timer.</summary>
    public static Option<double?> Seconds(this Option<double?> option) =>
        option.Check(v => v is null || (v > 0 && v <= MaxSeconds) ? null : string.Create(CultureInfo.InvariantCulture, $"must be a positive number of seconds, at most {MaxSeconds}"));

    public static Option<string> NotEmpty(this Option<string> option) =>
        option.Check(v => string.IsNullOrWhiteSpace(v) ? "must not be empty" : null);

    /// <summary>An MQTT broker URL: mqtt://host:port or mqtts://host:port.</summary>
    public static Option<T> MqttUrl<T>(this Option<T> option)
        where T : class? =>
        option.Check(v => v is string s && Uri.TryCreate(s, UriKind.Absolute, out Uri? uri) && uri.Scheme is "mqtt" or "mqtts" && !string.IsNullOrEmpty(uri.Host)
            ? null
            : "must be an MQTT broker URL, mqtt://host:port");

    /// <summary>An absolute URL (a MUD URL).</summary>
    public static Option<T> AbsoluteUrl<T>(this Option<T> option)
        where T : class? =>
        option.Check(v => v is string s && Uri.TryCreate(s, UriKind.Absolute, out Uri? uri) && !string.IsNullOrEmpty(uri.Host)
            ? null
            : "must be an absolute URL, e.g. https://example.com/device.json");

    /// <summary>A model the catalogue knows (mlp, mednn, colearn, autoencoder, mlp:SIZES).</summary>
    public static Option<string> KnownModel(this Option<string> option) =>
        option.Check(v =>
        {
            try
            {
                _ = ModelCatalog.GetSpec(v);
                return null;
            }
            catch (ArgumentException)
            {
                return $"must name a model: {string.Join(", ", ModelCatalog.Names)} or mlp:SIZES";
            }
        });

    /// <summary>A file that exists and can be opened for reading.</summary>
    public static Option<FileInfo?> ReadableFile(this Option<FileInfo?> option) => option.Check(f => f is null ? null : FileProblem(f.FullName));

    /// <summary>A file that exists and can be opened for reading (given as a path).</summary>
    public static Option<T> ReadablePath<T>(this Option<T> option)
        where T : class? =>
        option.Check(v => FileProblem(v as string ?? string.Empty));

    /// <summary>Files that exist and can be opened for reading.</summary>
    public static Option<string[]> ReadableFiles(this Option<string[]> option) =>
        option.Check(paths => paths.Select(FileProblem).FirstOrDefault(p => p is not null));

    public static Option<DirectoryInfo?> ExistingDirectory(this Option<DirectoryInfo?> option) =>
        option.Check(d => d is null || d.Exists ? null : $"must be an existing folder ('{d!.FullName}' does not exist)");

    /// <summary>Why <paramref name="path"/> cannot be read as a file, or null.</summary>
    public static string? FileProblem(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return "must name a file";
        }

        if (!File.Exists(path))
        {
            return $"must be an existing file ('{path}' was not found)";
        }

        try
        {
            using FileStream stream = File.OpenRead(path);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"must be a readable file ('{path}': {ex.Message})";
        }
    }
}
