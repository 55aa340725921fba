using System.Text;
using System.Text.Json;

namespace FedEdge.Mud;

/// <summary>The validation outcome of one file on disk, as printed by <c>fededge mud validate</c>.</summary>
public sealed record MudFileReport
{
    /// <summary>The diagnostic code for a file that could not be read.</summary>
    public const string UnreadableFileCode = "MUD0000";

    /// <summary>The file path as given.</summary>
    public required string File { get; init; }

    /// <summary>True when the file is valid in the chosen mode.</summary>
    public bool Ok { get; init; }

    /// <summary>strict or lenient.</summary>
    public MudParseMode Mode { get; init; }

    /// <summary>Every finding.</summary>
    public IReadOnlyList<MudDiagnostic> Diagnostics { get; init; } = [];

    /// <summary>Reads, parses and validates one file; never throws for unreadable or hostile files.</summary>
    public static MudFileReport ForFile(string path, MudParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= MudParserOptions.Strict;
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path))
            {
                return Unreadable(path, options.Mode, "It is a directory.");
            }

            if (!info.Exists)
            {
                return Unreadable(path, options.Mode, "File not found.");
            }

            if (info.Length > options.MaxBytes)
            {
                return new MudFileReport
                {
                    File = path,
                    Ok = false,
                    Mode = options.Mode,
                    Diagnostics = [new MudDiagnostic(MudDiagnosticCodes.TooLarge, "$", MudSeverity.Error, $"File is {info.Length} bytes; the limit is {options.MaxBytes}.", "FedEdge input limit")],
                };
            }

            bytes = System.IO.File.ReadAllBytes(path);
        }
        catch (IOException ex)
        {
            return Unreadable(path, options.Mode, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return Unreadable(path, options.Mode, ex.Message);
        }

        MudParseResult result = MudParser.Parse(bytes, options);
        return new MudFileReport { File = path, Ok = result.IsValid, Mode = options.Mode, Diagnostics = result.Diagnostics };
    }

    private static MudFileReport Unreadable(string path, MudParseMode mode, string message) => new()
    {
        File = path,
        Ok = false,
        Mode = mode,
        Diagnostics = [new MudDiagnostic(UnreadableFileCode, "$", MudSeverity.Error, "Cannot read the file: " + message, "input")],
    };

    /// <summary>Writes reports as a JSON array of { file, ok, mode, diagnostics[ { code, path, severity, message, rule } ] }.</summary>
    public static string ToJson(IEnumerable<MudFileReport> reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (MudFileReport r in reports)
            {
                w.WriteStartObject();
                w.WriteString("file", r.File);
                w.WriteBoolean("ok", r.Ok);
                w.WriteString("mode", r.Mode == MudParseMode.Strict ? "strict" : "lenient");
                w.WriteStartArray("diagnostics");
                foreach (MudDiagnostic d in r.Diagnostics)
                {
                    w.WriteStartObject();
                    w.WriteString("code", d.Code);
                    w.WriteString("path", d.Path);
                    w.WriteString("severity", d.Severity.ToString().ToLowerInvariant());
                    w.WriteString("message", d.Message);
                    w.WriteString("rule", d.Rule);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
