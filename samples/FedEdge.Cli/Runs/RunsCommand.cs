using System.CommandLine;
using System.Globalization;
using System.Text;

namespace FedEdge.Cli.Runs;

/// <summary><c>fededge runs list|show|compare</c>: the experiment records every simulate and coordinator run leaves.</summary>
internal static class RunsCommand
{
    /// <summary>The <c>--runs DIR</c> option (the store; default <c>fededge-runs</c>) shared by simulate, coordinator and runs.</summary>
    public static Option<DirectoryInfo> StoreOption() =>
        new("--runs") { Description = "The runs store: every run records config, report.json, per-round metrics and plots in DIR/<run id>/.", DefaultValueFactory = _ => new DirectoryInfo(RunRecorder.DefaultStore), HelpName = "DIR" };

    public static Command Create()
    {
        Command runs = new("runs", "List, show and compare recorded runs (every simulate and coordinator run is recorded in the runs store).");
        Option<DirectoryInfo> store = StoreOption();
        store.Recursive = true;
        runs.Options.Add(store);

        Command list = new("list", "Print a table of the recorded runs.");
        list.SetAction(async (parse, _) => await RunAsync(parse, "runs list", w => ListRuns(parse.GetValue(store)!.FullName, w)).ConfigureAwait(false));

        Argument<string> id = new("ID") { Description = "A run id (see `fededge runs list`)." };
        Command show = new("show", "Print one run: its settings, final metrics and per-round metrics.") { id };
        show.SetAction(async (parse, _) => await RunAsync(parse, "runs show", w => Show(RunRecorder.Load(parse.GetValue(store)!.FullName, parse.GetValue(id)!), w)).ConfigureAwait(false));

        Argument<string[]> ids = new("ID") { Description = "Two or more run ids.", Arity = new ArgumentArity(2, 32) };
        Option<FileInfo?> plot = new("--plot") { Description = "Where the F1-per-round comparison plot goes (default: DIR/compare-<ids>.png).", HelpName = "FILE" };
        Command compare = new("compare", "Compare runs side by side (final metrics, bytes and seconds per round) and plot F1 per round.") { ids, plot };
        compare.SetAction(async (parse, _) => await RunAsync(parse, "runs compare", w => Compare(parse.GetValue(store)!.FullName, parse.GetValue(ids)!, parse.GetValue(plot)?.FullName, w)).ConfigureAwait(false));

        runs.Subcommands.Add(list);
        runs.Subcommands.Add(show);
        runs.Subcommands.Add(compare);
        return runs;
    }

    private static async Task<int> RunAsync(ParseResult parse, string name, Action<TextWriter> body)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        try
        {
            var buffer = new StringWriter(CultureInfo.InvariantCulture);
            body(buffer);
            await output.WriteAsync(buffer.ToString()).ConfigureAwait(false);
            return 0;
        }
        catch (RunStoreException ex)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"fededge {name}: {ex.Message}").ConfigureAwait(false);
            return ex.IsUsageError ? 2 : 1;
        }
        catch (IOException ex)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"fededge {name}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static void ListRuns(string store, TextWriter w)
    {
        IReadOnlyList<RunSummary> runs = RunRecorder.List(store);
        if (runs.Count == 0)
        {
            w.WriteLine($"no runs in {store}");
            return;
        }

        w.WriteLine($"{"id",-36} {"command",-12} {"started (UTC)",-20} {"rounds",6} {"final loss",10} {"final F1",9}  status");
        foreach (RunSummary r in runs)
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Id,-36} {r.Command,-12} {r.Started.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} {r.Rounds.Count,6} {Fmt(r.FinalLoss),10} {Fmt(r.FinalF1),9}  {r.Status}{(r.StopReason is null ? string.Empty : ": " + r.StopReason)}"));
        }
    }

    private static void Show(RunSummary r, TextWriter w)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        w.WriteLine($"run {r.Id}: {r.Command}, started {r.Started.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", c)} UTC, {r.Status}");
        foreach (KeyValuePair<string, System.Text.Json.Nodes.JsonNode?> setting in r.Config)
        {
            if (setting.Value is not null)
            {
                w.WriteLine($"  {setting.Key} = {setting.Value.ToJsonString()}");
            }
        }

        w.WriteLine(string.Create(c, $"final: loss {Fmt(r.FinalLoss)}  F1 {Fmt(r.FinalF1)}  bytes {r.TotalBytes:N0}  seconds {r.TotalSeconds:0.00}  bytes/s {r.BytesPerSecond:N0}{(r.StopReason is null ? string.Empty : "  stop: " + r.StopReason)}"));
        w.WriteLine($"{"round",5} {"outcome",-9} {"participants",12} {"loss",8} {"F1",8} {"bytes up",12} {"bytes down",12} {"seconds",8} {"ε",8}");
        foreach (RunRound x in r.Rounds)
        {
            w.WriteLine(string.Create(c, $"{x.Round,5} {(x.Completed ? "completed" : "failed"),-9} {x.Participants,12} {Fmt(x.Loss),8} {Fmt(x.F1),8} {x.BytesUp,12:N0} {x.BytesDown,12:N0} {x.Seconds,8:0.00} {(x.Epsilon is double e ? e.ToString("0.###", c) : string.Empty),8}"));
        }
    }

    private static void Compare(string store, string[] ids, string? plotPath, TextWriter w)
    {
        RunSummary[] runs = [.. ids.Select(id => RunRecorder.Load(store, id))];
        CultureInfo c = CultureInfo.InvariantCulture;
        int width = Math.Max(14, runs.Max(r => r.Id.Length));
        void Row(string label, Func<RunSummary, string> cell)
        {
            var sb = new StringBuilder();
            sb.Append(c, $"{label,-16}");
            foreach (RunSummary r in runs)
            {
                sb.Append(' ').Append(cell(r).PadLeft(width));
            }

            w.WriteLine(sb.ToString());
        }

        Row("run", r => r.Id);
        Row("command", r => r.Command);
        Row("strategy", r => r.Config["strategy"]?.ToString() ?? "n/a");
        Row("rounds", r => r.Rounds.Count.ToString(c));
        Row("final loss", r => Fmt(r.FinalLoss));
        Row("final F1", r => Fmt(r.FinalF1));
        Row("bytes/round", r => r.BytesPerRound.ToString("N0", c));
        Row("seconds/round", r => r.SecondsPerRound.ToString("0.000", c));
        Row("bytes/s", r => r.BytesPerSecond.ToString("N0", c));
        Row("stop", r => r.StopReason ?? r.Status);
        w.WriteLine();
        w.WriteLine("F1, bytes and seconds per round:");
        long last = runs.Max(r => r.Rounds.Count == 0 ? 0 : r.Rounds[^1].Round);
        for (long round = 1; round <= last; round++)
        {
            long n = round;
            Row(string.Create(c, $"round {n}"), r => r.Rounds.FirstOrDefault(x => x.Round == n) is { } x
                ? string.Create(c, $"{Fmt(x.F1)} {(x.BytesUp + x.BytesDown) / 1024.0:0}K {x.Seconds:0.00}s")
                : "–");
        }

        string path = plotPath ?? Path.Combine(store, "compare-" + string.Join("-", ids.Select(i => i.Split('-')[^1])) + ".png");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        RunPlots.WriteComparison(path, runs);
        w.WriteLine();
        w.WriteLine($"F1 per round plot: {path}");
    }

    private static string Fmt(double? v) => v is double d ? d.ToString("0.0000", CultureInfo.InvariantCulture) : "n/a";
}
