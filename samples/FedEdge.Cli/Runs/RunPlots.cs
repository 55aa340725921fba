namespace FedEdge.Cli.Runs;

/// <summary>PNG plots of recorded runs (ScottPlot); rounds on x get integer ticks only.</summary>
internal static class RunPlots
{
    /// <summary>Loss and F1 per round, bytes per round: <c>loss_f1.png</c> and <c>bytes.png</c> in <paramref name="folder"/>.</summary>
    public static void WriteRunPlots(string folder, IReadOnlyList<RunRound> rounds)
    {
        if (rounds.Count == 0)
        {
            return;
        }

        double[] x = [.. rounds.Select(r => (double)r.Round)];
        var quality = new ScottPlot.Plot();
        double[] loss = [.. rounds.Select(r => r.Loss ?? double.NaN)];
        double[] f1 = [.. rounds.Select(r => r.F1 ?? double.NaN)];
        quality.Add.Scatter(x, loss).LegendText = "mean training loss";
        quality.Add.Scatter(x, f1).LegendText = "F1";
        quality.Title("Loss and F1 per round");
        Finish(quality);
        quality.SavePng(Path.Combine(folder, "loss_f1.png"), 900, 500);

        var bytes = new ScottPlot.Plot();
        double[] up = [.. rounds.Select(r => r.BytesUp / 1024.0)];
        double[] down = [.. rounds.Select(r => r.BytesDown / 1024.0)];
        bytes.Add.Scatter(x, up).LegendText = "up (KiB)";
        bytes.Add.Scatter(x, down).LegendText = "down (KiB)";
        bytes.Title("Bytes per round");
        bytes.YLabel("KiB");
        Finish(bytes);
        bytes.SavePng(Path.Combine(folder, "bytes.png"), 900, 500);
    }

    /// <summary>F1 per round of several runs on one plot.</summary>
    public static void WriteComparison(string path, IReadOnlyList<RunSummary> runs)
    {
        var plot = new ScottPlot.Plot();
        foreach (RunSummary run in runs)
        {
            RunRound[] rounds = [.. run.Rounds.Where(r => r.F1 is not null)];
            if (rounds.Length > 0)
            {
                double[] xs = [.. rounds.Select(r => (double)r.Round)];
                double[] ys = [.. rounds.Select(r => r.F1!.Value)];
                plot.Add.Scatter(xs, ys).LegendText = run.Id;
            }
        }

        plot.Title("F1 per round");
        plot.YLabel("F1");
        Finish(plot);
        plot.SavePng(path, 1000, 550);
    }

    /// <summary>Rounds are integers: the x axis never shows fractional ticks.</summary>
    internal static void Finish(ScottPlot.Plot plot)
    {
        plot.XLabel("round");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.Bottom.MinorTickStyle.Length = 0;
        plot.ShowLegend();
    }
}
