namespace FedEdge.Data;

/// <summary>What a reader does with a row it cannot use (wrong field count, non-numeric, NaN, out of range, unknown label).</summary>
public enum BadRowPolicy
{
    /// <summary>Stop at the first bad row with a <see cref="DataFormatException"/> naming file and line.</summary>
    Reject = 0,

    /// <summary>Leave the row out and record it in <see cref="TabularReadResult.SkippedRows"/> (file, line, reason).</summary>
    Skip = 1,
}

/// <summary>What a reader does with a numeric value whose magnitude exceeds float32's range (about 3.4e38).</summary>
public enum OutOfRangePolicy
{
    /// <summary>Treat the row as bad (then <see cref="BadRowPolicy"/> decides).</summary>
    BadRow = 0,

    /// <summary>Clamp to ±<see cref="float.MaxValue"/> and count it in <see cref="TabularReadResult.ClampedValues"/>.</summary>
    Clamp = 1,
}

/// <summary>One row a reader left out, and why.</summary>
/// <param name="File">The file (path as given).</param>
/// <param name="Line">The 1-based line number in the (decompressed) text.</param>
/// <param name="Reason">What was wrong.</param>
public sealed record BadRow(string File, long Line, string Reason)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}: {Reason}";
}

/// <summary>A data file could not be read: names the file, the 1-based line (0 for the file as a whole) and the problem.</summary>
public sealed class DataFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public DataFormatException(string file, long line, string reason)
        : base(line > 0 ? $"{file}:{line}: {reason}" : $"{file}: {reason}")
    {
        File = file;
        Line = line;
        Reason = reason;
    }

    /// <summary>Creates the exception (for serialisers and analyzers).</summary>
    public DataFormatException()
        : this(string.Empty, 0, "Bad data.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public DataFormatException(string message)
        : this(string.Empty, 0, message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public DataFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = string.Empty;
        Reason = message;
    }

    /// <summary>The file.</summary>
    public string File { get; }

    /// <summary>The 1-based line, or 0 when the problem concerns the whole file.</summary>
    public long Line { get; }

    /// <summary>What was wrong.</summary>
    public string Reason { get; }
}

/// <summary>A data set read from a file, with the rows that were left out and the values that were clamped.</summary>
public sealed record TabularReadResult
{
    /// <summary>The rows read.</summary>
    public required Dataset Data { get; init; }

    /// <summary>Rows skipped under <see cref="BadRowPolicy.Skip"/>, with file, line and reason.</summary>
    public IReadOnlyList<BadRow> SkippedRows { get; init; } = [];

    /// <summary>Values clamped to float32's range under <see cref="OutOfRangePolicy.Clamp"/>.</summary>
    public long ClampedValues { get; init; }
}
