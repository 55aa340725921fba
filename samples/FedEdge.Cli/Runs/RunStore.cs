using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FedEdge.Cli.Runs;

/// <summary>One round of a recorded run (a line of <c>rounds.csv</c>).</summary>
internal sealed record RunRound(long Round, bool Completed, int Participants, double? Loss, double? F1, long BytesUp, long BytesDown, double Seconds, double? Epsilon);

/// <summary>A recorded run as <c>fededge runs</c> reads it back.</summary>
internal sealed record RunSummary(string Id, string Command, DateTimeOffset Started, string Status, JsonObject Config, JsonObject? Final, IReadOnlyList<RunRound> Rounds)
{
    public RunRound? LastCompleted => Rounds.LastOrDefault(r => r.Completed);

    public double? FinalF1 => Final?["federated"]?["f1"]?.GetValue<double>() ?? LastCompleted?.F1;

    public double? FinalLoss => LastCompleted?.Loss;

    public long TotalBytes => Rounds.Sum(r => r.BytesUp + r.BytesDown);

    public double TotalSeconds => Rounds.Sum(r => r.Seconds);

    public double BytesPerRound => Rounds.Count == 0 ? 0 : (double)TotalBytes / Rounds.Count;

    public double SecondsPerRound => Rounds.Count == 0 ? 0 : TotalSeconds / Rounds.Count;

    public double BytesPerSecond => TotalSeconds <= 0 ? 0 : TotalBytes / TotalSeconds;

    public string? StopReason => Final?["stop_reason"]?.GetValue<string>();
}

/// <summary>A run store was asked for something it does not hold, or holds something unreadable.</summary>
internal sealed class RunStoreException(string message, bool usage) : Exception(message)
{
    /// <summary>True for a usage error (an unknown id, a missing store), exit code 2; false for a damaged record, exit code 1.</summary>
    public bool IsUsageError { get; } = usage;
}

/// <summary>
/// The runs store (<c>fededge-runs/</c> by default): one folder per run id with <c>config.json</c>, <c>rounds.csv</c>
/// (per-round metrics, written after every round), <c>report.json</c> and the plots (written when the run ends).
/// </summary>
internal sealed class RunRecorder
{
    public const string DefaultStore = "fededge-runs";
    private const string CsvHeader = "round,completed,participants,loss,f1,bytes_up,bytes_down,seconds,epsilon";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly List<RunRound> _rounds = [];

    private RunRecorder(string folder, string id)
    {
        Folder = folder;
        Id = id;
    }

    public string Folder { get; }

    public string Id { get; }

