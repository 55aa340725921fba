namespace FedEdge.Data;

/// <summary>
/// An in-memory tabular data set: float32 features in row-major order and one float32 target per row
/// (a class label 0/1 for classifiers), optionally with the original attack / class name per row.
/// </summary>
public sealed class Dataset
{
    private readonly float[] _features;
    private readonly float[] _labels;

    /// <summary>Creates a data set that takes ownership of the arrays.</summary>
    /// <exception cref="ArgumentException">The lengths disagree.</exception>
    public Dataset(float[] features, float[] labels, int featureCount, IReadOnlyList<string>? featureNames = null, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        if (features.Length != (long)labels.Length * featureCount)
        {
            throw new ArgumentException($"{features.Length} feature values do not make {labels.Length} rows of {featureCount} features.", nameof(features));
        }

        if (featureNames is not null && featureNames.Count != featureCount)
        {
            throw new ArgumentException($"{featureNames.Count} feature names for {featureCount} features.", nameof(featureNames));
        }

        if (classNames is not null && classNames.Count != labels.Length)
        {
            throw new ArgumentException($"{classNames.Count} class names for {labels.Length} rows.", nameof(classNames));
        }

        _features = features;
        _labels = labels;
        FeatureCount = featureCount;
        FeatureNames = featureNames ?? Enumerable.Range(0, featureCount).Select(i => "f" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        ClassNames = classNames;
    }

    /// <summary>The number of rows.</summary>
    public int Count => _labels.Length;

    /// <summary>The number of features per row.</summary>
    public int FeatureCount { get; }

    /// <summary>The feature (column) names.</summary>
    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>The original class name of each row (e.g. N-BaIoT's <c>attack</c> column), when known.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>All features, row-major.</summary>
    public ReadOnlySpan<float> Features => _features;

    /// <summary>All labels.</summary>
    public ReadOnlySpan<float> Labels => _labels;

    /// <summary>The features of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<float> Row(int row) => _features.AsSpan(row * FeatureCount, FeatureCount);

    /// <summary>A new data set with the rows at <paramref name="indices"/>, in that order.</summary>
    public Dataset Select(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var features = new float[indices.Count * FeatureCount];
        var labels = new float[indices.Count];
        string[]? names = ClassNames is null ? null : new string[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            int row = indices[i];
            Row(row).CopyTo(features.AsSpan(i * FeatureCount, FeatureCount));
            labels[i] = _labels[row];
            if (names is not null)
            {
                names[i] = ClassNames![row];
            }
        }

        return new Dataset(features, labels, FeatureCount, FeatureNames, names);
    }

    /// <summary>Concatenates data sets with the same features.</summary>
    public static Dataset Concat(IReadOnlyList<Dataset> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("Nothing to concatenate.", nameof(parts));
        }

        int featureCount = parts[0].FeatureCount;
        if (parts.Any(p => p.FeatureCount != featureCount))
        {
            throw new ArgumentException("The data sets have different feature counts.", nameof(parts));
        }

        var features = new float[parts.Sum(p => p._features.Length)];
        var labels = new float[parts.Sum(p => p.Count)];
        bool withNames = parts.All(p => p.ClassNames is not null);
        var names = withNames ? new List<string>(labels.Length) : null;
        int f = 0, l = 0;
        foreach (Dataset part in parts)
        {
            part._features.CopyTo(features, f);
            part._labels.CopyTo(labels, l);
            f += part._features.Length;
            l += part.Count;
            names?.AddRange(part.ClassNames!);
        }

        return new Dataset(features, labels, featureCount, parts[0].FeatureNames, names);
    }

    /// <summary>A new data set with only the feature columns named in <paramref name="featureNames"/>, in that order.</summary>
    /// <exception cref="ArgumentException">A name is not a feature of this data set.</exception>
    public Dataset SelectFeatures(IReadOnlyList<string> featureNames)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        if (featureNames.Count == 0)
        {
            throw new ArgumentException("Select at least one feature.", nameof(featureNames));
        }

        var columns = new int[featureNames.Count];
        for (int i = 0; i < columns.Length; i++)
        {
            columns[i] = FeatureNames.ToList().IndexOf(featureNames[i]);
            if (columns[i] < 0)
            {
                throw new ArgumentException($"'{featureNames[i]}' is not a feature of this data set.", nameof(featureNames));
            }
        }

        var features = new float[Count * columns.Length];
        for (int r = 0; r < Count; r++)
        {
            ReadOnlySpan<float> row = Row(r);
            for (int c = 0; c < columns.Length; c++)
            {
                features[(r * columns.Length) + c] = row[columns[c]];
            }
        }

        return new Dataset(features, (float[])_labels.Clone(), columns.Length, featureNames.ToArray(), ClassNames);
    }

    /// <summary>The indices of the rows whose label equals <paramref name="label"/>.</summary>
    public IReadOnlyList<int> IndicesWithLabel(float label)
    {
        var list = new List<int>();
        for (int i = 0; i < _labels.Length; i++)
        {
            if (_labels[i] == label)
            {
                list.Add(i);
            }
        }

        return list;
    }
}
