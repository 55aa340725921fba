using System.Globalization;

namespace FedEdge.Data;

/// <summary>
/// Streams labelled tabular text files (CSV, TSV; plain or gzip) into a <see cref="Dataset"/>: chosen feature columns
/// with numeric, boolean, time-of-day and one-hot/ordinal categorical encodings, trimming, explicit missing values,
/// and bad rows reported with file and line. Reads TON_IoT (<see cref="TabularReadOptions.TonIot"/>) and IoT-23
/// (<see cref="TabularReadOptions.Iot23"/>).
/// </summary>
public static class TabularReader
{
    private const string OtherCategory = "<other>";

    /// <summary>Reads one file.</summary>
    /// <exception cref="DataFormatException">The header lacks a needed column, or a row is bad under <see cref="BadRowPolicy.Reject"/>.</exception>
    public static TabularReadResult ReadFile(string path, TabularReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using StreamReader reader = TextLines.Open(path);
        string header = reader.ReadLine() ?? throw new DataFormatException(path, 1, "the file is empty; expected a header line");
        string[] names = SplitFields(header.TrimEnd('\r'), options).Select(n => n.Trim()).Select(n => options.ColumnAliases.TryGetValue(n, out string? a) ? a : n).ToArray();
        Plan plan = BuildPlan(path, names, options);

        var features = new List<float>();
        var labels = new List<float>();
        var classes = plan.ClassIndex >= 0 ? new List<string>() : null;
        var skipped = new List<BadRow>();
        long clamped = 0;
        var row = new float[plan.Width];
        long line = 1;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            if (text.Length == 0 || (line > 1 && text.StartsWith('#')))
            {
                continue;
            }

            string[] fields = SplitFields(text.TrimEnd('\r'), options);
            string? reason = fields.Length != names.Length
                ? $"{fields.Length} fields; the header has {names.Length}"
                : ParseRow(fields, plan, options, row, ref clamped, out float label);
            if (reason is not null)
            {
                if (options.BadRows == BadRowPolicy.Reject)
                {
                    throw new DataFormatException(path, line, reason);
                }

                skipped.Add(new BadRow(path, line, reason));
                continue;
            }

            ParseLabel(fields[plan.LabelIndex], options, out label);
            features.AddRange(row);
            labels.Add(label);
            classes?.Add(Clean(fields[plan.ClassIndex], options));
        }

