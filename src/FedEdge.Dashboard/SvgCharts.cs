using System.Globalization;
using System.Text;

namespace FedEdge.Dashboard;

/// <summary>Server-side SVG charts of the rounds (no chart library in the browser). Rounds on x are integers.</summary>
internal static class SvgCharts
{
    private const int Width = 640;
    private const int Height = 220;
    private const int Left = 56;
    private const int Right = 16;
    private const int Top = 16;
    private const int Bottom = 32;

    /// <summary>Training loss and F1 per round.</summary>
    public static string Quality(IReadOnlyList<RoundEntry> rounds)
    {
        double max = Math.Max(1, rounds.Select(r => r.Loss ?? 0).DefaultIfEmpty(0).Max());
        var sb = Begin("loss and F1 per round", rounds, 0, max, v => v.ToString("0.##", CultureInfo.InvariantCulture));
        Line(sb, rounds, r => r.Loss, max, "#d9534f", "loss");
        Line(sb, rounds, r => r.F1, max, "#2e7d32", "F1");
        Legend(sb, ("loss", "#d9534f"), ("F1", "#2e7d32"));
        return sb.Append("</svg>").ToString();
    }

    /// <summary>Bytes up and down per round.</summary>
    public static string Bytes(IReadOnlyList<RoundEntry> rounds)
    {
        double max = Math.Max(1, rounds.Select(r => (double)Math.Max(r.BytesUp, r.BytesDown)).DefaultIfEmpty(0).Max());
        var sb = Begin("bytes per round", rounds, 0, max, FormatBytes);
        Line(sb, rounds, r => r.BytesUp, max, "#1565c0", "up");
        Line(sb, rounds, r => r.BytesDown, max, "#ef6c00", "down");
        Legend(sb, ("bytes up", "#1565c0"), ("bytes down", "#ef6c00"));
        return sb.Append("</svg>").ToString();
    }

    private static StringBuilder Begin(string title, IReadOnlyList<RoundEntry> rounds, double min, double max, Func<double, string> label)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder(4096);
        sb.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{title}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append(c, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"none\" stroke=\"#bbb\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double v = min + ((max - min) * i / 4);
            double y = Y(v, max);
            sb.Append(c, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#eee\"/><text x=\"{Left - 4}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{label(v)}</text>");
        }

        foreach (long tick in RoundTicks(rounds))
        {
            double x = X(tick, rounds);
            sb.Append(c, $"<text x=\"{x:0.#}\" y=\"{Height - Bottom + 14}\" text-anchor=\"middle\">{tick}</text>");
        }

        sb.Append(c, $"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 4}\" text-anchor=\"middle\">round</text>");
        return sb;
    }

    /// <summary>Integer round ticks: at most about ten, every k-th round.</summary>
    internal static IEnumerable<long> RoundTicks(IReadOnlyList<RoundEntry> rounds)
    {
        if (rounds.Count == 0)
        {
            yield break;
        }

        long first = rounds[0].Round, last = rounds[^1].Round;
        long step = Math.Max(1, (long)Math.Ceiling((last - first + 1) / 10.0));
        for (long r = first; r <= last; r += step)
        {
            yield return r;
        }
    }

    private static void Line(StringBuilder sb, IReadOnlyList<RoundEntry> rounds, Func<RoundEntry, double?> value, double max, string colour, string name)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var points = new StringBuilder();
        foreach (RoundEntry r in rounds)
        {
            if (value(r) is double v && double.IsFinite(v))
            {
                points.Append(c, $"{X(r.Round, rounds):0.#},{Y(v, max):0.#} ");
            }
        }

        if (points.Length > 0)
        {
            sb.Append(c, $"<polyline class=\"series-{name}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points.ToString().TrimEnd()}\"/>");
        }
    }

    private static void Legend(StringBuilder sb, params (string Name, string Colour)[] series)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        int x = Left + 8;
        foreach ((string name, string colour) in series)
        {
            sb.Append(c, $"<rect x=\"{x}\" y=\"{Top + 6}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{x + 14}\" y=\"{Top + 15}\">{name}</text>");
            x += 90;
        }
    }

    private static double X(long round, IReadOnlyList<RoundEntry> rounds)
    {
        long first = rounds[0].Round, last = rounds[^1].Round;
        double span = Math.Max(1, last - first);
        return Left + 10 + ((round - first) / span * (Width - Left - Right - 20));
    }

    private static double Y(double value, double max) => Height - Bottom - (value / max * (Height - Top - Bottom - 24));

    private static string FormatBytes(double b) => b switch
    {
        >= 1 << 20 => (b / (1 << 20)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (b / (1 << 10)).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString("0", CultureInfo.InvariantCulture) + " B",
    };
}
