using System.Globalization;

namespace FedEdge.Data;

/// <summary>Options for <see cref="NbaiotReader"/>.</summary>
public sealed record NbaiotReadOptions
{
    /// <summary>What to do with a bad row (default: reject with a <see cref="DataFormatException"/>).</summary>
    public BadRowPolicy BadRows { get; init; } = BadRowPolicy.Reject;

    /// <summary>What to do with values beyond float32's range (default: treat the row as bad).</summary>
    public OutOfRangePolicy OutOfRange { get; init; } = OutOfRangePolicy.BadRow;

    /// <summary>Keep only these feature columns, by name, in this order; null keeps all 115.</summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>Read at most this many data rows (after skipping bad ones); null reads all.</summary>
    public int? MaxRows { get; init; }
}

/// <summary>One N-BaIoT row: 115 (or the selected) features, the 0/1 label and the attack name.</summary>
/// <param name="Line">The 1-based line number in the file.</param>
/// <param name="Features">The feature values (a new array per row).</param>
/// <param name="Label">0 benign, 1 attack.</param>
/// <param name="Attack">The <c>attack</c> column (<c>benign</c>, <c>gafgyt_scan</c>, <c>mirai_udp</c>, ...).</param>
public sealed record NbaiotRow(long Line, float[] Features, float Label, string Attack);

/// <summary>
/// Streams N-BaIoT CSV files (plain or gzip) in the layout of <c>shared/data/nbaiot</c>: a header of the
/// 115 feature names then <c>label</c> and <c>attack</c>; one file per device (the natural partition).
/// </summary>
public static class NbaiotReader
{
    /// <summary>The number of N-BaIoT features.</summary>
    public const int FeatureCount = 115;

    /// <summary>Streams the rows of one file. Bad rows throw or are reported through <paramref name="skipped"/> by policy.</summary>
    /// <exception cref="DataFormatException">The header is not the N-BaIoT layout, or a row is bad under <see cref="BadRowPolicy.Reject"/>.</exception>
    public static IEnumerable<NbaiotRow> ReadRows(string path, NbaiotReadOptions? options = null, ICollection<BadRow>? skipped = null)
    {
        options ??= new NbaiotReadOptions();
        return ReadRowsCore(path, options, skipped, new long[1]);
    }

    /// <summary>Reads one device file into a data set (class names from the <c>attack</c> column).</summary>
    /// <exception cref="DataFormatException">See <see cref="ReadRows"/>.</exception>
    public static TabularReadResult ReadFile(string path, NbaiotReadOptions? options = null)
    {
        options ??= new NbaiotReadOptions();
        var skipped = new List<BadRow>();
        var clamped = new long[1];
        var features = new List<float>();
        var labels = new List<float>();
        var names = new List<string>();
        string[]? featureNames = null;
        foreach (NbaiotRow row in ReadRowsCore(path, options, skipped, clamped, n => featureNames = n))
        {
            features.AddRange(row.Features);
            labels.Add(row.Label);
            names.Add(row.Attack);
        }

        featureNames ??= ReadHeaderNames(path, options);
        return new TabularReadResult
        {
            Data = new Dataset(features.ToArray(), labels.ToArray(), featureNames.Length, featureNames, names),
            SkippedRows = skipped,
            ClampedValues = clamped[0],
        };
    }

    /// <summary>
    /// Reads every <c>*.csv</c> / <c>*.csv.gz</c> file of a folder, one partition per device (named after the
    /// file without extensions), in ordinal name order: the natural federated partition.
    /// </summary>
    public static IReadOnlyList<DataPartition> ReadDirectory(string directory, NbaiotReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var files = Directory.GetFiles(directory)
            .Where(f => f.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".csv.gz", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new DataFormatException(directory, 0, "no .csv or .csv.gz files in the folder");
        }

        return files.Select(f => new DataPartition(DeviceName(f), ReadFile(f, options).Data)).ToList();
    }