        return new TabularReadResult
        {
            Data = new Dataset(features.ToArray(), labels.ToArray(), plan.Width, plan.FeatureNames, classes),
            SkippedRows = skipped,
            ClampedValues = clamped,
        };
    }

    /// <summary>Reads every file of a folder whose name ends with <paramref name="suffix"/>, one partition per file (natural partition), in ordinal name order.</summary>
    public static IReadOnlyList<DataPartition> ReadDirectory(string directory, string suffix, TabularReadOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(suffix);
        var files = Directory.GetFiles(directory).Where(f => f.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new DataFormatException(directory, 0, $"no files ending in '{suffix}'");
        }

        return files.Select(f => new DataPartition(NbaiotReader.DeviceName(f), ReadFile(f, options).Data)).ToList();
    }

    private static string[] SplitFields(string line, TabularReadOptions options)
    {
        string[] fields = line.Split(options.Delimiter);
        if (options.SubFieldSeparator is not { Length: > 0 } sub || !fields.Any(f => f.Contains(sub, StringComparison.Ordinal)))
        {
            return fields;
        }

        return fields.SelectMany(f => f.Split(sub)).ToArray();
    }

    private static string Clean(string field, TabularReadOptions options) => options.Trim ? field.Trim() : field;

    private static Plan BuildPlan(string path, string[] names, TabularReadOptions options)
    {
        int Find(string name, string role)
        {
            int index = Array.IndexOf(names, name);
            return index >= 0 ? index : throw new DataFormatException(path, 1, $"the {role} column '{name}' is not in the header ({string.Join(", ", names)})");
        }

        int labelIndex = Find(options.LabelColumn, "label");
        int classIndex = options.ClassColumn is null ? -1 : Find(options.ClassColumn, "class");
        IReadOnlyList<ColumnSpec> specs = options.Features ?? names
            .Where(n => n != options.LabelColumn && n != options.ClassColumn && !options.IgnoredColumns.Contains(n))
            .Select(n => options.KnownColumns.TryGetValue(n, out ColumnSpec? known) ? known : new ColumnSpec(n))
            .ToList();
        if (specs.Count == 0)
        {
            throw new DataFormatException(path, 1, "no feature columns remain after removing the label, class and ignored columns");
        }

        var columns = new List<PlannedColumn>();
        var featureNames = new List<string>();
        bool indicators = options.Missing == MissingValuePolicy.FillWithIndicator;
        foreach (ColumnSpec spec in specs)
        {
            if (options.IgnoredColumns.Contains(spec.Name))
            {
                throw new DataFormatException(path, 1, $"column '{spec.Name}' is both a feature and ignored");
            }

            int index = Find(spec.Name, "feature");
            int offset = featureNames.Count;
            if (spec.Kind == ColumnKind.Categorical)
            {
                if (spec.Encoding == CategoricalEncoding.OneHot)
                {
                    featureNames.AddRange(spec.Categories!.Select(c => spec.Name + "=" + c));
                    if (spec.AllowOther)
                    {
                        featureNames.Add(spec.Name + "=" + OtherCategory);
                    }
                }
                else
                {
                    featureNames.Add(spec.Name);
                }

                columns.Add(new PlannedColumn(index, spec, offset, -1));
            }
            else
            {
                featureNames.Add(spec.Name);
                int indicator = -1;
                if (indicators)
                {
                    indicator = featureNames.Count;
                    featureNames.Add(spec.Name + ".missing");
                }

                columns.Add(new PlannedColumn(index, spec, offset, indicator));
            }
        }

        return new Plan(labelIndex, classIndex, columns, featureNames);
    }

    private static string? ParseRow(string[] fields, Plan plan, TabularReadOptions options, float[] row, ref long clamped, out float label)
    {
        Array.Clear(row);
        string? labelReason = ParseLabel(fields[plan.LabelIndex], options, out label);
        if (labelReason is not null)
        {
            return labelReason;
        }

        if (plan.ClassIndex >= 0 && Clean(fields[plan.ClassIndex], options).Length == 0)
        {
            return $"empty class column '{options.ClassColumn}'";
        }

        foreach (PlannedColumn column in plan.Columns)
        {
            string text = Clean(fields[column.Index], options);
            ColumnSpec spec = column.Spec;
            if (spec.Kind == ColumnKind.Categorical)
            {
                int category = IndexOfCategory(spec.Categories!, text);
                if (category < 0)
                {
                    if (!spec.AllowOther)
                    {
                        return $"column '{spec.Name}': '{NumberCell.Shorten(text)}' is not one of {string.Join("/", spec.Categories!)}";
                    }

                    category = spec.Categories!.Count;
                }

                if (spec.Encoding == CategoricalEncoding.OneHot)
                {
                    row[column.Offset + category] = 1f;
                }
                else
                {
                    row[column.Offset] = category;
                }

                continue;
            }

            if (options.MissingMarkers.Contains(text) || text.Length == 0)
            {
                if (options.Missing == MissingValuePolicy.BadRow)
                {
                    return $"column '{spec.Name}': missing value '{text}'";
                }

                row[column.Offset] = options.MissingFill;
                row[column.Indicator] = 1f;
                continue;
            }

            string? reason;
            float value;
            switch (spec.Kind)
            {
                case ColumnKind.Boolean:
                    reason = ParseBoolean(text, out value);
                    break;
                case ColumnKind.TimeOfDay:
                    reason = ParseTimeOfDay(text, out value);
                    break;
                default:
                    reason = NumberCell.TryParse(text, options.OutOfRange, out value, ref clamped);
                    break;
            }

            if (reason is not null)
            {
                return $"column '{spec.Name}': {reason}";
            }

            row[column.Offset] = value;
        }

        return null;
    }

    private static string? ParseLabel(string field, TabularReadOptions options, out float label)
    {
        label = 0;
        string text = Clean(field, options);
        if (options.PositiveLabels is not null)
        {
            if (options.PositiveLabels.Any(p => string.Equals(p, text, StringComparison.OrdinalIgnoreCase)))
            {
                label = 1;
                return null;
            }

            if (options.NegativeLabels!.Any(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase)))
            {
                return null;
            }

            return $"label '{NumberCell.Shorten(text)}' is neither {string.Join("/", options.PositiveLabels)} nor {string.Join("/", options.NegativeLabels!)}";
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && (v == 0 || v == 1))
        {
            label = (float)v;
            return null;
        }

        return $"label '{NumberCell.Shorten(text)}' is not 0 or 1";
    }

    private static int IndexOfCategory(IReadOnlyList<string> categories, string text)
    {
        for (int i = 0; i < categories.Count; i++)
        {
            if (string.Equals(categories[i], text, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    private static string? ParseBoolean(string text, out float value)
    {
        switch (text.ToUpperInvariant())
        {
            case "TRUE" or "1" or "ON" or "YES":
                value = 1;
                return null;
            case "FALSE" or "0" or "OFF" or "NO":
                value = 0;
                return null;
            default:
                value = 0;
                return $"'{NumberCell.Shorten(text)}' is not a boolean";
        }
    }

    private static string? ParseTimeOfDay(string text, out float value)
    {
        value = 0;
        string[] parts = text.Split(':');
        if (parts.Length != 3
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int m)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int s)
            || h > 23 || m > 59 || s > 59)
        {
            return $"'{NumberCell.Shorten(text)}' is not a time H:MM:SS";
        }

        value = (h * 3600) + (m * 60) + s;
        return null;
    }

    private sealed record PlannedColumn(int Index, ColumnSpec Spec, int Offset, int Indicator);

    private sealed record Plan(int LabelIndex, int ClassIndex, IReadOnlyList<PlannedColumn> Columns, IReadOnlyList<string> FeatureNames)
    {
        public int Width => FeatureNames.Count;
    }
}