    /// <summary>Creates the run's folder under <paramref name="store"/> and writes <c>config.json</c>.</summary>
    public static RunRecorder Start(string store, string command, JsonObject settings)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        string id = string.Create(CultureInfo.InvariantCulture, $"{now:yyyyMMdd-HHmmss}-{command}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2))}");
        string folder = Path.Combine(store, id);
        Directory.CreateDirectory(folder);
        var config = new JsonObject
        {
            ["id"] = id,
            ["command"] = command,
            ["started_at"] = now.ToString("O", CultureInfo.InvariantCulture),
            ["arguments"] = new JsonArray([.. Redact(Environment.GetCommandLineArgs().Skip(1)).Select(a => (JsonNode)JsonValue.Create(a)!)]),
            ["settings"] = settings,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(Indented));
        var recorder = new RunRecorder(folder, id);
        recorder.WriteRounds();
        return recorder;
    }

    /// <summary>Appends a round and rewrites <c>rounds.csv</c>, so a run that is killed keeps its rounds so far.</summary>
    public void AddRound(RunRound round)
    {
        _rounds.Add(round);
        WriteRounds();
    }

    /// <summary>Writes <c>report.json</c> and the plots.</summary>
    public void Finish(JsonObject report)
    {
        report["run_id"] = Id;
        File.WriteAllText(Path.Combine(Folder, "report.json"), report.ToJsonString(Indented));
        RunPlots.WriteRunPlots(Folder, _rounds);
    }

    /// <summary>Every run in <paramref name="store"/>, oldest first; a missing store holds no runs.</summary>
    public static IReadOnlyList<RunSummary> List(string store) =>
        !Directory.Exists(store)
            ? []
            : [.. Directory.GetDirectories(store).Where(d => File.Exists(Path.Combine(d, "config.json"))).Select(d => Load(store, Path.GetFileName(d))).OrderBy(r => r.Started).ThenBy(r => r.Id, StringComparer.Ordinal)];

    /// <summary>Reads one run; an unknown id or a damaged record is a <see cref="RunStoreException"/>.</summary>
    public static RunSummary Load(string store, string id)
    {
        if (id.Length == 0 || id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id is "." or "..")
        {
            throw new RunStoreException($"'{id}' is not a run id (see `fededge runs list`).", usage: true);
        }

        string folder = Path.Combine(store, id);
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
        {
            throw new RunStoreException($"no run '{id}' in {Path.GetFullPath(store)} (see `fededge runs list --runs DIR`).", usage: true);
        }

        try
        {
            JsonObject config = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new JsonException("empty");
            string reportPath = Path.Combine(folder, "report.json");
            JsonObject? final = File.Exists(reportPath) ? JsonNode.Parse(File.ReadAllText(reportPath))?["final"]?.AsObject() : null;
            string csv = Path.Combine(folder, "rounds.csv");
            List<RunRound> rounds = File.Exists(csv) ? [.. File.ReadLines(csv).Skip(1).Where(l => l.Length > 0).Select(ParseRound)] : [];
            DateTimeOffset started = DateTimeOffset.Parse(config["started_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            string status = File.Exists(reportPath) ? "finished" : "running or stopped";
            return new RunSummary(id, config["command"]!.GetValue<string>(), started, status, config["settings"]?.AsObject() ?? [], final, rounds);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or NullReferenceException or IndexOutOfRangeException or IOException)
        {
            throw new RunStoreException($"the record of run '{id}' in {folder} is damaged: {ex.Message}", usage: false);
        }
    }

    /// <summary>The command line without secrets: a device's password (<c>--device ID=PASSWORD=URL</c>, <c>--password</c>) becomes <c>***</c>.</summary>
    internal static IEnumerable<string> Redact(IEnumerable<string> arguments)
    {
        string? previous = null;
        foreach (string argument in arguments)
        {
            yield return previous switch
            {
                "--device" => argument.Split('=')[0] + "=***",
                "--password" => "***",
                _ when argument.StartsWith("--device=", StringComparison.Ordinal) => "--device=" + argument["--device=".Length..].Split('=')[0] + "=***",
                _ when argument.StartsWith("--password=", StringComparison.Ordinal) => "--password=***",
                _ => argument,
            };
            previous = argument;
        }
    }

    private void WriteRounds()
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        CultureInfo c = CultureInfo.InvariantCulture;
        foreach (RunRound r in _rounds)
        {
            sb.Append(c, $"{r.Round},{(r.Completed ? "true" : "false")},{r.Participants},{r.Loss?.ToString("R", c)},{r.F1?.ToString("R", c)},{r.BytesUp},{r.BytesDown},{r.Seconds.ToString("R", c)},{r.Epsilon?.ToString("R", c)}\n");
        }

        string path = Path.Combine(Folder, "rounds.csv");
        File.WriteAllText(path + ".tmp", sb.ToString());
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private static RunRound ParseRound(string line)
    {
        string[] f = line.Split(',');
        if (f.Length != 9)
        {
            throw new FormatException($"rounds.csv line '{line}' has {f.Length} fields, not 9");
        }

        CultureInfo c = CultureInfo.InvariantCulture;
        double? Opt(string s) => s.Length == 0 ? null : double.Parse(s, c);
        return new RunRound(long.Parse(f[0], c), bool.Parse(f[1]), int.Parse(f[2], c), Opt(f[3]), Opt(f[4]), long.Parse(f[5], c), long.Parse(f[6], c), double.Parse(f[7], c), Opt(f[8]));
    }
}