    /// <summary>The device name of a file: its name without <c>.csv</c> / <c>.csv.gz</c>.</summary>
    public static string DeviceName(string path)
    {
        string name = Path.GetFileName(path);
        foreach (string ext in new[] { ".csv.gz", ".tsv.gz", ".csv", ".tsv", ".gz" })
        {
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase))
            {
                return name[..^ext.Length];
            }
        }

        return name;
    }

    private static string[] ReadHeaderNames(string path, NbaiotReadOptions options)
    {
        using StreamReader reader = TextLines.Open(path);
        string header = reader.ReadLine() ?? throw new DataFormatException(path, 1, "the file is empty; expected the N-BaIoT header");
        int[] selected = ParseHeader(path, header, options, out string[] names);
        return selected.Select(i => names[i]).ToArray();
    }

    private static int[] ParseHeader(string path, string header, NbaiotReadOptions options, out string[] names)
    {
        names = header.Split(',');
        if (names.Length != FeatureCount + 2 || names[FeatureCount] != "label" || names[FeatureCount + 1] != "attack")
        {
            throw new DataFormatException(path, 1, $"expected the N-BaIoT header (115 features, 'label', 'attack') but found {names.Length} columns ending in '{names[^1]}'");
        }

        if (options.Features is null)
        {
            return Enumerable.Range(0, FeatureCount).ToArray();
        }

        var index = new int[options.Features.Count];
        for (int i = 0; i < index.Length; i++)
        {
            index[i] = Array.IndexOf(names, options.Features[i], 0, FeatureCount);
            if (index[i] < 0)
            {
                throw new DataFormatException(path, 1, $"feature '{options.Features[i]}' is not an N-BaIoT column");
            }
        }

        return index;
    }

    private static IEnumerable<NbaiotRow> ReadRowsCore(string path, NbaiotReadOptions options, ICollection<BadRow>? skipped, long[] clamped, Action<string[]>? onHeader = null)
    {
        using StreamReader reader = TextLines.Open(path);
        string header = reader.ReadLine() ?? throw new DataFormatException(path, 1, "the file is empty; expected the N-BaIoT header");
        int[] selected = ParseHeader(path, header, options, out string[] names);
        onHeader?.Invoke(selected.Select(i => names[i]).ToArray());
        var all = new float[FeatureCount];
        var ranges = new Range[FeatureCount + 3];
        long line = 1;
        int produced = 0;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            if (options.MaxRows is int max && produced >= max)
            {
                yield break;
            }

            if (text.Length == 0)
            {
                continue;
            }

            string? reason = ParseRow(text, ranges, all, options.OutOfRange, ref clamped[0], out float label, out string attack);
            if (reason is not null)
            {
                if (options.BadRows == BadRowPolicy.Reject)
                {
                    throw new DataFormatException(path, line, reason);
                }

                skipped?.Add(new BadRow(path, line, reason));
                continue;
            }

            var features = new float[selected.Length];
            for (int i = 0; i < selected.Length; i++)
            {
                features[i] = all[selected[i]];
            }

            produced++;
            yield return new NbaiotRow(line, features, label, attack);
        }
    }

    private static string? ParseRow(string text, Span<Range> ranges, float[] values, OutOfRangePolicy outOfRange, ref long clamped, out float label, out string attack)
    {
        label = 0;
        attack = string.Empty;
        ReadOnlySpan<char> span = text.AsSpan().TrimEnd('\r');
        int count = span.Split(ranges, ',');
        if (count != FeatureCount + 2)
        {
            return $"{(count > FeatureCount + 2 ? "more than " + (FeatureCount + 2).ToString(CultureInfo.InvariantCulture) : count.ToString(CultureInfo.InvariantCulture))} fields; expected {FeatureCount + 2}";
        }

        for (int i = 0; i < FeatureCount; i++)
        {
            string? reason = NumberCell.TryParse(span[ranges[i]], outOfRange, out values[i], ref clamped);
            if (reason is not null)
            {
                return $"column {i + 1}: {reason}";
            }
        }

        ReadOnlySpan<char> labelText = span[ranges[FeatureCount]].Trim();
        if (labelText.SequenceEqual("0") || labelText.SequenceEqual("0.0"))
        {
            label = 0;
        }
        else if (labelText.SequenceEqual("1") || labelText.SequenceEqual("1.0"))
        {
            label = 1;
        }
        else
        {
            return $"label '{NumberCell.Shorten(labelText)}' is not 0 or 1";
        }

        attack = span[ranges[FeatureCount + 1]].Trim().ToString();
        if (attack.Length == 0)
        {
            return "empty attack column";
        }

        return null;
    }
}
